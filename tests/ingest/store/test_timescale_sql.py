"""The TimescaleDB-only SQL, checked against a server without TimescaleDB.

PostgreSQL parses a whole statement before it looks anything up, so a statement that fails with
"function does not exist" (42883), "unrecognized parameter namespace" (22023) or "extension not
available" has passed the parser: it is valid SQL and only needs TimescaleDB. A syntax error
(42601), an unknown table (42P01) or column (42703) fails the test. The tables are created exactly
as migrations create them in TimescaleDB mode (plain tables, native-only lines dropped).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from ingest.store import timescale
from ingest.store.migrations import bucket_expression, load_migrations

ONLY_TIMESCALE_MISSING = {"42883", "22023", "0A000", "58P01"}


@pytest.fixture
async def conn(pg_fresh_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(pg_fresh_url)
    for package in ("ingest.store", "situation_api"):
        for migration in load_migrations(package):
            await connection.execute(migration.render(use_timescale=True))
    yield connection
    await connection.close()


async def sqlstate_of(conn: asyncpg.Connection, statement: str) -> str | None:
    try:
        async with conn.transaction():
            await conn.execute(statement)
    except asyncpg.PostgresError as error:
        return str(error.sqlstate)
    return None


async def test_timescale_mode_creates_plain_tables(conn: asyncpg.Connection) -> None:
    rows = await conn.fetch(
        "SELECT relname, relkind::text FROM pg_class"
        " WHERE relname IN ('reports', 'situation_change_blocks')"
        " AND relnamespace = current_schema()::regnamespace"
    )
    kinds = {row[0]: row[1] for row in rows}
    assert kinds == {"reports": "r", "situation_change_blocks": "r"}  # create_hypertable needs 'r'


@pytest.mark.parametrize(
    "statement",
    [timescale.EXTENSION, *(s for _, group in timescale.SETUP.values() for s in group)],
)
async def test_statement_fails_only_for_want_of_timescaledb(
    conn: asyncpg.Connection, statement: str
) -> None:
    assert await sqlstate_of(conn, statement) in ONLY_TIMESCALE_MISSING


async def test_time_bucket_query_fails_only_for_want_of_timescaledb(
    conn: asyncpg.Connection,
) -> None:
    query = (
        f"SELECT {bucket_expression('t', use_timescale=True)} AS b, count(*)"
        " FROM situation_change_blocks, unnest(ats) AS t GROUP BY b"
    )
    assert await sqlstate_of(conn, f"PREPARE q(interval) AS {query}") == "42883"
    native = query.replace(
        bucket_expression("t", use_timescale=True), bucket_expression("t", use_timescale=False)
    )
    assert await sqlstate_of(conn, f"PREPARE q(interval) AS {native}") is None


async def test_a_real_syntax_error_would_be_caught(conn: asyncpg.Connection) -> None:
    assert await sqlstate_of(conn, "SELECT create_hypertable('reports' 'received_at')") == "42601"
