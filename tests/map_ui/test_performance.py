"""The display with 5,000 incidents and 200 warnings: everything rendered (cluster counts sum to
5,000), and the figures recorded (time to render, frame times while panning). No tight timing
assertions here: the numbers go to artifacts/perf/map_ui.json and the test output."""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser

from ingest.districts import rlp_districts
from tests.map_ui.browser import SCREENSHOTS, ServerThread, chromium, open_display

INCIDENTS = 5_000
WARNINGS = 200
SCENE = ("fire.building", "accident.traffic", "medical.emergency", "rescue.technical",
         "hazmat.gas_leak")  # fmt: skip
SEVERITIES = ("minor", "moderate", "severe", "extreme")

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


def spread_points(count: int, rng: random.Random) -> list[tuple[float, float]]:
    """``count`` points inside RLP on a ~2 km grid: far beyond the 250 m join radius of scene
    families, so every report opens its own incident."""
    districts = rlp_districts()
    points = [
        (round(6.1 + 0.026 * i, 5), round(48.95 + 0.018 * j, 5))
        for i in range(95)
        for j in range(112)
    ]
    inside = [p for p in points if districts.at(*p) is not None]
    assert len(inside) >= count
    return rng.sample(inside, count)


def reports(now: datetime) -> list[dict[str, Any]]:
    rng = random.Random(5)
    out: list[dict[str, Any]] = []
    for n, (lon, lat) in enumerate(spread_points(INCIDENTS, rng)):
        out.append(
            {
                "source": rng.choice(("fire", "police", "health")),
                "source_id": f"perf-{n}",
                "category": SCENE[n % len(SCENE)],
                "severity": rng.choice(SEVERITIES),
                "observed_at": (now - timedelta(seconds=rng.uniform(0, 600))).isoformat(),
                "geometry": {"type": "Point", "coordinates": [lon, lat]},
                "headline": f"Leistungstest {n}",
            }
        )
    for n in range(WARNINGS):
        lon, lat = rng.uniform(6.3, 8.3), rng.uniform(49.1, 50.8)
        rx, ry = rng.uniform(0.05, 0.25), rng.uniform(0.04, 0.15)
        ring = [
            [round(lon + rx * math.cos(a), 5), round(lat + ry * math.sin(a), 5)]
            for a in (k * math.tau / 32 for k in range(32))
        ]
        out.append(
            {
                "source": "weather",
                "source_id": f"perf-warning-{n}",
                "category": "weather.storm",
                "severity": rng.choice(SEVERITIES),
                "observed_at": now.isoformat(),
                "expires_at": (now + timedelta(hours=6)).isoformat(),
                "geometry": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
                "headline": f"Sturmwarnung {n}",
            }
        )
    return out


PAN_SCRIPT = """
async () => {
  const map = window.__lz.map.map;
  const frames = [];
  let last = performance.now();
  let running = true;
  const tick = (t) => {
    frames.push(t - last);
    last = t;
    if (running) requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
  const moves = [[300, 0], [0, 200], [-300, 0], [0, -200], [250, 150], [-250, -150]];
  for (const step of [...moves, ...moves]) {
    await new Promise((done) => { map.once('moveend', done); map.panBy(step, {duration: 0.3}); });
  }
  await new Promise((done) => { map.once('zoomend', done); map.zoomIn(1); });
  await new Promise((done) => { map.once('zoomend', done); map.zoomOut(1); });
  running = false;
  frames.sort((a, b) => a - b);
  const pick = (q) => frames[Math.min(frames.length - 1, Math.floor(q * frames.length))];
  return {frames: frames.length, p50: pick(0.5), p95: pick(0.95), max: frames[frames.length - 1]};
}
"""


def test_5000_incidents_and_200_warnings_render_completely(
    browser: Browser, pg_fresh_url: str
) -> None:
    server = ServerThread(pg_fresh_url).start()
    try:
        now = datetime.now(UTC)
        items = reports(now)
        with httpx.Client(base_url=server.url, timeout=120) as http:
            for start in range(0, len(items), 1_000):
                response = http.post("/api/v1/reports", json=items[start : start + 1_000])
                assert response.status_code == 202, response.text
                assert response.json().get("rejected") in (None, [])
            deadline = time.monotonic() + 60
            picture: dict[str, Any] = {}
            while time.monotonic() < deadline:
                picture = http.get("/api/v1/situation").json()
                if len(picture["incidents"]) == INCIDENTS and len(picture["warnings"]) == WARNINGS:
                    break
                time.sleep(0.2)
        assert len(picture["incidents"]) == INCIDENTS
        assert len(picture["warnings"]) == WARNINGS

        started = time.monotonic()
        watched = open_display(browser, server.url)
        page = watched.page
        page.wait_for_function(
            f"() => window.__lz.map.markers.size === {INCIDENTS}"
            f" && window.__lz.map.renderedCount() === {INCIDENTS}",
            timeout=60_000,
        )
        rendered_s = time.monotonic() - started
        counts = page.evaluate(
            """() => ({
              clusters: document.querySelectorAll('.lz-cluster').length,
              singles: document.querySelectorAll('.lz-marker').length,
              sum: window.__lz.map.renderedCount(),
              warnings: window.__lz.map.warningLayers.size,
              listed: document.querySelectorAll('#incident-list > li').length,
            })"""
        )
        assert counts["sum"] == INCIDENTS
        assert counts["warnings"] == WARNINGS
        assert counts["listed"] == 200  # the list shows the first rows only
        page.wait_for_timeout(300)
        watched.screenshot("display_5000_incidents")
        pan = page.evaluate(PAN_SCRIPT)
        watched.screenshot("display_5000_incidents_zoomed")
        # a live change with 5,000 on the map still arrives at once
        server.post(
            {**items[0], "sequence": 2, "msg_type": "cancel", "observed_at": now.isoformat()}
        )
        started = time.monotonic()
        page.wait_for_function(f"() => window.__lz.map.markers.size === {INCIDENTS - 1}")
        delta_s = time.monotonic() - started
        assert watched.errors == []
        assert watched.foreign_requests(server.url) == []
    finally:
        server.stop()
    figures = {
        "incidents": INCIDENTS,
        "warnings": WARNINGS,
        "page_load_to_all_rendered_s": round(rendered_s, 3),
        "clusters_on_screen": counts["clusters"],
        "single_markers_on_screen": counts["singles"],
        "pan_zoom_frames": pan["frames"],
        "frame_ms_p50": round(pan["p50"], 1),
        "frame_ms_p95": round(pan["p95"], 1),
        "frame_ms_max": round(pan["max"], 1),
        "cancel_to_marker_removed_s": round(delta_s, 3),
    }
    out = SCREENSHOTS.parent / "perf" / "map_ui.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures))
    assert Path(out).is_file()
