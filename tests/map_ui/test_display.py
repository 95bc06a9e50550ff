"""The operations display in Debian's Chromium against a real server (uvicorn + PostgreSQL).

One browser for the module; every test gets a fresh database schema and server. Screenshots go
to artifacts/screenshots/.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser

from tests.map_ui.browser import ServerThread, chromium, incident, open_display

KOBLENZ = (7.5886, 50.3569)
MAINZ = (8.2473, 49.9929)
TRIER = (6.6414, 49.7596)

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


@pytest.fixture
def server(pg_fresh_url: str) -> Iterator[ServerThread]:
    server = ServerThread(pg_fresh_url).start()
    try:
        yield server
    finally:
        server.stop()


def incident_of(page: Any, thread: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = page.evaluate(
        "(thread) => [...window.__lz.shown.incidents.values()]"
        ".find((i) => i.threads.includes(thread)) ?? null",
        thread,
    )
    return found


def wait_until(predicate: Any, timeout: float, what: str) -> float:
    """Seconds until ``predicate()`` held (polled); fails after ``timeout``."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.02)
    raise AssertionError(f"{what} not within {timeout} s")


def test_page_loads_offline_with_outlines_and_no_errors(
    browser: Browser, server: ServerThread
) -> None:
    server.post(
        incident("fire-1", *KOBLENZ, severity="severe"),
        incident("pol-1", KOBLENZ[0] + 0.0005, KOBLENZ[1], source="police"),
        incident("acc-1", *MAINZ, source="police", category="accident.traffic"),
        incident("med-1", *TRIER, source="health", category="medical.emergency"),
    )
    watched = open_display(browser, server.url)
    page = watched.page
    page.wait_for_function("() => window.__lz.map.markers.size === 3")
    # the bundled outlines are drawn (36 districts) although no tile server is configured
    assert page.evaluate("() => window.__lz.map.districtLayers.size") == 36
    assert page.locator(".leaflet-tile").count() == 0
    assert page.locator("#incident-list > li").count() == 3
    assert page.locator("#connection.state-live").count() == 1
    page.wait_for_timeout(300)
    watched.screenshot("display_overview")
    page.locator('[data-tab="districts"]').click()
    assert page.locator("#district-list > li").count() == 36
    page.locator('[data-tab="overview"]').click()
    page.wait_for_function("() => document.querySelectorAll('#chart-incidents canvas').length > 0")
    watched.screenshot("display_charts")
    assert watched.errors == []
    assert watched.foreign_requests(server.url) == []
    assert any("/assets/vendor/leaflet/leaflet.js" in url for url in watched.requests)
    assert any("/api/v1/situation/stream" in url for url in watched.requests)


def test_incident_appears_within_one_second_and_cancel_removes_it(
    browser: Browser, server: ServerThread
) -> None:
    watched = open_display(browser, server.url)
    page = watched.page
    report = incident("live-1", *MAINZ, severity="extreme", headline="Großbrand Lagerhalle")
    server.post(report)
    took = wait_until(lambda: incident_of(page, "fire:live-1") is not None, 1.0, "incident")
    found = incident_of(page, "fire:live-1")
    assert found is not None
    marker = page.locator(f'.lz-marker[data-id="{found["id"]}"]')
    list_row = page.locator(f'#incident-list > li[data-id="{found["id"]}"]')
    wait_until(lambda: marker.count() == 1 and list_row.count() == 1, 1.0 - took, "map and list")
    assert "Großbrand Lagerhalle" in list_row.inner_text()
    # a new extreme incident is highlighted until acknowledged
    assert page.locator(f'.lz-marker.alerting[data-id="{found["id"]}"]').count() == 1
    alert = page.locator("#alerts .alert-item", has_text="Großbrand Lagerhalle")
    assert alert.count() == 1
    assert "Neuer Einsatz (extrem)" in alert.inner_text()
    watched.screenshot("display_new_extreme_incident")
    alert.locator("button").click()
    assert page.locator("#alerts .alert-item", has_text="Großbrand Lagerhalle").count() == 0
    assert page.locator(".lz-marker.alerting").count() == 0

    list_row.click()
    page.locator("#detail .report").first.wait_for()
    assert "Großbrand Lagerhalle" in page.locator("#detail").inner_text()

    server.post({**report, "sequence": 2, "msg_type": "cancel"})
    wait_until(lambda: incident_of(page, "fire:live-1") is None, 1.0, "cancel")
    wait_until(lambda: marker.count() == 0 and list_row.count() == 0, 1.0, "marker removed")
    assert watched.errors == []


def test_headline_with_html_is_shown_as_text(browser: Browser, server: ServerThread) -> None:
    hostile = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script><b>fett</b>'
    server.post(incident("xss-1", *TRIER, headline=hostile, description=hostile))
    watched = open_display(browser, server.url)
    page = watched.page
    row = page.locator("#incident-list > li").first
    row.wait_for()
    assert hostile in row.inner_text()
    row.click()
    page.locator("#detail .report").first.wait_for()
    assert hostile in page.locator("#detail .report").first.inner_text()
    page.wait_for_timeout(200)
    assert page.evaluate("() => window.__pwned") is None
    assert page.locator("#panel img, #panel script, #panel b").count() == 0
    marker_title = page.locator(".lz-marker").first.get_attribute("title")
    assert marker_title == hostile
    watched.screenshot("display_hostile_headline")
    assert watched.errors == []
    assert watched.foreign_requests(server.url) == []


def test_reconnects_after_server_restart_with_the_same_picture(
    browser: Browser, pg_fresh_url: str
) -> None:
    first = ServerThread(pg_fresh_url).start()
    try:
        first.post(incident("r-1", *KOBLENZ), incident("r-2", *MAINZ, severity="severe"))
        watched = open_display(browser, first.url)
        page = watched.page
        page.wait_for_function("() => window.__lz.map.markers.size === 2")
    finally:
        first.stop()
    page.wait_for_function("() => window.__lz.connection === 'offline'", timeout=10_000)
    assert page.locator("#connection.state-offline").count() == 1
    watched.screenshot("display_offline")
    second = ServerThread(pg_fresh_url, port=first.port).start()
    try:
        page.wait_for_function("() => window.__lz.connection === 'live'", timeout=15_000)
        second.post(incident("r-3", *TRIER, severity="minor"))
        page.wait_for_function("() => window.__lz.map.markers.size === 3", timeout=5_000)
        expected = second.picture()
        shown = page.evaluate(
            "() => ({seq: window.__lz.live.seq, ids: [...window.__lz.live.incidents.keys()].sort(),"
            " warnings: window.__lz.live.warnings.size})"
        )
        assert shown["ids"] == sorted(i["id"] for i in expected["incidents"])
        assert shown["seq"] == expected["seq"]
        assert page.locator("#incident-list > li").count() == 3
    finally:
        second.stop()
    # the websocket errors of the outage are the browser's own network log, not the page's
    assert [e for e in watched.errors if "WebSocket" not in e and "ERR_CONNECTION" not in e] == []


def test_time_slider_shows_an_earlier_picture(browser: Browser, server: ServerThread) -> None:
    now = datetime.now(UTC)
    server.post(incident("early-1", *KOBLENZ, observed_at=now - timedelta(minutes=40)))
    server.post(incident("late-1", *TRIER, observed_at=now))
    watched = open_display(browser, server.url, "?lang=en")
    page = watched.page
    page.wait_for_function("() => window.__lz.map.markers.size === 2")
    # 20 minutes ago: the early incident existed, the late one not yet
    page.locator("#film-range").fill(str(24 * 60 - 20))
    page.wait_for_function("() => window.__lz.shown !== window.__lz.live")
    page.wait_for_function("() => window.__lz.map.markers.size === 1")
    assert incident_of(page, "fire:early-1") is not None
    assert incident_of(page, "fire:late-1") is None
    assert page.locator("#history-banner").is_visible()
    assert "Replay" in page.locator("#history-banner").inner_text()
    watched.screenshot("display_time_slider")
    # an hour ago: nothing yet
    page.locator("#film-range").fill(str(24 * 60 - 60))
    page.wait_for_function("() => window.__lz.map.markers.size === 0")
    page.locator("#film-live").click()
    page.wait_for_function("() => window.__lz.map.markers.size === 2")
    assert page.locator("#history-banner").is_hidden()
    assert watched.errors == []


def test_kiosk_mode_german_and_english(browser: Browser, server: ServerThread) -> None:
    server.post(incident("k-1", *KOBLENZ, severity="severe"))
    watched = open_display(browser, server.url, "?kiosk=1")
    page = watched.page
    assert page.evaluate("() => document.body.classList.contains('kiosk')")
    assert page.locator("#film").is_hidden()
    assert page.locator('[data-tab="incidents"]').inner_text() == "Einsätze"
    watched.screenshot("display_kiosk")
    watched.page.close()
    english = open_display(browser, server.url, "?lang=en")
    assert english.page.locator('[data-tab="incidents"]').inner_text() == "Incidents"
    english.page.locator("#lang-toggle").click()
    assert english.page.locator('[data-tab="incidents"]').inner_text() == "Einsätze"
    assert watched.errors == []
    assert english.errors == []


def test_display_assets_and_outlines_are_served_locally(server: ServerThread) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        page = http.get("/")
        assert page.status_code == 200
        assert "text/html" in page.headers["content-type"]
        districts = http.get("/api/v1/geo/districts")
        assert districts.status_code == 200
        features = districts.json()["features"]
        assert len(features) == 36
        assert {"ags", "name"} <= features[0]["properties"].keys()
        assert districts.headers["content-encoding"] == "gzip"
        etag = districts.headers["etag"]
        again = http.get("/api/v1/geo/districts", headers={"If-None-Match": etag})
        assert again.status_code == 304
        municipalities = http.get("/api/v1/geo/municipalities").json()["features"]
        assert len(municipalities) > 2000
        assert all(f["properties"]["ags"].startswith("07") for f in municipalities)
        config = http.get("/api/v1/ui/config").json()
        assert config["tile_url"] is None
        for asset in (
            "/assets/vendor/leaflet/leaflet.js",
            "/assets/vendor/markercluster/leaflet.markercluster.js",
            "/assets/vendor/uplot/uPlot.esm.js",
            "/assets/vendor/symbols/tactical-symbols.js",
            "/assets/app/js/main.js",
        ):
            response = http.get(asset)
            assert response.status_code == 200, asset
            assert "javascript" in response.headers["content-type"], asset
        assert http.get("/assets/vendor/leaflet/../../../../pyproject.toml").status_code == 404
