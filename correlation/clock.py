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


_DAYS: dict[int, str] = {}
_SECONDS: dict[int, str] = {}  # recent instants: one report's time is formatted several times


def rfc3339(us: int) -> str:
    """``2026-11-29T10:00:00Z`` (whole seconds, UTC). Cached per second and the date part per
    day: this runs several times for every report."""
    whole = us // 1_000_000
    found = _SECONDS.get(whole)
    if found is not None:
        return found
    day, second = divmod(whole, 86_400)
    date = _DAYS.get(day)
    if date is None:
        if len(_DAYS) > 4096:
            _DAYS.clear()
        date = _DAYS[day] = time.strftime("%Y-%m-%dT", time.gmtime(day * 86_400))
    hour, second = divmod(second, 3600)
    minute, second = divmod(second, 60)
    if len(_SECONDS) > 65_536:
        _SECONDS.clear()
    found = _SECONDS[whole] = f"{date}{hour:02d}:{minute:02d}:{second:02d}Z"
    return found


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
