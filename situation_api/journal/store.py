"""Where the journal lives: :class:`MemoryJournal` (``memory://``) and :class:`PostgresJournal`
(component ``journal``). Appends are serialised (an asyncio lock in the process, a transaction
advisory lock across processes), so the chain never forks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, Final, Protocol, Self

import asyncpg
import msgspec

from ingest.store.database import DATABASE_ERRORS, Database
from ingest.store.errors import StoreUnavailable
from situation_api.journal.chain import GENESIS, JournalEntry, seal

COMPONENT: Final = "journal"
LOCK_KEY: Final = 0x6C7A2D6A726E6C  # "lz-jrnl"
PAGE: Final = 5_000
_json: Final = msgspec.json.Decoder(dict[str, Any])


class JournalStore(Protocol):
    async def append(
        self, at: datetime, actor: str, action: str, subject: str, payload: dict[str, Any]
    ) -> JournalEntry: ...

    async def since(
        self, after: int, limit: int, *, subject: str | None = None, action: str | None = None
    ) -> list[JournalEntry]:
        """Up to ``limit`` entries with seq > ``after`` in seq order (optionally filtered)."""
        ...

    async def until(self, at: datetime, since: datetime | None = None) -> list[JournalEntry]:
        """Entries with ``since <= at' <= at`` in seq order (for reports)."""
        ...

    async def last_seq(self, action: str | None = None) -> int: ...

    async def close(self) -> None: ...


async def entries(store: JournalStore, after: int = 0) -> AsyncIterator[JournalEntry]:
    """Every entry after ``after`` in seq order, page by page."""
    while page := await store.since(after, PAGE):
        for entry in page:
            yield entry
        after = page[-1].seq


class MemoryJournal:
    def __init__(self) -> None:
        self.rows: list[JournalEntry] = []
        self._lock = asyncio.Lock()

    async def append(
        self, at: datetime, actor: str, action: str, subject: str, payload: dict[str, Any]
    ) -> JournalEntry:
        async with self._lock:
            prev = self.rows[-1].hash if self.rows else GENESIS
            entry = seal(len(self.rows) + 1, at, actor, action, subject, payload, prev)
            self.rows.append(entry)
            return entry

    async def since(
        self, after: int, limit: int, *, subject: str | None = None, action: str | None = None
    ) -> list[JournalEntry]:
        found = [
            e
            for e in self.rows[max(after, 0) :]
            if (subject is None or e.subject == subject) and (action is None or e.action == action)
        ]
        return found[: max(limit, 0)]

    async def until(self, at: datetime, since: datetime | None = None) -> list[JournalEntry]:
        return [e for e in self.rows if e.at <= at and (since is None or e.at >= since)]

    async def last_seq(self, action: str | None = None) -> int:
        return max((e.seq for e in self.rows if action is None or e.action == action), default=0)

    async def close(self) -> None:
        return None


_COLUMNS: Final = "seq, at, actor, action, subject, payload, prev_hash, hash"


def _entry(row: asyncpg.Record) -> JournalEntry:
    return JournalEntry(
        seq=row["seq"],
        at=row["at"],
        actor=row["actor"],
        action=row["action"],
        subject=row["subject"],
        payload=_json.decode(row["payload"]),
        prev_hash=row["prev_hash"],
        hash=row["hash"],
    )


class PostgresJournal:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, db: Database) -> Self:
        await db.migrate("situation_api.journal", COMPONENT)
        return cls(db)

    async def append(
        self, at: datetime, actor: str, action: str, subject: str, payload: dict[str, Any]
    ) -> JournalEntry:
        try:
            async with self._lock, self._db.pool.acquire() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", LOCK_KEY)
                last = await conn.fetchrow(
                    "SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1"
                )
                seq, prev = (last["seq"] + 1, last["hash"]) if last else (1, GENESIS)
                entry = seal(seq, at, actor, action, subject, payload, prev)
                await conn.execute(
                    f"INSERT INTO journal ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    entry.seq, entry.at, entry.actor, entry.action, entry.subject,
                    msgspec.json.encode(entry.payload), entry.prev_hash, entry.hash,
                )  # fmt: skip
                return entry
        except DATABASE_ERRORS as error:
            raise StoreUnavailable(f"journal: {error}") from error

    async def since(
        self, after: int, limit: int, *, subject: str | None = None, action: str | None = None
    ) -> list[JournalEntry]:
        return await self._fetch(
            f"SELECT {_COLUMNS} FROM journal WHERE seq > $1 "
            "AND ($2::text IS NULL OR subject = $2) AND ($3::text IS NULL OR action = $3) "
            "ORDER BY seq LIMIT $4",
            after, subject, action, limit,
        )  # fmt: skip

    async def until(self, at: datetime, since: datetime | None = None) -> list[JournalEntry]:
        return await self._fetch(
            f"SELECT {_COLUMNS} FROM journal WHERE at <= $1 "
            "AND ($2::timestamptz IS NULL OR at >= $2) ORDER BY seq",
            at, since,
        )  # fmt: skip

    async def last_seq(self, action: str | None = None) -> int:
        try:
            async with self._db.pool.acquire() as conn:
                found = await conn.fetchval(
                    "SELECT coalesce(max(seq), 0) FROM journal "
                    "WHERE $1::text IS NULL OR action = $1",
                    action,
                )
        except DATABASE_ERRORS as error:
            raise StoreUnavailable(f"journal: {error}") from error
        return int(found)

    async def _fetch(self, sql: str, *args: object) -> list[JournalEntry]:
        try:
            async with self._db.pool.acquire() as conn:
                rows = await conn.fetch(sql, *args)
        except DATABASE_ERRORS as error:
            raise StoreUnavailable(f"journal: {error}") from error
        return [_entry(row) for row in rows]

    async def close(self) -> None:
        return None
