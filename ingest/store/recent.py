"""The entries this process committed last, kept so that an in-process reader skips the server.

In the embedded mode the runtime reads every report right after the same process committed it.
Reading it back costs a query that waits its turn in a busy PostgreSQL and a busy event loop,
between the commit and the picture's update: at 1,000 reports/s about a tenth of the server's
CPU and part of every report's POST→delta latency. The writer knows what it committed, so it
keeps the canonical encoding of its last entries — the same bytes the ``report`` column got —
and :meth:`RecentEntries.run` hands out a run of them starting at the offset a reader asks for.

Offsets written by another process (another ``serve`` on the same database) are not here; a
reader then gets what runs without a gap from the cache and the rest from the server. Entries
are decoded when read, with the decoder a read from the server uses, so a reader cannot tell
where an entry came from. (``jsonb`` would turn a -0.0 into 0; the report model already has,
see :func:`ingest.report.unsign_zero`.)
"""

from __future__ import annotations

from typing import Final

import msgspec

from ingest.report import Report

_decoder: Final = msgspec.json.Decoder(Report)


class RecentEntries:
    """Up to ``capacity`` committed entries by offset (the oldest are forgotten first)."""

    __slots__ = ("_capacity", "_entries")

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._entries: dict[int, bytes] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, offset: int, encoded: bytes) -> None:
        """Remember a committed entry (call only after its commit)."""
        entries = self._entries
        entries[offset] = encoded
        while len(entries) > self._capacity:
            del entries[next(iter(entries))]

    def run(self, after: int, limit: int) -> list[Report]:
        """The entries ``after + 1``, ``after + 2``, … up to ``limit`` of them, stopping at the
        first offset not kept here (empty if ``after + 1`` is not kept)."""
        entries = self._entries
        out: list[Report] = []
        offset = after + 1
        while len(out) < limit:
            encoded = entries.get(offset)
            if encoded is None:
                break
            out.append(_decoder.decode(encoded))
            offset += 1
        return out
