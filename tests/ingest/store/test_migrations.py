"""Start-up migrations (idempotent, concurrent starts, drift detection) and feed status."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from ingest.store import (
    Database,
    FeedStatus,
    FeedStatusStore,
    MemoryFeedStatusStore,
    MigrationFailed,
    PostgresFeedStatusStore,
    PostgresReportLog,
)
from ingest.store.errors import StoreUnavailable
from ingest.store.migrations import Migration, load_migrations, migrate


def test_shipped_migrations_are_numbered_and_found() -> None:
    ingest = load_migrations("ingest.store")
    assert [(m.version, m.name) for m in ingest] == [
        (1, "report_log"),
        (2, "feed_status"),
        (3, "append_function"),
        (4, "append_checks_keys_by_index"),
        (5, "payload_statistics"),
    ]
    history = load_migrations("situation_api")
    assert [(m.version, m.name) for m in history] == [
        (1, "history"),
        (2, "snapshots_compressed"),
        (3, "change_blocks"),
        (4, "snapshot_chunks"),
    ]


def test_native_only_lines_are_dropped_for_timescale() -> None:
    report_log = load_migrations("ingest.store")[0]
    native = report_log.render(use_timescale=False)
    hyper = report_log.render(use_timescale=True)
    assert "PARTITION BY RANGE (received_at)" in native
    assert "PARTITION" not in hyper
    assert hyper.count("CREATE TABLE") == native.count("CREATE TABLE") - 1  # no DEFAULT part


async def test_migrations_apply_once_and_are_recorded(pg_fresh_url: str) -> None:
    db = await Database.connect(pg_fresh_url)
    assert await db.migrate("ingest.store", "report_log") == [1, 2, 3, 4, 5]
    assert await db.migrate("ingest.store", "report_log") == []
    rows = await db.pool.fetch(
        "SELECT component, version, name FROM schema_migrations ORDER BY component, version"
    )
    assert [tuple(r) for r in rows] == [
        ("report_log", 1, "report_log"),
        ("report_log", 2, "feed_status"),
        ("report_log", 3, "append_function"),
        ("report_log", 4, "append_checks_keys_by_index"),
        ("report_log", 5, "payload_statistics"),
    ]
    assert db.use_timescale is False
    await db.close()


async def test_concurrent_starts_migrate_exactly_once(pg_fresh_url: str) -> None:
    logs = await asyncio.gather(*(PostgresReportLog.open(pg_fresh_url) for _ in range(5)))
    conn = await asyncpg.connect(pg_fresh_url)
    assert await conn.fetchval("SELECT count(*) FROM schema_migrations") == 5
    await conn.close()
    for log in logs:
        await log.close()


async def test_a_renamed_applied_migration_is_refused(pg_fresh_url: str) -> None:
    conn = await asyncpg.connect(pg_fresh_url)
    first = Migration(1, "first", "CREATE TABLE t1 (x int)")
    assert await migrate(conn, "demo", [first]) == (False, [1])
    with pytest.raises(MigrationFailed, match="'first' in the database but 'renamed' here"):
        await migrate(conn, "demo", [Migration(1, "renamed", first.sql)])
    await conn.close()


async def test_a_failing_migration_leaves_the_previous_version(pg_fresh_url: str) -> None:
    conn = await asyncpg.connect(pg_fresh_url)
    good = Migration(1, "good", "CREATE TABLE t2 (x int)")
    bad = Migration(2, "bad", "CREATE TABLE t3 (x int); INSERT INTO nowhere VALUES (1)")
    with pytest.raises(MigrationFailed, match="0002_bad failed"):
        await migrate(conn, "demo", [good, bad])
    assert await conn.fetchval("SELECT max(version) FROM schema_migrations") == 1
    assert await conn.fetchval("SELECT to_regclass('t3')") is None  # rolled back entirely
    await conn.close()


async def test_partition_for_a_month_already_in_default_is_not_forced(pg_fresh_url: str) -> None:
    db = await Database.connect(pg_fresh_url)
    await db.migrate("situation_api", "history")
    old = datetime(2020, 5, 17, tzinfo=UTC)
    await db.pool.execute(
        "INSERT INTO situation_change_blocks"
        " VALUES (1, 1, $1, $1, ARRAY[$1::timestamptz], '{e:i}', '')",
        old,
    )
    ensure = "SELECT lz_ensure_month_partition('situation_change_blocks', 'first_at', $1)"
    made = await db.pool.fetchval(ensure, old)
    assert made is False  # the row stays in DEFAULT; creating the partition would fail
    assert await db.pool.fetchval(ensure, old + timedelta(days=60)) is True
    found = await db.pool.fetchval("SELECT to_regclass('situation_change_blocks_p202007')")
    assert found is not None
    await db.close()


async def test_partitions_made_later_keep_the_parents_statistics_targets(
    pg_fresh_url: str,
) -> None:
    db = await Database.connect(pg_fresh_url)
    await db.migrate("ingest.store", "report_log")
    await db.migrate("situation_api", "history")
    await db.ensure_partitions("reports", "received_at", [datetime(2031, 4, 2, tzinfo=UTC)])
    await db.ensure_partitions(
        "situation_change_blocks", "first_at", [datetime(2031, 4, 2, tzinfo=UTC)]
    )
    targets = {
        (row[0], row[1]): row[2]
        for row in await db.pool.fetch(
            "SELECT attrelid::regclass::text, attname, attstattarget FROM pg_attribute"
            " WHERE attrelid IN ('reports_p203104'::regclass,"
            " 'situation_change_blocks_p203104'::regclass) AND attnum > 0"
        )
    }
    assert targets[("reports_p203104", "report")] == targets[("reports_p203104", "raw")] == 0
    assert targets[("situation_change_blocks_p203104", "changes")] == 0
    assert targets[("situation_change_blocks_p203104", "ats")] == 0
    assert targets[("reports_p203104", "source")] is None  # the default, as on the parent
    await db.close()


@pytest.fixture(params=["memory", "postgres"])
async def feeds(request: pytest.FixtureRequest) -> AsyncIterator[FeedStatusStore]:
    if request.param == "memory":
        yield MemoryFeedStatusStore()
        return
    db = await Database.connect(request.getfixturevalue("pg_fresh_url"))
    yield await PostgresFeedStatusStore.open(db)
    await db.close()


async def test_feed_status_upsert_get_list(feeds: FeedStatusStore) -> None:
    t = datetime(2025, 11, 29, 9, 0, tzinfo=UTC)
    dwd = FeedStatus(feed="dwd-cap", updated_at=t, last_success=t, items=42, lag_seconds=3.5,
                     etag='"abc"', last_modified="Sat, 29 Nov 2025 08:59:00 GMT")  # fmt: skip
    nina = FeedStatus(feed="nina", updated_at=t, last_error=t, error="HTTP 503")
    await feeds.upsert(nina)
    await feeds.upsert(dwd)
    assert await feeds.list() == [dwd, nina]
    failed = FeedStatus(feed="dwd-cap", updated_at=t + timedelta(minutes=1), last_success=t,
                        last_error=t + timedelta(minutes=1), error="timeout", items=42)  # fmt: skip
    await feeds.upsert(failed)
    assert await feeds.get("dwd-cap") == failed
    assert await feeds.get("unknown") is None


async def test_a_lost_table_reaches_the_writer_as_store_unavailable(pg_fresh_url: str) -> None:
    db = await Database.connect(pg_fresh_url)
    await db.migrate("situation_api", "history")
    await db.pool.execute("DROP TABLE situation_change_blocks")
    with pytest.raises(StoreUnavailable, match="partitions of situation_change_blocks"):
        await db.ensure_partitions("situation_change_blocks", "first_at", [datetime.now(UTC)])
    await db.close()
