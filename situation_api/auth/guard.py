"""Authentication and authorisation of every request: FastAPI dependencies and the websocket
check.

HTTP callers send ``Authorization: Bearer <token>``. Browsers cannot set headers on a websocket,
so the stream also takes the token as a subprotocol: ``new WebSocket(url, ["lagezentrum",
"bearer." + token])``; the server then selects ``lagezentrum``. (Not as a query parameter: URLs
end up in proxy logs and browser history.) Other clients may send the Authorization header on the
upgrade request instead.

Verified tokens are cached for ``cache_seconds`` (default 5 s): a revoked token stops working
within that time on every instance, without a database round trip per request. A websocket is
checked when it connects; revoking a token does not cut streams already open.

Answers: ``401`` (no or unknown token, ``WWW-Authenticate: Bearer``), ``403`` (the token's role
may not do this; ``error="insufficient_scope"``), ``429`` (the token exceeded its rate,
``Retry-After``), all RFC 9457 problem documents.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Final

from fastapi import Request
from starlette.websockets import WebSocket

from ingest.store.errors import StoreError
from situation_api.auth.ratelimit import RateLimiter, retry_after
from situation_api.auth.roles import ANONYMOUS, Principal
from situation_api.auth.tokens import TokenStore, looks_like_token
from situation_api.problems import ProblemError

log = logging.getLogger(__name__)

REALM: Final = 'Bearer realm="lagezentrum"'
WS_PROTOCOL: Final = "lagezentrum"
WS_BEARER: Final = "bearer."
_CACHE_MAX: Final = 10_000
FAILURES_PER_SECOND: Final = 2.0  # unknown tokens per client address, after a burst of 20


class Authenticator:
    """Turns credentials into a :class:`Principal`. ``enabled=False`` lets everyone in as
    :data:`~situation_api.auth.roles.ANONYMOUS` (tests, tools on a closed machine)."""

    def __init__(
        self,
        *,
        enabled: bool = True,
        rate: float = 50.0,
        burst: int = 200,
        cache_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.enabled = enabled
        self.store: TokenStore | None = None  # bound when the lifespan has opened it
        self.limiter = RateLimiter(rate, burst, clock=clock)
        self.failures = RateLimiter(FAILURES_PER_SECOND, 20, clock=clock)
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._cache: dict[bytes, tuple[Principal, float]] = {}

    async def principal(self, token: str | None, client: str = "") -> Principal:
        """The caller behind ``token``; raises a 401 problem if there is none."""
        if not self.enabled:
            return ANONYMOUS
        if not token:
            raise unauthorized("send Authorization: Bearer <token>", error=None)
        key = hashlib.sha256(token.encode("utf-8")).digest()
        now = self._clock()
        cached = self._cache.get(key)
        if cached is not None and cached[1] > now:
            return cached[0]
        wait = self.failures.peek(f"fail:{client}")
        if wait:
            raise too_many(wait, "too many failed logins from this address")
        info = None
        if looks_like_token(token):
            if self.store is None:
                raise ProblemError(503, "starting", kind="not-ready", title="Not ready")
            try:
                info = await self.store.lookup(token)
            except StoreError as error:
                raise ProblemError(
                    503, f"token store unavailable: {error}", kind="store-unavailable"
                ) from None
        if info is None:
            self.failures.take(f"fail:{client}")
            self._cache.pop(key, None)
            raise unauthorized("unknown or revoked token", error="invalid_token")
        principal = info.principal()
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        self._cache[key] = (principal, now + self._cache_seconds)
        return principal

    def throttle(self, principal: Principal) -> None:
        """Charge one request to the token; raise 429 when its bucket is empty."""
        if not self.enabled:
            return
        wait = self.limiter.take(principal.id)
        if wait:
            raise too_many(wait, f"rate limit of token {principal.id} exceeded")

    def forget(self) -> None:
        self._cache.clear()


def unauthorized(detail: str, *, error: str | None) -> ProblemError:
    challenge = REALM if error is None else f'{REALM}, error="{error}"'
    return ProblemError(
        401,
        detail,
        kind="unauthorized",
        title="Authentication required",
        headers={"WWW-Authenticate": challenge},
    )


def forbidden(detail: str) -> ProblemError:
    return ProblemError(
        403,
        detail,
        kind="forbidden",
        title="Not allowed",
        headers={"WWW-Authenticate": f'{REALM}, error="insufficient_scope"'},
    )


def too_many(wait: float, detail: str) -> ProblemError:
    return ProblemError(
        429, detail, kind="rate-limited", title="Too many requests",
        headers={"Retry-After": retry_after(wait)},
    )  # fmt: skip


def bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def authenticator_of(request: Request | WebSocket) -> Authenticator:
    auth: Authenticator = request.app.state.auth
    return auth


def require(needed: str) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency admitting tokens whose role grants ``needed``; the caller lands in
    ``request.state.principal``."""

    async def dependency(request: Request) -> Principal:
        auth = authenticator_of(request)
        client = request.client.host if request.client else ""
        principal = await auth.principal(bearer(request.headers.get("authorization")), client)
        if not principal.may(needed):
            raise forbidden(f"a {principal.role} token may not do this (needs {needed})")
        auth.throttle(principal)
        request.state.principal = principal
        return principal

    dependency.__name__ = f"require_{needed}"
    return dependency


def principal_of(request: Request) -> Principal:
    """The caller a :func:`require` dependency admitted (ANONYMOUS if none ran)."""
    found: Principal = getattr(request.state, "principal", ANONYMOUS)
    return found


def websocket_token(websocket: WebSocket) -> tuple[str | None, str | None]:
    """``(token, subprotocol to select)`` from the upgrade request."""
    offered = [
        p.strip()
        for value in websocket.headers.getlist("sec-websocket-protocol")
        for p in value.split(",")
    ]
    token = next((p[len(WS_BEARER) :] for p in offered if p.startswith(WS_BEARER)), None)
    selected = WS_PROTOCOL if WS_PROTOCOL in offered else None
    if token is None:
        token = bearer(websocket.headers.get("authorization"))
    return token, selected


async def websocket_principal(websocket: WebSocket, needed: str) -> Principal | None:
    """The admitted caller of a websocket, or None (the caller closes with 1008 then)."""
    auth = authenticator_of(websocket)
    token, _ = websocket_token(websocket)
    client = websocket.client.host if websocket.client else ""
    try:
        principal = await auth.principal(token, client)
        if not principal.may(needed):
            return None
        auth.throttle(principal)
    except ProblemError as error:
        log.info("websocket refused: %s", error.detail)
        return None
    return principal
