"""HTTP hardening of every response: security headers, the display's Content Security Policy,
request body limits and (only for origins named in the settings) CORS.

The CSP allows nothing but this server: scripts and styles from its own files only (no inline
code; the display builds its DOM with text nodes and sets styles through the CSSOM), images from
itself, ``data:`` and ``blob:`` URLs (Leaflet's icons) and the configured tile server, and network
connections to itself (HTTP and the websocket on the same host). Swagger UI at ``/docs`` needs
its CDN and inline bootstrap, so it gets a policy of its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final
from urllib.parse import urlsplit

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from situation_api.problems import ProblemError, problem_response

HEADERS: Final = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (
        b"permissions-policy",
        b"camera=(), microphone=(), geolocation=(), payment=(), usb=(), fullscreen=(self)",
    ),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
)
DOCS_PATHS: Final = ("/docs", "/redoc")
_CDN: Final = "https://cdn.jsdelivr.net"
DOCS_CSP: Final = (
    f"default-src 'self'; script-src 'self' 'unsafe-inline' {_CDN}; "
    f"style-src 'self' 'unsafe-inline' {_CDN}; img-src 'self' data: https://fastapi.tiangolo.com; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
INGEST_PREFIX: Final = "/api/v1/reports"


def tile_source(tile_url: str | None) -> str | None:
    """The CSP source of a tile URL template: ``https://{s}.tile.example.org/{z}/{x}/{y}.png``
    becomes ``https://*.tile.example.org``."""
    if not tile_url:
        return None
    parts = urlsplit(tile_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    host = parts.netloc
    if host.startswith("{"):
        host = "*" + host[host.index("}") + 1 :]
    if "{" in host or "}" in host or " " in host or ";" in host:
        return None
    return f"{parts.scheme}://{host}"


def content_security_policy(tile_url: str | None, host: str | None) -> str:
    images = ["'self'", "data:", "blob:"]
    tiles = tile_source(tile_url)
    if tiles:
        images.append(tiles)
    connect = ["'self'"]
    if host and all(c not in host for c in " ;,'\""):
        connect += [f"ws://{host}", f"wss://{host}"]  # 'self' covers ws: only in CSP3 browsers
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        f"img-src {' '.join(images)}; connect-src {' '.join(connect)}; font-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


class SecurityHeaders:
    """Adds :data:`HEADERS` and the CSP to every HTTP response (unless a route set its own)."""

    def __init__(self, app: ASGIApp, *, tile_url: str | None) -> None:
        self.app = app
        self.tile_url = tile_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        if path.startswith(DOCS_PATHS):
            csp = DOCS_CSP
        else:
            host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), None)
            csp = content_security_policy(self.tile_url, host)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in HEADERS if k not in present]
                if b"content-security-policy" not in present:
                    headers.append((b"content-security-policy", csp.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _too_large(limit: int) -> ProblemError:
    return ProblemError(413, f"request body exceeds {limit} bytes", kind="payload-too-large")


class BodyLimit:
    """Refuses request bodies above the limit (413): by ``Content-Length`` before reading, and
    by counting a chunked body as it streams in. Report submission has its own, larger limit."""

    def __init__(self, app: ASGIApp, *, default: int, ingest: int) -> None:
        self.app = app
        self.default = default
        self.ingest = ingest

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        limit = self.ingest if path.startswith(INGEST_PREFIX) else self.default
        for key, value in scope["headers"]:
            if key == b"content-length" and value.isdigit() and int(value) > limit:
                error = _too_large(limit)
                response = problem_response(error.problem(path))
                await response(scope, receive, send)
                return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _too_large(limit)  # the problem handlers answer 413
            return message

        await self.app(scope, counted, send)


def harden(
    app: FastAPI,
    *,
    tile_url: str | None,
    cors_origins: Iterable[str],
    max_request_bytes: int,
    max_ingest_bytes: int,
) -> None:
    """Install the middlewares on ``app`` (security headers outermost, so every answer,
    even a refused one, carries them)."""
    origins = list(cors_origins)
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
            expose_headers=["Retry-After", "X-Report-Number", "Content-Disposition"],
            allow_credentials=False,  # bearer tokens, never cookies
            max_age=600,
        )
    app.add_middleware(BodyLimit, default=max_request_bytes, ingest=max_ingest_bytes)
    app.add_middleware(SecurityHeaders, tile_url=tile_url)
