"""A local HTTP server for the poller tests: serves recorded payloads with real HTTP semantics.

Each route has a body, an ETag and a Last-Modified; the server answers conditional GETs with 304
and counts them, and can be told to fail the next N requests of a route (500 or 503 with a
``Retry-After``) or to trickle a body slowly. It runs ``http.server`` in a thread on 127.0.0.1
with a free port, so the pollers talk to it through a real socket.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest


@dataclass
class Route:
    body: bytes
    content_type: str = "application/xml"
    etag: str | None = None
    last_modified: str | None = None
    fail_next: int = 0
    fail_status: int = 500
    retry_after: str | None = None
    chunked: bool = False
    delay_seconds: float = 0.0
    honour_conditional: bool = True


@dataclass
class FeedServer:
    port: int = 0
    routes: dict[str, Route] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)
    conditional_hits: Counter[str] = field(default_factory=Counter)
    not_modified: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def serve(self, path: str, body: bytes, **options: object) -> str:
        """Publish ``body`` at ``path`` with a content-derived ETag; returns the URL."""
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        stamp = format_datetime(datetime(2023, 6, 23, 12, 0, tzinfo=UTC), usegmt=True)
        route = Route(body, etag=etag, last_modified=stamp)
        for key, value in options.items():
            setattr(route, key, value)
        with self.lock:
            self.routes[path] = route
        return self.url(path)

    def mowas_config(self, shared_data: Path, directory: Path) -> Path:
        """A feeds TOML with one NINA feed serving a real MoWaS morning (polled every minute)."""
        sample = "nina/mowas_legacy_2022/gefahrendurchsagen_2022-02-17_morning.json"
        url = self.serve(
            "/mowas.json", (shared_data / sample).read_bytes(), content_type="application/json"
        )
        config = directory / "feeds.toml"
        config.write_text(
            f'[[feed]]\nname = "mowas"\nkind = "nina"\nurl = "{url}"\ninterval_seconds = 60\n'
        )
        return config

    def replace(self, path: str, body: bytes) -> None:
        """New content at ``path``: new ETag and a later Last-Modified."""
        with self.lock:
            route = self.routes[path]
            route.body = body
            route.etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            route.last_modified = format_datetime(
                datetime(2023, 6, 23, 12, 0, tzinfo=UTC) + timedelta(hours=1), usegmt=True
            )


def _handler(server: FeedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            path = self.path
            with server.lock:
                server.hits[path] += 1
                route = server.routes.get(path)
                conditional = bool(
                    self.headers.get("If-None-Match") or self.headers.get("If-Modified-Since")
                )
                if conditional:
                    server.conditional_hits[path] += 1
                failing = route is not None and route.fail_next > 0
                if route is not None and failing:
                    route.fail_next -= 1
            if route is None:
                self._send(404, b"not found", "text/plain")
                return
            if failing:
                headers = {"Retry-After": route.retry_after} if route.retry_after else {}
                self._send(route.fail_status, b"upstream broken", "text/plain", headers)
                return
            match = (
                self.headers.get("If-None-Match") == route.etag
                or self.headers.get("If-Modified-Since") == route.last_modified
            )
            if route.honour_conditional and conditional and match:
                with server.lock:
                    server.not_modified[path] += 1
                self.send_response(304)
                self._validators(route)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self._send(200, route.body, route.content_type, route=route)

        def _validators(self, route: Route) -> None:
            if route.etag:
                self.send_header("ETag", route.etag)
            if route.last_modified:
                self.send_header("Last-Modified", route.last_modified)

        def _send(
            self,
            status: int,
            body: bytes,
            content_type: str,
            headers: dict[str, str] | None = None,
            *,
            route: Route | None = None,
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            if route is not None:
                self._validators(route)
            if route is not None and route.chunked:
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for start in range(0, len(body), 16_384):
                    piece = body[start : start + 16_384]
                    self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                    if route.delay_seconds:
                        self.wfile.flush()
                        time.sleep(route.delay_seconds)
                self.wfile.write(b"0\r\n\r\n")
                return
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    state = FeedServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


class FakeTime:
    """A clock and a sleep that advances it: schedules run without real waiting."""

    def __init__(self, start: datetime) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime(datetime(2023, 6, 23, 12, 30, tzinfo=UTC))
