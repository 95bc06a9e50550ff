"""The display with access control on: login form, token in sessionStorage, stream over the
bearer subprotocol, operator actions from the incident detail, the journal tab; no CSP
violation on the way."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from playwright.sync_api import Browser

from ingest.store import Database
from situation_api.auth.tokens import PostgresTokenStore
from tests.map_ui.browser import ServerThread, chromium, incident

KOBLENZ = (7.5886, 50.3569)
pytestmark = pytest.mark.timeout(120)


async def _tokens(url: str) -> dict[str, str]:
    db = await Database.connect(url, min_size=1, max_size=1)
    try:
        store = await PostgresTokenStore.open(db)
        return {
            role: (await store.create(role, [], f"UI {role}"))[1] for role in ("admin", "operator")
        }
    finally:
        await db.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


def test_login_then_act_and_see_the_journal(browser: Browser, pg_fresh_url: str) -> None:
    with ThreadPoolExecutor(1) as pool:  # Playwright's loop runs in this thread
        tokens = pool.submit(asyncio.run, _tokens(pg_fresh_url)).result()
    server = ServerThread(pg_fresh_url, auth=True).start()
    try:
        admin = {"Authorization": f"Bearer {tokens['admin']}"}
        posted = httpx.post(
            f"{server.url}/api/v1/reports", json=incident("UI-1", *KOBLENZ), headers=admin
        )
        assert posted.status_code == 202
        page = browser.new_context(viewport={"width": 1600, "height": 900}).new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
        page.goto(f"{server.url}/")
        page.wait_for_selector("#login")
        page.fill("#login-token", "lz_00000000_" + "A" * 43)
        page.click("#login button[type=submit]")
        page.wait_for_selector("text=Token unbekannt oder widerrufen")
        page.fill("#login-token", tokens["operator"])
        page.click("#login button[type=submit]")
        page.wait_for_function("() => window.__lz && window.__lz.snapshots > 0")
        assert page.evaluate("() => window.__lz.role") == "operator"
        assert page.evaluate("() => sessionStorage.getItem('lz.token')") == tokens["operator"]
        page.wait_for_selector("#incident-list li")
        page.click("#incident-list li")
        page.click("button[data-action=acknowledge]")
        page.wait_for_function(
            "() => [...window.__lz.live.incidents.values()].some((i) => i.acknowledged)"
        )
        page.click("#detail >> text=← Zurück")
        page.click("button[data-tab=journal]")
        page.wait_for_selector(".journal-entry >> text=Kenntnisnahme")
        assert "UI operator" in page.inner_text("#journal-list")
        # only the refused logins may show up as errors (the browser logs every 401)
        assert [e for e in errors if "401" not in e] == []
    finally:
        server.stop()
