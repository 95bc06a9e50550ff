"""Load shedding for the ingest routes: overload is answered ``503`` + ``Retry-After`` at once.

Under several times the rate the server can sustain, queueing every POST would grow memory and
latency without bound and starve the duty officers' viewers, who share the event loop. This ASGI
middleware instead refuses an ingest request *before its body is read* when

- too many ingest requests are already in flight (parsing or waiting for their commit),
- the bodies in flight (by ``Content-Length``; a chunked body counts as the largest allowed)
  would exceed a byte budget, which bounds the memory parsing can take, or
- the engine is too far behind the report log (``Runtime.lag``): accepting more would only
  delay the picture further.

A refused request stored nothing; the client retries after ``Retry-After`` seconds (the report's
``(source, source_id, sequence)`` makes the retry idempotent). Everything that is not an ingest
POST (the picture, the websocket stream, health, metrics, exports) passes untouched, so viewers
stay responsive while writers are shed. Per-client rate limits (429) are a separate concern.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, Final

import msgspec
from fastapi import FastAPI
from prometheus_client import Counter, Gauge

from situation_api.metrics import REGISTRY
from situation_api.problems import PROBLEM_MEDIA_TYPE, TYPE_PREFIX

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

INGEST_PREFIX: Final = "/api/v1/reports"
_DRAIN_LIMIT: Final = 64 * 1024

SHED: Final = Counter(
    "lz_requests_shed",
    "Ingest requests refused with 503 before reading their body, by reason",
    ["reason"],
    registry=REGISTRY,
)
INFLIGHT: Final = Gauge(
    "lz_ingest_inflight", "Ingest requests being parsed or awaiting their commit", registry=REGISTRY
)


@dataclass(frozen=True, slots=True)
class SheddingLimits:
    max_inflight: int = 64
    max_inflight_bytes: int = 128 * 1024 * 1024
    max_backlog: int = 50_000  # reports logged but not yet processed by the engine
    retry_after: int = 2  # seconds


class LoadShedding:
    """The ASGI middleware (see the module docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limits: SheddingLimits,
        backlog: Callable[[], int],
        max_body_bytes: int,
    ) -> None:
        self.app = app
        self.limits = limits
        self._backlog = backlog
        self._max_body = max_body_bytes
        self.inflight = 0
        self.inflight_bytes = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope.get("method") != "POST"
            or not scope.get("path", "").startswith(INGEST_PREFIX)
        ):
            await self.app(scope, receive, send)
            return
        weight = self._weight(scope)
        reason = self._overloaded(weight)
        if reason is not None:
            SHED.labels(reason).inc()
            await self._refuse(scope, receive, send, reason)
            return
        self.inflight += 1
        self.inflight_bytes += weight
        INFLIGHT.set(self.inflight)
        try:
            await self.app(scope, receive, send)
        finally:
            self.inflight -= 1
            self.inflight_bytes -= weight
            INFLIGHT.set(self.inflight)

    def _weight(self, scope: Scope) -> int:
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    return min(max(int(value), 0), self._max_body)
                except ValueError:
                    return self._max_body  # the route answers 400; weigh it as the worst case
        return self._max_body

    def _overloaded(self, weight: int) -> str | None:
        limits = self.limits
        if self.inflight >= limits.max_inflight:
            return "inflight"
        if self.inflight and self.inflight_bytes + weight > limits.max_inflight_bytes:
            return "bytes"
        try:
            backlog = self._backlog()
        except Exception:  # no runtime (starting, distributed): nothing to judge by
            backlog = 0
        if backlog > limits.max_backlog:
            return "backlog"
        return None

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, reason: str) -> None:
        detail = {
            "inflight": f"{self.inflight} ingest requests in flight (limit "
            f"{self.limits.max_inflight})",
            "bytes": f"{self.inflight_bytes} bytes of ingest bodies in flight (limit "
            f"{self.limits.max_inflight_bytes})",
            "backlog": f"the engine is more than {self.limits.max_backlog} reports behind",
        }[reason]
        if self._weight(scope) <= _DRAIN_LIMIT:
            await _drain(receive)  # a small body is cheaper to read than a new connection
            keep = []
        else:
            # the body was not read: the connection must not be reused for the next request
            keep = [(b"connection", b"close")]
        body = msgspec.json.encode(
            {
                "type": TYPE_PREFIX + "overloaded",
                "title": "Overloaded",
                "status": 503,
                "detail": f"{detail}; nothing was stored, retry after {self.limits.retry_after} s",
                "instance": scope.get("path", ""),
            }
        )
        await send(
            {
                "type": "http.response.start",
                "status": 503,
                "headers": [
                    (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", str(self.limits.retry_after).encode()),
                    *keep,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


async def _drain(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


def _runtime_lag(app: FastAPI) -> int:
    services = app.state.services
    if services is None:
        return 0
    lag: int = services.runtime.lag
    return lag


def install_load_shedding(
    app: FastAPI, *, max_body_bytes: int, limits: SheddingLimits | None = None
) -> None:
    """Shed ingest load on ``app`` (engine backlog read from ``app.state.services.runtime``)."""
    app.add_middleware(
        LoadShedding,
        limits=limits or SheddingLimits(),
        backlog=lambda: _runtime_lag(app),
        max_body_bytes=max_body_bytes,
    )
