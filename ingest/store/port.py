"""Ports of the storage layer: the report log and the feed status table.

Adapters: ``memory.py`` (tests, ``memory://``) and ``postgres.py`` (``postgresql://``). Both pass
one contract test suite (``tests/ingest/store/test_contract.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

import msgspec

from ingest.report import Report


class Appended(msgspec.Struct, frozen=True):
    """The outcome of appending one report.

    ``report`` carries the server fields (``received_at``, ``offset``). For a duplicate they are
    the ORIGINAL entry's, so a client retrying after a lost response learns the same offset; the
    rest of ``report`` is what the caller sent (the stored original is not re-read).
    """

    offset: int
    duplicate: bool
    report: Report


class ReportLog(Protocol):
    """The append-only, durable log of accepted reports.

    Offsets start at 1 and are gap-free and strictly increasing *in commit order*: a reader that
    has seen offset n never later finds a new entry with an offset <= n.
    """

    async def append(self, items: Sequence[tuple[Report, bytes]]) -> list[Appended]:
        """Store ``(report, raw payload)`` pairs; return one :class:`Appended` per item, in order,
        only after they are durable. A report whose ``(source, source_id, sequence)`` is already
        logged (earlier, or earlier in ``items``) is a duplicate: not stored again."""
        ...

    async def read(self, after: int, limit: int) -> list[Report]:
        """Up to ``limit`` entries with offset > ``after``, in offset order."""
        ...

    async def read_raw(self, offset: int) -> bytes | None:
        """The payload exactly as it was received for the entry at ``offset``."""
        ...

    async def last_offset(self) -> int:
        """The highest offset written (0 when the log is empty)."""
        ...

    async def wait_for(self, after: int, timeout: float) -> bool:
        """Wait until an entry with offset > ``after`` exists; False on timeout."""
        ...

    async def close(self) -> None: ...


class FeedStatus(msgspec.Struct, frozen=True, kw_only=True):
    """Health of one polled or pushed feed, as shown on the operations display."""

    feed: str
    updated_at: datetime
    last_success: datetime | None = None
    last_error: datetime | None = None
    error: str | None = None
    items: int = 0
    lag_seconds: float | None = None
    etag: str | None = None
    last_modified: str | None = None


class FeedStatusStore(Protocol):
    async def upsert(self, status: FeedStatus) -> None:
        """Replace the status of ``status.feed``."""
        ...

    async def get(self, feed: str) -> FeedStatus | None: ...

    async def list(self) -> list[FeedStatus]:
        """Every feed's status, ordered by feed name."""
        ...
