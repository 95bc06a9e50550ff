"""The report log and the feed status store in PostgreSQL (``postgresql://``) through asyncpg, on
a shared :class:`~ingest.store.database.Database`.

Appending to the report log (see ``migrations/0001_report_log.sql`` for the schema's reasoning):
every :meth:`PostgresReportLog.append` goes through a :class:`GroupCommitter`, whose single writer
task writes each batch in one transaction:

1. lock ``report_log_head`` (``FOR UPDATE``): serialises writers across processes, so offsets
   are handed out in commit order;
2. look up which keys are already logged (a statement of its own, so it sees what another
   writer committed while we waited for the lock);
3. COPY the new keys and reports (binary COPY: one round trip for the whole batch);
4. advance the head and ``pg_notify`` the new offset (delivered at commit);
5. COMMIT with ``synchronous_commit = on``: only then are the callers' futures resolved.

That is the locking path. Most batches take a shorter one: new reports, a batch of at most
``FAST_MAX`` items and a head nobody else moved are appended by one call of the database function
``lz_append_reports`` (``migrations/0003_append_function.sql``, ``0004_…``) with offsets computed
from the head the writer knows, one round trip and one commit; whenever its assumptions fail, the
function changes nothing and the batch takes the locking path.

What this process committed, it also keeps for a while (:mod:`ingest.store.recent`): the runtime
in the same process reads those entries without a query.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Final, Self

import asyncpg
import msgspec

from ingest.report import Report, encode_report, with_server_fields
from ingest.store.batcher import GroupCommitter
from ingest.store.database import DATABASE_ERRORS, Database, next_month
from ingest.store.errors import StoreClosed, StoreUnavailable
from ingest.store.memory import utc_now
from ingest.store.port import Appended, FeedStatus
from ingest.store.recent import RecentEntries

log = logging.getLogger(__name__)

CHANNEL: Final = "lz_report_log"
FAST_MAX: Final = 500  # larger batches (imports) keep the binary COPY of the locking path
RECENT_KEPT: Final = 4096  # entries kept for in-process readers (a few seconds at full load)
COMPONENT: Final = "report_log"
_report_decoder: Final = msgspec.json.Decoder(Report)


class PostgresReportLog:
    """A :class:`~ingest.store.port.ReportLog` in PostgreSQL (see the module docstring)."""

    def __init__(
        self, db: Database, *, owns_db: bool, clock: Callable[[], datetime], max_batch: int
    ) -> None:
        self._db = db
        self._owns_db = owns_db
        self._clock = clock
        self._committer: GroupCommitter[tuple[Report, bytes], Appended] = GroupCommitter(
            self._write, max_items=max_batch, name="report-log-writer"
        )
        self._head = 0
        self._recent = RecentEntries(RECENT_KEPT)
        self._writing = False  # a batch of ours is being written
        self._heard = 0  # the highest offset notified meanwhile
        self.batches_fast = 0  # batches appended by lz_append_reports (for tests and diagnosis)
        self.batches_locked = 0  # batches that took the locking path
        self._changed = asyncio.Event()
        self._listener: asyncpg.Connection | None = None
        self._closed = False

    @classmethod
    async def open(
        cls,
        target: str | Database,
        *,
        clock: Callable[[], datetime] = utc_now,
        max_batch: int = 2000,
    ) -> Self:
        """Connect (given a URL) or share ``target``; migrate; start listening for appends."""
        db = await Database.connect(target) if isinstance(target, str) else target
        log_ = cls(db, owns_db=isinstance(target, str), clock=clock, max_batch=max_batch)
        try:
            await db.migrate("ingest.store", COMPONENT)
            now = clock()
            await db.ensure_partitions("reports", "received_at", [now, next_month(now)])
            await log_._listen()
            log_._head = await log_.last_offset()
        except BaseException:
            await log_.close()
            raise
        return log_

    # -- writing ---------------------------------------------------------------------------------

    async def append(self, items: Sequence[tuple[Report, bytes]]) -> list[Appended]:
        if self._closed:
            raise StoreClosed("the report log is closed")
        return await self._committer.submit(items)

    async def _write(self, items: list[tuple[Report, bytes]]) -> list[Appended]:
        now = self._clock()
        # Next month too: received_at is taken later, under the lock, and may cross midnight.
        await self._db.ensure_partitions("reports", "received_at", [now, next_month(now)])
        committed: list[tuple[int, bytes]] = []  # (offset, canonical encoding)
        # The notification of our own commit can overtake the reply to it: held back until the
        # entries are kept, readers woken by it find them here instead of querying the server.
        self._writing = True
        try:
            results = await self._append(items, committed)
            for offset, encoded in committed:
                self._recent.add(offset, encoded)
        finally:
            self._writing = False
            heard, self._heard = self._heard, 0
            self._advance(heard)
        # In-process readers would learn of the commit from the notification too; telling them
        # here saves the round trip through the server.
        self._advance(max(r.offset for r in results))
        return results

    async def _append(
        self, items: list[tuple[Report, bytes]], committed: list[tuple[int, bytes]]
    ) -> list[Appended]:
        """One transaction: the fast path, or else the locking path."""
        try:
            results = await self._write_fast(items, committed) if len(items) <= FAST_MAX else None
            if results is None:
                async with self._db.pool.acquire() as conn, conn.transaction():
                    results = await self._write_locked(conn, items, committed)
                self.batches_locked += 1
            else:
                self.batches_fast += 1
        except DATABASE_ERRORS as error:
            raise StoreUnavailable(f"report log write failed: {error}") from error
        return results

    async def _write_fast(
        self, items: list[tuple[Report, bytes]], committed: list[tuple[int, bytes]]
    ) -> list[Appended] | None:
        """The batch appended in one statement, or None (nothing written) when it must take the
        locking path: a key repeated in the batch or logged already, or a head moved by another
        writer since we last heard of it. Adds what it wrote to ``committed``."""
        if len({report.key for report, _ in items}) != len(items):
            return None
        head = self._head
        received_at = self._clock()  # this writer's batches are serial: times never go back
        results: list[Appended] = []
        columns: tuple[list[Any], ...] = tuple([] for _ in range(10))
        for offset, (report, raw) in enumerate(items, start=head + 1):
            stored = with_server_fields(report, received_at=received_at, offset=offset)
            results.append(Appended(offset, False, stored))
            row = (offset, report.observed_at, report.source, report.source_id, report.sequence,
                   report.msg_type, report.status, report.category, encode_report(stored),
                   bytes(raw))  # fmt: skip
            for column, value in zip(columns, row, strict=True):
                column.append(value)
        try:
            appended = await self._db.pool.fetchval(
                "SELECT lz_append_reports($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                head, head + len(items), received_at, *columns,
            )  # fmt: skip
        except asyncpg.UniqueViolationError:
            return None  # a key logged already (by anyone): the call changed nothing
        if not appended:
            return None
        committed.extend(zip(columns[0], columns[8], strict=True))
        return results

    async def _write_locked(
        self, conn: asyncpg.pool.PoolConnectionProxy[asyncpg.Record],
        items: list[tuple[Report, bytes]], committed: list[tuple[int, bytes]],
    ) -> list[Appended]:  # fmt: skip
        """The batch appended under the head's row lock (see the module docstring); adds what
        it wrote to ``committed``, which is committed when the caller's transaction is."""
        head: int = await conn.fetchval(
            "SELECT last_offset FROM report_log_head WHERE id FOR UPDATE"
        )
        received_at = self._clock()  # after the lock: later offsets never get earlier times
        first: dict[tuple[str, str, int], int] = {}  # key -> index of its first occurrence
        for index, (report, _) in enumerate(items):
            first.setdefault(report.key, index)
        keys = list(first)
        known: dict[tuple[str, str, int], tuple[int, datetime]] = {}
        for row in await conn.fetch(
            "SELECT k.source, k.source_id, k.sequence, r.log_offset, r.received_at"
            " FROM unnest($1::text[], $2::text[], $3::bigint[]) AS k(source, source_id, sequence)"
            " JOIN report_keys r USING (source, source_id, sequence)",
            [k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys],
        ):  # fmt: skip
            known[(row[0], row[1], row[2])] = (row[3], row[4])

        results: list[Appended] = []
        key_rows: list[tuple[Any, ...]] = []
        report_rows: list[tuple[Any, ...]] = []
        offset = head
        for index, (report, raw) in enumerate(items):
            key = report.key
            if key in known or first[key] != index:
                original_offset, original_at = known[key]
                again = with_server_fields(report, received_at=original_at, offset=original_offset)
                results.append(Appended(original_offset, True, again))
                continue
            offset += 1
            stored = with_server_fields(report, received_at=received_at, offset=offset)
            known[key] = (offset, received_at)
            key_rows.append((*key, offset, received_at))
            encoded = encode_report(stored)
            committed.append((offset, encoded))
            report_rows.append(
                (offset, received_at, report.observed_at, report.source, report.source_id,
                 report.sequence, report.msg_type, report.status, report.category,
                 encoded, bytes(raw))
            )  # fmt: skip
            results.append(Appended(offset, False, stored))
        if report_rows:
            await conn.copy_records_to_table(
                "report_keys", records=key_rows,
                columns=["source", "source_id", "sequence", "log_offset", "received_at"],
            )  # fmt: skip
            await conn.copy_records_to_table(
                "reports", records=report_rows,
                columns=["log_offset", "received_at", "observed_at", "source", "source_id",
                         "sequence", "msg_type", "status", "category", "report", "raw"],
            )  # fmt: skip
            await conn.execute(
                "WITH h AS (UPDATE report_log_head SET last_offset = $1 WHERE id"
                " RETURNING last_offset) SELECT pg_notify($2, last_offset::text) FROM h",
                offset, CHANNEL,
            )  # fmt: skip
        return results

    # -- reading ---------------------------------------------------------------------------------

    async def read(self, after: int, limit: int) -> list[Report]:
        recent = self._recent.run(after, limit)  # what this process just committed
        if recent:
            last = recent[-1].offset or after + len(recent)
            if len(recent) == limit or last >= self._head:
                return recent
            # another writer's entries follow: the rest of the page from the server
            return recent + await self._read_stored(last, limit - len(recent))
        if after >= self._head and self._listener_alive():
            return []  # nothing committed that we know of; a notification will tell (wait_for)
        return await self._read_stored(after, limit)

    async def _read_stored(self, after: int, limit: int) -> list[Report]:
        rows = await self._db.pool.fetch(
            "SELECT report FROM reports WHERE log_offset > $1 ORDER BY log_offset LIMIT $2",
            after, limit,
        )  # fmt: skip
        return [_report_decoder.decode(row[0]) for row in rows]

    async def read_raw(self, offset: int) -> bytes | None:
        raw: bytes | None = await self._db.pool.fetchval(
            "SELECT raw FROM reports WHERE log_offset = $1", offset
        )
        return raw

    async def last_offset(self) -> int:
        try:
            head: int = await self._db.pool.fetchval(
                "SELECT last_offset FROM report_log_head WHERE id"
            )
        except DATABASE_ERRORS as error:
            raise StoreUnavailable(f"cannot read the log's head: {error}") from error
        return head

    async def wait_for(self, after: int, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._head <= after:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            # Without a live LISTEN connection we poll, so a reader never hangs on a lost
            # notification.
            slice_ = remaining if self._listener_alive() else min(remaining, 0.5)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), slice_)
            if not self._listener_alive():
                self._advance(await self.last_offset())
        if self._head <= after:
            self._advance(await self.last_offset())  # a last check costs one query
        return self._head > after

    # -- notifications ---------------------------------------------------------------------------

    def _advance(self, offset: int) -> None:
        if offset > self._head:
            self._head = offset
            self._changed.set()
            self._changed = asyncio.Event()

    async def _listen(self) -> None:
        try:
            conn = await asyncpg.connect(self._db.url)
            await conn.add_listener(CHANNEL, self._notified)
        except DATABASE_ERRORS as error:
            log.warning("report log: LISTEN unavailable, polling instead: %s", error)
            return
        self._listener = conn

    def _notified(self, conn: object, pid: int, channel: str, payload: object) -> None:
        with contextlib.suppress(ValueError):
            offset = int(str(payload))
            if self._writing:
                self._heard = max(self._heard, offset)  # see _write
            else:
                self._advance(offset)

    def _listener_alive(self) -> bool:
        return self._listener is not None and not self._listener.is_closed()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._committer.close()
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close(timeout=5)
        if self._owns_db:
            await self._db.close()


class PostgresFeedStatusStore:
    """A :class:`~ingest.store.port.FeedStatusStore` in the ``feed_status`` table."""

    _COLUMNS: Final = (
        "feed, last_success, last_error, error, items, lag_seconds, etag, last_modified, updated_at"
    )

    def __init__(self, db: Database) -> None:
        self._db = db

    @classmethod
    async def open(cls, db: Database) -> Self:
        await db.migrate("ingest.store", COMPONENT)
        return cls(db)

    async def upsert(self, status: FeedStatus) -> None:
        await self._db.pool.execute(
            f"INSERT INTO feed_status ({self._COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            " ON CONFLICT (feed) DO UPDATE SET last_success = EXCLUDED.last_success,"
            " last_error = EXCLUDED.last_error, error = EXCLUDED.error, items = EXCLUDED.items,"
            " lag_seconds = EXCLUDED.lag_seconds, etag = EXCLUDED.etag,"
            " last_modified = EXCLUDED.last_modified, updated_at = EXCLUDED.updated_at",
            status.feed, status.last_success, status.last_error, status.error, status.items,
            status.lag_seconds, status.etag, status.last_modified, status.updated_at,
        )  # fmt: skip

    async def get(self, feed: str) -> FeedStatus | None:
        row = await self._db.pool.fetchrow(
            f"SELECT {self._COLUMNS} FROM feed_status WHERE feed = $1", feed
        )
        return None if row is None else FeedStatus(**dict(row))

    async def list(self) -> list[FeedStatus]:
        rows = await self._db.pool.fetch(f"SELECT {self._COLUMNS} FROM feed_status ORDER BY feed")
        return [FeedStatus(**dict(row)) for row in rows]
