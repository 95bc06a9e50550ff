"""The PostgreSQL database every adapter shares: one connection pool with the project's codecs
and durability settings, the schema dialect (native partitioning or TimescaleDB), migrations and
monthly partitions. The report log, the feed status table, the situation history, the journal and
the tokens all use one :class:`Database`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Final, Self, TypeAlias

import asyncpg

from ingest.store.errors import StoreUnavailable
from ingest.store.migrations import load_migrations, migrate

Pool: TypeAlias = "asyncpg.Pool[asyncpg.Record]"

DATABASE_ERRORS: Final = (
    OSError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    # raised by a pooled connection whose server went away mid-operation (seen while PostgreSQL
    # restarted under load); it is no InterfaceError, and it is as transient
    asyncpg.InternalClientError,
)
"""What a lost or restarting database raises: callers turn it into StoreUnavailable (503)."""


async def _init_connection(conn: asyncpg.Connection) -> None:
    # jsonb as raw bytes: msgspec decodes and encodes it directly, no str round trip.
    await conn.set_type_codec(
        "jsonb",
        schema="pg_catalog",
        encoder=lambda data: b"\x01" + bytes(data),
        decoder=lambda data: data[1:],
        format="binary",
    )


class _Connection(asyncpg.Connection):
    """A pooled connection released without asyncpg's reset query (advisory unlock, CLOSE ALL,
    UNLISTEN, RESET ALL): one round trip less for every use of the pool, and the report log's
    group commit pays it on every batch, on the path of every POST. Nothing here leaves session
    state on a pooled connection: locks are transaction-scoped, LISTEN and the migrations' session
    lock have connections of their own. (An open transaction is still rolled back on release.)"""

    def get_reset_query(self) -> str:
        return ""


_SERVER_SETTINGS: Final = {
    "synchronous_commit": "on", "timezone": "UTC", "application_name": "lagezentrum"
}  # fmt: skip


def _month_start(moment: datetime) -> datetime:
    utc = moment.astimezone(UTC)
    return utc.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month(moment: datetime) -> datetime:
    return _month_start(_month_start(moment) + timedelta(days=32))


class Database:
    """A connection pool with the project's codecs and durability settings."""

    def __init__(self, url: str, pool: Pool) -> None:
        self.url = url
        self.pool = pool
        self.use_timescale = False
        self._partitions: set[tuple[str, datetime]] = set()

    @classmethod
    async def connect(cls, url: str, *, min_size: int = 2, max_size: int = 10) -> Self:
        try:
            pool = await asyncpg.create_pool(
                url, min_size=min_size, max_size=max_size, init=_init_connection,
                connection_class=_Connection, server_settings=_SERVER_SETTINGS,
            )  # fmt: skip
        except DATABASE_ERRORS as error:
            raise StoreUnavailable(f"cannot connect to PostgreSQL: {error}") from error
        return cls(url, pool)

    async def migrate(self, package: str, component: str) -> list[int]:
        """Apply ``package``'s migrations for ``component``; return the versions applied."""
        # Its own connection: the migrations hold a session lock, which must not outlive them
        # on a pooled connection (see _Connection); closing the connection ends it for sure.
        try:
            conn = await asyncpg.connect(self.url, server_settings=_SERVER_SETTINGS)
        except DATABASE_ERRORS as error:
            raise StoreUnavailable(f"cannot connect to PostgreSQL: {error}") from error
        try:
            self.use_timescale, done = await migrate(conn, component, load_migrations(package))
        except DATABASE_ERRORS as error:
            raise StoreUnavailable(f"{component} migrations failed: {error}") from error
        finally:
            with contextlib.suppress(*DATABASE_ERRORS):
                await conn.close()
        return done

    async def ensure_partitions(self, table: str, column: str, moments: Iterable[datetime]) -> None:
        """Create the monthly partitions ``moments`` fall into (native dialect; cached)."""
        if self.use_timescale:
            return
        months = {_month_start(m) for m in moments} - {
            month for name, month in self._partitions if name == table
        }
        if not months:
            return
        # Every writer checks its partitions before its write: a lost database must reach it as
        # the same StoreUnavailable its write would have raised.
        try:
            async with self.pool.acquire() as conn:
                for month in sorted(months):
                    await conn.fetchval(
                        "SELECT lz_ensure_month_partition($1, $2, $3)", table, column, month
                    )
                    self._partitions.add((table, month))
        except DATABASE_ERRORS as error:
            raise StoreUnavailable(f"cannot create the partitions of {table}: {error}") from error

    async def close(self) -> None:
        await self.pool.close()
