"""The load-shedding middleware alone: which requests it refuses, and how."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from situation_api.shedding import LoadShedding, Message, Scope, SheddingLimits


class SlowApp:
    """Holds every request until released, so requests pile up in flight."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.calls = 0

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        self.calls += 1
        await self.release.wait()
        await send({"type": "http.response.start", "status": 202, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


def _scope(method: str, path: str, length: int | None = 10) -> Scope:
    headers = [] if length is None else [(b"content-length", str(length).encode())]
    return {"type": "http", "method": method, "path": path, "headers": headers}


async def _call(app: LoadShedding, scope: Scope) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"x" * 10, "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


async def test_ingest_beyond_the_inflight_limit_gets_503_viewers_pass() -> None:
    inner = SlowApp()
    backlog = [0]
    app = LoadShedding(
        inner,
        limits=SheddingLimits(max_inflight=3, max_inflight_bytes=10**9, max_backlog=100),
        backlog=lambda: backlog[0],
        max_body_bytes=1000,
    )
    held = [asyncio.create_task(_call(app, _scope("POST", "/api/v1/reports"))) for _ in range(3)]
    await asyncio.sleep(0.01)
    assert app.inflight == 3
    refused = await _call(app, _scope("POST", "/api/v1/reports/cap"))
    assert refused[0]["status"] == 503
    headers = dict(refused[0]["headers"])
    assert headers[b"retry-after"] == b"2"
    assert headers[b"content-type"] == b"application/problem+json"
    problem = msgspec.json.decode(refused[1]["body"])
    assert problem["type"].endswith(":overloaded")
    assert "3 ingest requests in flight" in problem["detail"]
    # the picture is not an ingest request: it reaches the app although ingest is saturated
    viewer = asyncio.create_task(_call(app, _scope("GET", "/api/v1/situation", None)))
    await asyncio.sleep(0.01)
    assert inner.calls == 4
    inner.release.set()
    answers = await asyncio.gather(*held, viewer)
    assert [a[0]["status"] for a in answers] == [202] * 4
    assert app.inflight == 0
    assert app.inflight_bytes == 0
    # an engine far behind the log sheds new reports too
    backlog[0] = 101
    behind = await _call(app, _scope("POST", "/api/v1/reports"))
    assert behind[0]["status"] == 503
    assert b"behind" in behind[1]["body"]


async def test_the_byte_budget_bounds_bodies_in_flight() -> None:
    inner = SlowApp()
    app = LoadShedding(
        inner,
        limits=SheddingLimits(max_inflight=100, max_inflight_bytes=1_500_000, max_backlog=100),
        backlog=lambda: 0,
        max_body_bytes=1_000_000,
    )
    first = asyncio.create_task(_call(app, _scope("POST", "/api/v1/reports", 900_000)))
    await asyncio.sleep(0.01)
    # a chunked body (no Content-Length) weighs the largest allowed body
    refused = await _call(app, _scope("POST", "/api/v1/reports", None))
    assert refused[0]["status"] == 503
    assert (b"connection", b"close") in refused[0]["headers"]  # its body was not read
    small = asyncio.create_task(_call(app, _scope("POST", "/api/v1/reports", 500_000)))
    await asyncio.sleep(0.01)
    assert app.inflight == 2
    inner.release.set()
    assert [a[0]["status"] for a in await asyncio.gather(first, small)] == [202, 202]
