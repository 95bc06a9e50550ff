"""Where a partition of ``lz.reports.v1`` must be read from: the worker's state decides, not the
consumer's position (pure: the worker feeds it offsets and the time).

The state table says which offset a partition engine applied last; the next record it needs is
that offset + 1. Kafka's committed offset usually agrees, but faust's consumer can move past
records the worker never saw. After a rebalance faust restores its tables while the fetcher
already runs; records fetched in that window are dropped with the in-memory queues, and
aiokafka's ``seek_to_committed`` leaves the position alone when a partition has no committed
offset (or offset 0). faust also counts skipped offsets as acknowledged (its "gaps"), so such
a partition can even be committed past records nobody applied. Two checks close this:

- :meth:`Realign.gap`: the first record of a batch lies beyond the next one the state needs.
  The worker skips the batch's records of that partition and seeks back (unless the missing
  records are gone from the topic: retention deleted them).
- :meth:`Realign.stalled`: the partition has records the state has not applied, and the applied
  offset has not moved for ``stall_seconds``. Nothing may be arriving at all (the position is
  at the end), so only a check on the clock finds this.

Re-reading records is always safe: the partition engine ignores offsets it applied.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

STALL_SECONDS: Final = 5.0
SKIP: Final = -1  # a decision of :meth:`Realign.gap`: skip the records, a seek is under way


@dataclass
class Realign:
    stall_seconds: float = STALL_SECONDS
    _pending: dict[int, int] = field(default_factory=dict)  # partition -> offset sought
    _progress: dict[int, tuple[int, float]] = field(default_factory=dict)  # applied, since

    def gap(self, partition: int, applied: int, first: int) -> int | None:
        """The offset to seek ``partition`` to when a batch's first record is ``first`` and the
        state applied ``applied``; None when the batch may be applied. While a seek is pending,
        records beyond its offset are skipped without seeking again."""
        wanted = applied + 1
        sought = self._pending.get(partition)
        if sought is not None:
            if first <= sought:
                del self._pending[partition]  # the re-read arrived
                return None
            return SKIP  # still draining what was fetched before the seek
        if first <= wanted:
            return None
        self._pending[partition] = wanted
        return wanted

    def gone(self, partition: int) -> None:
        """The records sought are deleted from the topic: accept the gap."""
        self._pending.pop(partition, None)

    def stalled(self, partition: int, applied: int, end: int, now: float) -> int | None:
        """The offset to seek to when ``partition`` (log end ``end``) lags behind ``applied``
        without progress for ``stall_seconds``; None otherwise."""
        last = self._progress.get(partition)
        if end <= applied + 1 or last is None or last[0] != applied:
            self._progress[partition] = (applied, now)
            return None
        if now - last[1] < self.stall_seconds:
            return None
        self._progress[partition] = (applied, now)
        self._pending[partition] = applied + 1
        return applied + 1

    def forget(self, partition: int) -> None:
        """``partition`` was revoked from this worker."""
        self._pending.pop(partition, None)
        self._progress.pop(partition, None)
