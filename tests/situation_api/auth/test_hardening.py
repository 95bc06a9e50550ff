"""Security headers and CSP on every answer, body limits, CORS only for configured origins."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from situation_api.auth.hardening import content_security_policy, tile_source
from situation_api.settings import SettingsInvalid, load_settings
from tests.situation_api.live_server import live_server

TILES = "https://{s}.tiles.example.org/{z}/{x}/{y}.png"


def test_csp_names_only_this_server_and_the_tile_host() -> None:
    assert tile_source(TILES) == "https://*.tiles.example.org"
    assert tile_source("https://geo.rlp.de/wmts/{z}/{x}/{y}.png") == "https://geo.rlp.de"
    assert tile_source("javascript:alert(1)") is None
    assert tile_source(None) is None
    csp = content_security_policy(TILES, "127.0.0.1:8000")
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["img-src"] == "'self' data: blob: https://*.tiles.example.org"
    assert directives["connect-src"] == "'self' ws://127.0.0.1:8000 wss://127.0.0.1:8000"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in csp


def test_cors_origins_must_be_exact() -> None:
    for bad in ("*", "https://*.example.org", "example.org", "https://x.org/path"):
        with pytest.raises(SettingsInvalid, match="cors_origins"):
            load_settings(None, cors_origins=(bad,))
    assert load_settings(None, cors_origins=("https://lage.example:8443",)).cors_origins


async def test_headers_on_every_answer() -> None:
    async with live_server("memory://", auth=True, tile_url=TILES) as live:
        for path in ("/", "/api/v1/situation", "/assets/app/js/main.js", "/no-such-page"):
            response = await live.http.get(path)
            headers = response.headers
            assert headers["x-content-type-options"] == "nosniff", path
            assert headers["x-frame-options"] == "DENY"
            assert headers["referrer-policy"] == "no-referrer"
            assert headers["cross-origin-opener-policy"] == "same-origin"
            assert "geolocation=()" in headers["permissions-policy"]
            csp = headers["content-security-policy"]
            assert "script-src 'self';" in csp
            assert "https://*.tiles.example.org" in csp
        docs = await live.http.get("/docs")
        assert "cdn.jsdelivr.net" in docs.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in docs.headers["content-security-policy"]


async def test_body_limits() -> None:
    async with live_server("memory://", max_body_bytes=4096, max_request_bytes=2048) as live:
        declared = await live.http.post("/api/v1/situation", content=b"x" * 3000)
        assert declared.status_code == 413
        assert declared.headers["content-type"] == "application/problem+json"
        assert declared.headers["x-content-type-options"] == "nosniff"

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(10):
                yield b"[" + b" " * 1000

        streamed = await live.http.post(
            "/api/v1/reports", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert streamed.status_code == 413
        assert "4096" in streamed.json()["detail"]


async def test_cors_only_for_configured_origins() -> None:
    preflight = {
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization",
    }
    async with live_server("memory://", cors_origins=("https://lage.example",)) as live:
        ok = await live.http.options(
            "/api/v1/situation", headers={"Origin": "https://lage.example", **preflight}
        )
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == "https://lage.example"
        assert "access-control-allow-credentials" not in ok.headers
        evil = await live.http.options(
            "/api/v1/situation", headers={"Origin": "https://evil.example", **preflight}
        )
        assert evil.status_code == 400
        assert "access-control-allow-origin" not in evil.headers
        simple = await live.http.get(
            "/api/v1/situation", headers={"Origin": "https://evil.example"}
        )
        assert "access-control-allow-origin" not in simple.headers
    async with live_server("memory://") as live:
        plain = await live.http.get("/api/v1/situation", headers={"Origin": "https://lage.example"})
        assert "access-control-allow-origin" not in plain.headers
