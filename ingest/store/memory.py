"""In-memory adapters (``memory://``): tests, ``replay`` and demos that need no durability.

They keep the exact semantics of the PostgreSQL adapters (offsets, duplicates, ordering), which
the shared contract tests check.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from ingest.report import Report, with_server_fields
from ingest.store.errors import StoreClosed
from ingest.store.port import Appended, FeedStatus


def utc_now() -> datetime:
    return datetime.now(UTC)


class MemoryReportLog:
    """A :class:`~ingest.store.port.ReportLog` in a Python list."""

    def __init__(self, *, clock: Callable[[], datetime] = utc_now) -> None:
        self._clock = clock
        self._entries: list[tuple[Report, bytes]] = []  # index = offset - 1
        self._keys: dict[tuple[str, str, int], int] = {}
        self._changed = asyncio.Event()
        self._closed = False

    async def append(self, items: Sequence[tuple[Report, bytes]]) -> list[Appended]:
        if self._closed:
            raise StoreClosed("the report log is closed")
        received_at = self._clock()
        results: list[Appended] = []
        for report, raw in items:
            known = self._keys.get(report.key)
            if known is not None:
                original = self._entries[known - 1][0]
                assert original.received_at is not None
                again = with_server_fields(report, received_at=original.received_at, offset=known)
                results.append(Appended(known, True, again))
                continue
            offset = len(self._entries) + 1
            stored = with_server_fields(report, received_at=received_at, offset=offset)
            self._entries.append((stored, bytes(raw)))
            self._keys[report.key] = offset
            results.append(Appended(offset, False, stored))
        if any(not r.duplicate for r in results):
            self._changed.set()
            self._changed = asyncio.Event()
        return results

    async def read(self, after: int, limit: int) -> list[Report]:
        start = max(after, 0)
        return [report for report, _ in self._entries[start : start + max(limit, 0)]]

    async def read_raw(self, offset: int) -> bytes | None:
        if 1 <= offset <= len(self._entries):
            return self._entries[offset - 1][1]
        return None

    async def last_offset(self) -> int:
        return len(self._entries)

    async def wait_for(self, after: int, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self._entries) <= after:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                return len(self._entries) > after
        return True

    async def close(self) -> None:
        self._closed = True


class MemoryFeedStatusStore:
    """A :class:`~ingest.store.port.FeedStatusStore` in a dict."""

    def __init__(self) -> None:
        self._feeds: dict[str, FeedStatus] = {}

    async def upsert(self, status: FeedStatus) -> None:
        self._feeds[status.feed] = status

    async def get(self, feed: str) -> FeedStatus | None:
        return self._feeds.get(feed)

    async def list(self) -> list[FeedStatus]:
        return [self._feeds[name] for name in sorted(self._feeds)]
