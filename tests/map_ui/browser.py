"""Helpers of the display tests: a real server in a thread, Debian's Chromium through Playwright,
and a page that records every request and console error."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, sync_playwright

from tests.situation_api.live_server import live_server

CHROMIUM: Final = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium calls home; the closed network refuses that.
CHROMIUM_ARGS: Final = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS: Final = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
VIEWPORT: Final = {"width": 1600, "height": 900}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServerThread:
    """The real API (uvicorn, PostgreSQL) in its own thread and event loop, on a fixed port so a
    restarted server is found again by the page."""

    def __init__(self, database_url: str, port: int | None = None, **settings: Any) -> None:
        self.database_url = database_url
        self.port = port or free_port()
        self.settings = settings
        self.url = f"http://127.0.0.1:{self.port}"
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None

    async def _main(self) -> None:
        try:
            overrides = {"port": self.port, "heartbeat_seconds": 1.0, **self.settings}
            async with live_server(self.database_url, **overrides):
                self._loop = asyncio.get_running_loop()
                self._stop = asyncio.Event()
                self._ready.set()
                await self._stop.wait()
        except BaseException as error:
            self._error = error
            self._ready.set()
            raise

    def start(self) -> ServerThread:
        self._ready.clear()
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(),), daemon=True)
        self._thread.start()
        if not self._ready.wait(90) or self._error is not None:
            raise RuntimeError(f"test server did not start: {self._error!r}")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(60)
        self._loop = self._stop = None

    def post(self, *reports: dict[str, Any]) -> dict[str, Any]:
        body: Any = reports[0] if len(reports) == 1 else list(reports)
        response = httpx.post(f"{self.url}/api/v1/reports", json=body, timeout=60)
        assert response.status_code == 202, response.text
        result: dict[str, Any] = response.json()
        return result

    def picture(self) -> dict[str, Any]:
        response = httpx.get(f"{self.url}/api/v1/situation", timeout=30)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result


@contextmanager
def chromium() -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install chromium (Debian's)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Watched:
    """A page and what it did: every request URL, console errors and uncaught exceptions."""

    page: Page
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def foreign_requests(self, origin: str) -> list[str]:
        allowed = (f"{origin}/", origin.replace("http://", "ws://") + "/")
        return [url for url in self.requests if not url.startswith(allowed)]

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path


def open_display(browser: Browser, url: str, query: str = "") -> Watched:
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    page = context.new_page()
    watched = Watched(page)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            watched.errors.append(message.text)

    def on_request(request: Request) -> None:
        watched.requests.append(request.url)

    page.on("console", on_console)
    page.on("pageerror", lambda error: watched.errors.append(f"uncaught: {error}"))
    page.on("request", on_request)
    page.on("websocket", lambda ws: watched.requests.append(ws.url))
    page.goto(f"{url}/{query}")
    page.wait_for_function("() => window.__lz && window.__lz.outlines && window.__lz.snapshots > 0")
    return watched


def incident(
    source_id: str,
    lon: float,
    lat: float,
    *,
    source: str = "fire",
    category: str = "fire.building",
    severity: str = "moderate",
    sequence: int = 1,
    msg_type: str = "alert",
    observed_at: datetime | None = None,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "source": source,
        "source_id": source_id,
        "sequence": sequence,
        "msg_type": msg_type,
        "category": category,
        "severity": severity,
        "observed_at": (observed_at or datetime.now(UTC)).isoformat(),
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "headline": f"Einsatz {source_id}",
        **extra,
    }
