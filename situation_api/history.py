"""Situation history: every change the engine emitted, and periodic snapshots.

The picture at a past time T is the latest snapshot at or before T plus the changes after its seq
with ``at <= T`` (:meth:`HistoryStore.until`). Changes are stored generically — seq, time, kind,
entity, id and a JSON payload — so this module does not depend on the engine's change structs;
the runtime encodes them.

Adapters: :class:`MemoryHistoryStore` and :class:`PostgresHistoryStore` (tables in
``situation_api/migrations``, natively partitioned by month or TimescaleDB hypertables, see
:mod:`ingest.store.migrations`). Appends go through the same group-commit writer as the report
log, and each write stores its changes as one compressed block (:mod:`situation_api.blocks`,
migration 0003): one row and one round trip for many changes. Snapshots, tens of megabytes with
a large picture, are stored zlib-compressed too (migration 0002).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any, Final, Protocol, Self, TypeVar

from ingest.store.batcher import GroupCommitter
from ingest.store.database import DATABASE_ERRORS, Database
from ingest.store.errors import StoreUnavailable
from ingest.store.migrations import bucket_expression
from situation_api import blocks
from situation_api.stored import Snapshot, StoredChange

__all__ = [
    "COMPONENT", "SNAPSHOTS_KEPT", "HistoryStore", "MemoryHistoryStore", "PostgresHistoryStore",
    "Snapshot", "StoredChange",
]  # fmt: skip

COMPONENT: Final = "history"
SNAPSHOTS_KEPT: Final = 5
_BLOCKS: Final = "situation_change_blocks"
# Blocks fetched for a page of changes: a few first (a stream's catch-up is mostly short), then
# as many as the blocks' sizes so far suggest, so a long page is not fetched four at a time.
_FIRST_BLOCKS: Final = 4
_MAX_BLOCKS: Final = 1000
_CHUNK_BYTES: Final = 256 * 1024  # of a snapshot part per transaction (migration 0004)
T = TypeVar("T")
# Snapshot parts are compressed like history blocks, behind the same marker (migration 0002);
# neither a msgpack map (the engine state) nor JSON (the picture) can begin with 0xFF, so rows
# stored plain before read as they are.
_COMPRESSED: Final = blocks.COMPRESSED


class HistoryStore(Protocol):
    async def append(self, changes: Sequence[StoredChange]) -> int:
        """Store changes durably; those with a seq at or below the stored head are ignored (a
        restarted engine may emit them again). Return how many were new."""
        ...

    async def head(self) -> int:
        """The highest stored seq (0 if none)."""
        ...

    async def since(self, seq: int, limit: int) -> list[StoredChange]:
        """Up to ``limit`` changes with seq > ``seq``, in seq order."""
        ...

    async def until(self, at: datetime, *, after: int = 0) -> list[StoredChange]:
        """Every change with ``at`` <= ``at`` and seq > ``after``, in seq order."""
        ...

    async def for_entity(self, entity: str, entity_id: str) -> list[StoredChange]:
        """Every change of one entity (``incident``, ``inc-…``), in seq order."""
        ...

    async def count_changes(
        self, bucket: timedelta, since: datetime, until: datetime
    ) -> list[tuple[datetime, int]]:
        """Number of changes per time bucket in [since, until), buckets aligned to Monday
        2000-01-03 00:00 UTC (TimescaleDB's origin)."""
        ...

    async def save_snapshot(self, seq: int, at: datetime, state: bytes, picture: bytes) -> None:
        """Keep a snapshot; only the latest :data:`SNAPSHOTS_KEPT` are retained. ``state`` and
        ``picture`` are plain, or packed by :func:`situation_api.blocks.pack`; they are read back
        plain."""
        ...

    async def latest_snapshot(self, at_or_before: datetime | None = None) -> Snapshot | None: ...

    async def close(self) -> None: ...


_ORIGIN: Final = datetime.fromisoformat("2000-01-03T00:00:00+00:00")


class MemoryHistoryStore:
    """A :class:`HistoryStore` in lists (tests, replay)."""

    def __init__(self) -> None:
        self._changes: list[StoredChange] = []
        self._snapshots: list[Snapshot] = []

    async def append(self, changes: Sequence[StoredChange]) -> int:
        new = 0
        for change in sorted(changes, key=lambda c: c.seq):
            if change.seq > (self._changes[-1].seq if self._changes else 0):
                self._changes.append(change)
                new += 1
        return new

    async def head(self) -> int:
        return self._changes[-1].seq if self._changes else 0

    async def since(self, seq: int, limit: int) -> list[StoredChange]:
        start = bisect.bisect_right([c.seq for c in self._changes], seq)
        return self._changes[start : start + max(limit, 0)]

    async def until(self, at: datetime, *, after: int = 0) -> list[StoredChange]:
        return [c for c in self._changes if c.at <= at and c.seq > after]

    async def for_entity(self, entity: str, entity_id: str) -> list[StoredChange]:
        return [c for c in self._changes if c.entity == entity and c.entity_id == entity_id]

    async def count_changes(
        self, bucket: timedelta, since: datetime, until: datetime
    ) -> list[tuple[datetime, int]]:
        counts: dict[datetime, int] = {}
        for change in self._changes:
            if since <= change.at < until:
                start = _ORIGIN + ((change.at - _ORIGIN) // bucket) * bucket
                counts[start] = counts.get(start, 0) + 1
        return sorted(counts.items())

    async def save_snapshot(self, seq: int, at: datetime, state: bytes, picture: bytes) -> None:
        snapshot = Snapshot(seq, at, blocks.unpack(state), blocks.unpack(picture))
        kept = [s for s in self._snapshots if s.seq != seq] + [snapshot]
        self._snapshots = sorted(kept, key=lambda s: s.seq)[-SNAPSHOTS_KEPT:]

    async def latest_snapshot(self, at_or_before: datetime | None = None) -> Snapshot | None:
        eligible = [s for s in self._snapshots if at_or_before is None or s.at <= at_or_before]
        return eligible[-1] if eligible else None

    async def close(self) -> None:
        return None


class PostgresHistoryStore:
    """A :class:`HistoryStore` in PostgreSQL, sharing a :class:`~ingest.store.Database`."""

    def __init__(self, db: Database, *, max_batch: int = 5000) -> None:
        self._db = db
        self._head = 0
        self._committer: GroupCommitter[StoredChange, bool] = GroupCommitter(
            self._write, max_items=max_batch, name="history-writer"
        )

    @classmethod
    async def open(cls, db: Database) -> Self:
        await db.migrate("situation_api", COMPONENT)
        store = cls(db)
        store._head = await store._stored_head()
        return store

    async def append(self, changes: Sequence[StoredChange]) -> int:
        return sum(await self._committer.submit(changes))

    async def head(self) -> int:
        return self._head

    async def _stored_head(self) -> int:
        # Read right after the migrations: a database lost in between must reach the caller (the
        # archive exits with the reason) as StoreUnavailable, like any write.
        try:
            head: int = await self._db.pool.fetchval(
                "SELECT coalesce(max(last_seq), 0) FROM situation_change_blocks"
            )
        except DATABASE_ERRORS as error:
            raise StoreUnavailable(f"cannot read the history's head: {error}") from error
        return head

    async def _write(self, changes: list[StoredChange]) -> list[bool]:
        # Single writer per process (the batcher): the head only moves here.
        accepted = [False] * len(changes)
        fresh: list[StoredChange] = []
        head = self._head
        for index in sorted(range(len(changes)), key=lambda i: changes[i].seq):
            if changes[index].seq > head:
                accepted[index] = True
                fresh.append(changes[index])
                head = changes[index].seq
        if fresh:
            block = await _in_background(blocks.encode, fresh)
            await self._db.ensure_partitions(_BLOCKS, "first_at", [block.first_at])
            try:
                await self._db.pool.execute(
                    f"INSERT INTO {_BLOCKS} (first_seq, last_seq, first_at, last_at, ats,"
                    " entities, changes) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    block.first_seq, block.last_seq, block.first_at, block.last_at, block.ats,
                    block.entities, block.data,
                )  # fmt: skip
            except DATABASE_ERRORS as error:
                raise StoreUnavailable(f"history write failed: {error}") from error
            self._head = head
        return accepted

    async def since(self, seq: int, limit: int) -> list[StoredChange]:
        found: list[StoredChange] = []
        after, read, blocks = seq, 0, _FIRST_BLOCKS
        while len(found) < limit:
            rows = await self._db.pool.fetch(
                f"SELECT changes FROM {_BLOCKS} WHERE last_seq > $1 ORDER BY last_seq LIMIT $2",
                after, blocks,
            )  # fmt: skip
            for row in rows:
                found.extend(c for c in await _decoded(row[0]) if c.seq > after)
            if len(rows) < blocks:
                break
            after, read = found[-1].seq, read + len(rows)
            # as many blocks as the ones read so far suggest the rest of the page needs
            per_block = max(1, len(found) // read)
            blocks = min(_MAX_BLOCKS, -(-(limit - len(found)) // per_block) + 1)
        return found[: max(limit, 0)]

    async def until(self, at: datetime, *, after: int = 0) -> list[StoredChange]:
        rows = await self._db.pool.fetch(
            f"SELECT changes FROM {_BLOCKS} WHERE last_seq > $2 AND first_at <= $1"
            " ORDER BY last_seq",
            at, after,
        )  # fmt: skip
        return [c for row in rows for c in await _decoded(row[0]) if c.at <= at and c.seq > after]

    async def for_entity(self, entity: str, entity_id: str) -> list[StoredChange]:
        rows = await self._db.pool.fetch(
            f"SELECT changes FROM {_BLOCKS} WHERE entities @> ARRAY[$1::text] ORDER BY last_seq",
            f"{entity}:{entity_id}",
        )
        return [
            c
            for row in rows
            for c in await _decoded(row[0])
            if c.entity == entity and c.entity_id == entity_id
        ]

    async def count_changes(
        self, bucket: timedelta, since: datetime, until: datetime
    ) -> list[tuple[datetime, int]]:
        start = bucket_expression("t", use_timescale=self._db.use_timescale)
        rows = await self._db.pool.fetch(
            f"SELECT {start} AS bucket, count(*) FROM {_BLOCKS}, unnest(ats) AS t"
            " WHERE first_at < $3 AND last_at >= $2 AND t >= $2 AND t < $3"
            " GROUP BY bucket ORDER BY bucket",
            bucket, since, until,
        )  # fmt: skip
        return [(row[0], row[1]) for row in rows]

    async def save_snapshot(self, seq: int, at: datetime, state: bytes, picture: bytes) -> None:
        # In chunks, each committed on its own (migration 0004 says why); the row comes last and
        # makes them a snapshot. A seq saved again has the same state: its chunks are replaced.
        parts = (await _packed(state), await _packed(picture))
        pool = self._db.pool
        counts = [len(range(0, len(data), _CHUNK_BYTES)) for data in parts]
        try:
            for part, data in enumerate(parts):
                for n in range(counts[part]):
                    await pool.execute(
                        "INSERT INTO snapshot_chunks (seq, part, n, data) VALUES ($1, $2, $3, $4)"
                        " ON CONFLICT (seq, part, n) DO UPDATE SET data = EXCLUDED.data",
                        seq, part, n, data[n * _CHUNK_BYTES : (n + 1) * _CHUNK_BYTES],
                    )  # fmt: skip
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute(
                    "INSERT INTO snapshots (seq, at, engine_state, picture, chunked)"
                    " VALUES ($1, $2, '', '', true) ON CONFLICT (seq) DO UPDATE SET"
                    " at = EXCLUDED.at, engine_state = '', picture = '', chunked = true",
                    seq, at,
                )  # fmt: skip
                await conn.execute(
                    "DELETE FROM snapshots WHERE seq NOT IN"
                    " (SELECT seq FROM snapshots ORDER BY seq DESC LIMIT $1)",
                    SNAPSHOTS_KEPT,
                )
                # chunks of dropped snapshots, of saves cut short, and beyond this save's parts
                await conn.execute(
                    "DELETE FROM snapshot_chunks WHERE seq NOT IN (SELECT seq FROM snapshots) OR"
                    " (seq = $1 AND n >= CASE part WHEN 0 THEN $2::integer ELSE $3::integer END)",
                    seq, *counts,
                )  # fmt: skip
        except DATABASE_ERRORS as error:
            raise StoreUnavailable(f"snapshot write failed: {error}") from error

    async def latest_snapshot(self, at_or_before: datetime | None = None) -> Snapshot | None:
        # One snapshot of the database for the row and its chunks: a save that drops this
        # snapshot meanwhile (retention) must not leave us the row without its chunks.
        async with (
            self._db.pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            row = await conn.fetchrow(
                "SELECT seq, at, engine_state, picture, chunked FROM snapshots"
                " WHERE $1::timestamptz IS NULL OR at <= $1 ORDER BY seq DESC LIMIT 1",
                at_or_before,
            )
            if row is None:
                return None
            state, picture = row[2], row[3]
            if row[4]:
                chunks = await conn.fetch(
                    "SELECT part, data FROM snapshot_chunks WHERE seq = $1 ORDER BY part, n",
                    row[0],
                )
                state = b"".join(c[1] for c in chunks if c[0] == 0)
                picture = b"".join(c[1] for c in chunks if c[0] == 1)
        return Snapshot(row[0], row[1], await _plain(state), await _plain(picture))

    async def close(self) -> None:
        await self._committer.close()


# zlib releases the GIL: tens of megabytes are (de)compressed beside the event loop, not in it.

_IN_LOOP_BYTES: Final = 16_384  # smaller blocks decode faster than a hop to a thread and back


async def _decoded(data: bytes) -> list[StoredChange]:
    if len(data) <= _IN_LOOP_BYTES:
        return blocks.decode(data)
    return await asyncio.to_thread(blocks.decode, data)


async def _packed(data: bytes) -> bytes:
    if data.startswith(_COMPRESSED):
        return data
    return await _in_background(blocks.pack, data)


def _lower_priority() -> None:
    # On Linux a nice value set for a thread id applies to that thread alone.
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), _NICENESS)


# Writing history is background work: its compression (tens of megabytes per snapshot) runs on a
# thread that yields the CPU to the event loop and to PostgreSQL whenever they want it. Reads,
# which someone waits for, use the ordinary executor.
_NICENESS: Final = 10
_background: Final = ThreadPoolExecutor(
    1, thread_name_prefix="history-write", initializer=_lower_priority
)


async def _in_background(work: Callable[..., T], *args: Any) -> T:
    return await asyncio.get_running_loop().run_in_executor(_background, work, *args)


async def _plain(stored: bytes) -> bytes:
    if not stored.startswith(_COMPRESSED):
        return stored
    return await asyncio.to_thread(blocks.unpack, stored)
