"""HTTP fetching for the pollers: conditional GET, size limit, timeouts, and backoff policy.

The fetcher knows nothing about formats; it returns bytes (or "not modified") and raises
:class:`FetchFailed` with a reason a duty officer can read in the feed health list.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from ingest.pollers.errors import FetchFailed, PayloadTooLarge

_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class Validators:
    """What the server said identifies the version we have: sent back for a conditional GET."""

    etag: str | None = None
    last_modified: str | None = None

    def headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        return headers


@dataclass(frozen=True, slots=True)
class Fetched:
    url: str
    body: bytes
    validators: Validators
    content_type: str | None


@dataclass(frozen=True, slots=True)
class NotModified:
    url: str
    validators: Validators


def _retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


class Fetcher:
    """GETs URLs through one shared :class:`httpx.AsyncClient` (connection pooling per host)."""

    def __init__(self, client: httpx.AsyncClient, *, user_agent: str = "lagezentrum-poller/0.1"):
        self._client = client
        self._user_agent = user_agent

    async def get(
        self,
        url: str,
        *,
        validators: Validators | None = None,
        timeout: float = 30.0,
        max_bytes: int = 50_000_000,
    ) -> Fetched | NotModified:
        """GET ``url``; a 304 answer to our validators is :class:`NotModified`.

        ``timeout`` bounds the whole exchange, not only each socket read, so a server that
        drips one byte per second cannot hold a poller forever.
        """
        headers = {"User-Agent": self._user_agent, "Accept-Encoding": "gzip, deflate"}
        if validators is not None:
            headers.update(validators.headers())
        try:
            async with asyncio.timeout(timeout):
                return await self._get(url, headers, timeout, max_bytes, validators)
        except TimeoutError:
            raise FetchFailed(url, f"timed out after {timeout:g} s") from None
        except httpx.HTTPError as error:
            reason = str(error) or type(error).__name__
            raise FetchFailed(url, f"{type(error).__name__}: {reason}") from None

    async def _get(
        self,
        url: str,
        headers: dict[str, str],
        timeout: float,
        max_bytes: int,
        validators: Validators | None,
    ) -> Fetched | NotModified:
        request = self._client.build_request("GET", url, headers=headers, timeout=timeout)
        response = await self._client.send(request, stream=True, follow_redirects=True)
        try:
            if response.status_code == 304:
                # A 304 may carry refreshed validators; keep ours for what it does not repeat.
                old = validators or Validators()
                return NotModified(
                    url,
                    Validators(
                        response.headers.get("ETag") or old.etag,
                        response.headers.get("Last-Modified") or old.last_modified,
                    ),
                )
            if response.status_code != 200:
                raise FetchFailed(
                    url,
                    f"HTTP {response.status_code} {response.reason_phrase}".rstrip(),
                    status=response.status_code,
                    retry_after=_retry_after(
                        response.headers.get("Retry-After"), datetime.now(UTC)
                    ),
                )
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise PayloadTooLarge(
                    url, f"Content-Length {declared} exceeds max_bytes {max_bytes}", status=200
                )
            chunks: list[bytes] = []
            size = 0
            # aiter_bytes decodes gzip: the limit applies to what we would have to hold.
            async for chunk in response.aiter_bytes(_CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise PayloadTooLarge(url, f"body exceeds max_bytes {max_bytes}", status=200)
                chunks.append(chunk)
            return Fetched(
                url,
                b"".join(chunks),
                Validators(response.headers.get("ETag"), response.headers.get("Last-Modified")),
                response.headers.get("Content-Type"),
            )
        finally:
            await response.aclose()


@dataclass(frozen=True, slots=True)
class Backoff:
    """Capped exponential backoff with "equal jitter".

    Half of each delay is fixed, half random: feeds that failed together (one outage upstream)
    spread out again, yet no retry comes back almost at once as with full jitter. The RNG is
    injected so tests are deterministic.
    """

    initial: float = 5.0
    maximum: float = 900.0
    factor: float = 2.0

    def delay(
        self, failures: int, rng: random.Random, *, retry_after: float | None = None
    ) -> float:
        """The wait before attempt number ``failures + 1`` after ``failures`` failures in a row."""
        if failures < 1:
            return 0.0
        # Cap the exponent before computing so a feed down for weeks cannot overflow a float.
        capped = min(self.maximum, self.initial * self.factor ** min(failures - 1, 64))
        wait = capped / 2 + rng.uniform(0.0, capped / 2)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.maximum))
        return wait
