"""Versioned SQL migrations, applied at start-up, and the choice of storage dialect.

Each component (``report_log``, ``history``, ...) ships numbered files ``NNNN_name.sql`` in a
``migrations`` folder of its package. :func:`migrate` applies the missing ones in order, each in
its own transaction together with its ``schema_migrations`` row, under a session advisory lock so
that processes starting at the same time apply each migration exactly once.

One schema, two dialects: lines marked ``-- [native]`` (``PARTITION BY RANGE``, the DEFAULT
partition) are dropped when TimescaleDB is used, because ``create_hypertable`` needs a plain
table; :mod:`ingest.store.timescale` then turns the tables into hypertables. The dialect is fixed
when a database is first migrated and recorded as the ``timescale`` component, so installing the
extension later never leaves half the schema in one dialect and half in the other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Final, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from ingest.store import timescale
from ingest.store.errors import MigrationFailed

Conn: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"

# Arbitrary constant: "lz-migr" as a number; one lock for every component's migrations.
LOCK_KEY: Final = 0x6C7A2D6D696772
NATIVE_MARKER: Final = "-- [native]"
_FILE = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")

BOOTSTRAP: Final = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    component  text        NOT NULL,
    version    integer     NOT NULL,
    name       text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (component, version)
)
"""

# Shared by every component; replaced (not versioned) so a fix reaches existing databases.
PARTITION_FUNCTION: Final = """
-- Monthly partition of a natively partitioned table, created on demand (native dialect only).
-- Returns false when rows for that month already sit in the DEFAULT partition: the month then
-- stays there (moving rows would lock the table), which is correct, only less efficient.
CREATE OR REPLACE FUNCTION lz_ensure_month_partition(
    parent text, part_column text, moment timestamptz
)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    lo   timestamptz := date_trunc('month', moment AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    hi   timestamptz := (date_trunc('month', moment AT TIME ZONE 'UTC') + INTERVAL '1 month')
                        AT TIME ZONE 'UTC';
    name text := format('%s_p%s', parent, to_char(lo AT TIME ZONE 'UTC', 'YYYYMM'));
    busy boolean;
    col name;
    target integer;
BEGIN
    -- Processes creating partitions of one table at once would take the locks on the parent
    -- and its DEFAULT partition in opposite orders and deadlock: one at a time per table.
    PERFORM pg_advisory_xact_lock(hashtext('lz_ensure_month_partition:' || parent));
    IF to_regclass(quote_ident(name)) IS NOT NULL THEN
        RETURN true;
    END IF;
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE %I >= $1 AND %I < $2)',
                   parent || '_default', part_column, part_column)
        INTO busy USING lo, hi;
    IF busy THEN
        RETURN false;
    END IF;
    EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                   name, parent, lo, hi);
    -- A new partition does not take over the parent's per-column statistics targets (ALTER
    -- TABLE ... SET STATISTICS reaches only the partitions that exist then): copy them.
    FOR col, target IN
        SELECT attname, attstattarget FROM pg_attribute
        WHERE attrelid = parent::regclass AND attnum > 0 AND NOT attisdropped
          AND attstattarget >= 0
    LOOP
        EXECUTE format('ALTER TABLE %I ALTER COLUMN %I SET STATISTICS %s', name, col, target);
    END LOOP;
    RETURN true;
EXCEPTION WHEN duplicate_table OR unique_violation THEN
    RETURN true;  -- created concurrently by another process
END
$$;
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    def render(self, *, use_timescale: bool) -> str:
        if not use_timescale:
            return self.sql
        return "\n".join(line for line in self.sql.splitlines() if NATIVE_MARKER not in line)


def load_migrations(package: str, folder: str = "migrations") -> list[Migration]:
    """The migrations shipped in ``package/folder``, by version; gaps or clashes are errors."""
    found: list[Migration] = []
    for entry in resources.files(package).joinpath(folder).iterdir():
        match = _FILE.match(entry.name)
        if match:
            found.append(Migration(int(match["version"]), match["name"], entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        raise MigrationFailed(f"{package}/{folder}: versions must run 1, 2, 3, ... without gaps")
    return found


async def timescale_available(conn: Conn) -> bool:
    """The extension is installed on the server *and* preloaded (CREATE EXTENSION needs both)."""
    row = await conn.fetchrow(
        "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') AS avail,"
        " current_setting('shared_preload_libraries') AS preload"
    )
    return bool(row and row["avail"] and "timescaledb" in (row["preload"] or ""))


async def migrate(
    conn: Conn, component: str, migrations: list[Migration]
) -> tuple[bool, list[int]]:
    """Bring ``component`` up to date; return (TimescaleDB in use, versions applied now)."""
    await conn.execute("SELECT pg_advisory_lock($1)", LOCK_KEY)
    try:
        await conn.execute(BOOTSTRAP)
        await conn.execute(PARTITION_FUNCTION)
        use_timescale = await _dialect(conn)
        applied = {
            r["version"]: r["name"]
            for r in await conn.fetch(
                "SELECT version, name FROM schema_migrations WHERE component = $1", component
            )
        }
        done: list[int] = []
        for migration in migrations:
            if migration.version in applied:
                if applied[migration.version] != migration.name:
                    raise MigrationFailed(
                        f"{component} migration {migration.version} is "
                        f"{applied[migration.version]!r} in the database "
                        f"but {migration.name!r} here"
                    )
                continue
            await _apply(conn, component, migration, use_timescale=use_timescale)
            done.append(migration.version)
        if use_timescale and component in timescale.SETUP:
            version, statements = timescale.SETUP[component]
            setup_done = await conn.fetchval(
                "SELECT count(*) FROM schema_migrations WHERE component = $1 AND version = $2",
                f"{component}.timescale", version,
            )  # fmt: skip
            if not setup_done:
                setup = Migration(version, "hypertables", ";\n".join(statements))
                await _apply(conn, f"{component}.timescale", setup, use_timescale=True)
        return use_timescale, done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)


async def _dialect(conn: Conn) -> bool:
    recorded = await conn.fetchval(
        "SELECT count(*) FROM schema_migrations WHERE component = 'timescale'"
    )
    if recorded:
        return True
    if await conn.fetchval("SELECT count(*) FROM schema_migrations"):
        return False  # created natively before: stay native
    if not await timescale_available(conn):
        return False
    await _apply(
        conn, "timescale", Migration(1, "extension", timescale.EXTENSION), use_timescale=True
    )
    return True


async def _apply(conn: Conn, component: str, migration: Migration, *, use_timescale: bool) -> None:
    try:
        async with conn.transaction():
            await conn.execute(migration.render(use_timescale=use_timescale))
            await conn.execute(
                "INSERT INTO schema_migrations (component, version, name) VALUES ($1, $2, $3)",
                component, migration.version, migration.name,
            )  # fmt: skip
    except asyncpg.PostgresError as error:
        raise MigrationFailed(
            f"{component} migration {migration.version:04d}_{migration.name} failed: {error}"
        ) from error


def bucket_expression(column: str, *, use_timescale: bool, width_param: str = "$1") -> str:
    """SQL for the start of the time bucket of ``column``; both dialects give the same buckets."""
    if use_timescale:
        return timescale.bucket_expression(column, width_param)
    # time_bucket's default origin for timestamptz (a Monday), so week buckets agree too.
    return f"date_bin({width_param}::interval, {column}, TIMESTAMPTZ '2000-01-03 00:00:00+00')"
