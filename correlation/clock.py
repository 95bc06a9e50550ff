"""Event time: integer microseconds inside the engine, RFC 3339 strings in views, and the timer
queue that fires lifecycle deadlines in a total order.

Integer microseconds keep comparisons exact and cheap on the hot path; views show whole seconds
("2026-11-29T10:00:00Z", fixed width, so the strings sort like the instants they name).
"""

from __future__ import annotations

import heapq
import time
from datetime import UTC, datetime, timedelta
from typing import Final

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_US: Final = timedelta(microseconds=1)
US: Final = _US


def to_us(value: datetime) -> int:
    """Microseconds since the epoch of an aware datetime (exact)."""
    return (value - EPOCH) // _US


def from_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


_MINUTES: dict[int, str] = {}  # minute -> "2026-11-29T10:00:"
_SECONDS: Final = tuple(f"{second:02d}Z" for second in range(60))


def rfc3339(us: int) -> str:
    """``2026-11-29T10:00:00Z`` (whole seconds, UTC). All but the seconds are cached per
    minute: this runs several times for every report."""
    minute, second = divmod(us // 1_000_000, 60)
    prefix = _MINUTES.get(minute)
    if prefix is None:
        if len(_MINUTES) > 65_536:
            _MINUTES.clear()
        prefix = _MINUTES[minute] = time.strftime("%Y-%m-%dT%H:%M:", time.gmtime(minute * 60))
    return prefix + _SECONDS[second]


# Timer kinds; the number breaks ties between two timers of one entity at one instant.
ONSET: Final = 0
RESOLVE: Final = 1
EXPIRE: Final = 2
CLOSE: Final = 3


class Timers:
    """A min-heap of ``(due_us, entity id, kind)``. Entries are never removed when a deadline
    moves: the owner pushes the new one and ignores popped entries that no longer match its
    state (lazy deletion). Ties fire by id, then kind, never by insertion order."""

    __slots__ = ("heap",)

    def __init__(self) -> None:
        self.heap: list[tuple[int, str, int]] = []

    def push(self, due_us: int, ident: str, kind: int) -> None:
        heapq.heappush(self.heap, (due_us, ident, kind))

    def next_due(self) -> int | None:
        return self.heap[0][0] if self.heap else None

    def pop_due(self, until_us: int) -> tuple[int, str, int] | None:
        """The earliest entry due at or before ``until_us``, removed; or None."""
        heap = self.heap
        if heap and heap[0][0] <= until_us:
            return heapq.heappop(heap)
        return None

    def __len__(self) -> int:
        return len(self.heap)
