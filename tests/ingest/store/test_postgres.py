"""What only the PostgreSQL report log has to show: several writers (processes), partitions,
notifications across instances, the stored columns."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime

import asyncpg
import msgspec
import pytest

from ingest.report import Point, Report, decode_report
from ingest.store import (
    Database,
    MemoryReportLog,
    PostgresReportLog,
    StoreClosed,
    StoreUnavailable,
    UnsupportedURL,
    open_report_log,
)
from tests.ingest.store.conftest import MakeItem, OpenLog


async def test_two_writers_and_a_tailing_reader_never_see_offsets_out_of_order(
    pg_fresh_url: str, make_item: MakeItem, open_log: OpenLog
) -> None:
    # Two PostgresReportLog instances with their own pools stand for two processes.
    a = await open_log()
    b = await open_log()
    reader = await open_log()
    seen: list[int] = []
    done = asyncio.Event()

    async def tail() -> None:
        after = 0
        while not (done.is_set() and after == await reader.last_offset()):
            page = await reader.read(after, 50)
            seen.extend(r.offset or 0 for r in page)
            if page:
                after = page[-1].offset or 0
            else:
                await reader.wait_for(after, 0.05)

    async def write(log: PostgresReportLog, base: int) -> None:
        for n in range(base, base + 150, 3):
            await log.append([make_item(n), make_item(n + 1), make_item(n + 2)])

    tailer = asyncio.create_task(tail())
    await asyncio.gather(*(write(log, k * 1000) for k in range(4) for log in (a, b)))
    done.set()
    await asyncio.wait_for(tailer, 30)
    # Every entry was seen exactly once, in order: no entry committed "behind" the reader.
    assert seen == list(range(1, await reader.last_offset() + 1))
    assert len(seen) == 4 * 150  # both writers wrote every n: the second copy is a duplicate


async def test_wait_for_hears_appends_of_another_instance(
    pg_fresh_url: str, make_item: MakeItem, open_log: OpenLog
) -> None:
    writer = await open_log()
    listener = await open_log()
    waiting = asyncio.create_task(listener.wait_for(0, 10.0))
    await asyncio.sleep(0.1)
    assert not waiting.done()
    loop = asyncio.get_running_loop()
    started = loop.time()
    await writer.append([make_item(1)])
    assert await waiting is True
    assert loop.time() - started < 1.0  # NOTIFY, not the polling fallback


async def test_columns_and_monthly_partition(pg_fresh_url: str, make_item: MakeItem) -> None:
    log = await PostgresReportLog.open(pg_fresh_url)
    report, raw = make_item(3)
    [appended] = await log.append([(report, raw)])
    conn = await asyncpg.connect(pg_fresh_url)
    row = await conn.fetchrow(
        "SELECT tableoid::regclass::text AS part, source, source_id, sequence, msg_type, status,"
        " category, observed_at, raw, report->>'headline' AS headline FROM reports"
    )
    assert row is not None
    now = datetime.now(UTC)
    assert row["part"] == f"reports_p{now:%Y%m}"  # not the DEFAULT partition
    assert (row["source"], row["source_id"], row["sequence"]) == report.key
    assert (row["msg_type"], row["status"], row["category"]) == ("alert", "actual", "fire.building")
    assert row["observed_at"] == report.observed_at
    assert row["raw"] == raw
    assert row["headline"] == report.headline
    key = await conn.fetchrow("SELECT log_offset, received_at FROM report_keys")
    assert key is not None
    assert (key["log_offset"], key["received_at"]) == (1, appended.report.received_at)
    next_month = await conn.fetchval(
        "SELECT count(*) FROM pg_inherits WHERE inhparent = 'reports'::regclass"
    )
    assert next_month == 3  # default + this month + next month, made ahead of time
    await conn.close()
    await log.close()


async def test_reopened_log_continues_offsets(pg_fresh_url: str, make_item: MakeItem) -> None:
    log = await PostgresReportLog.open(pg_fresh_url)
    await log.append([make_item(n) for n in range(3)])
    await log.close()
    with pytest.raises(StoreClosed):
        await log.append([make_item(9)])
    again = await PostgresReportLog.open(pg_fresh_url)
    appended = await again.append([make_item(2), make_item(3)])
    assert [(a.offset, a.duplicate) for a in appended] == [(3, True), (4, False)]
    await again.close()


async def test_read_decodes_what_was_stored_even_without_geometry_checks(
    pg_fresh_url: str, make_item: MakeItem
) -> None:
    log = await PostgresReportLog.open(pg_fresh_url)
    report, raw = make_item(5)
    cancel = msgspec.structs.replace(report, msg_type="cancel", geometry=None, area_codes=(),
                                     sequence=2)  # fmt: skip
    await log.append([(report, raw), (cancel, b"{}")])
    stored = await log.read(0, 10)
    assert [type(r) for r in stored] == [Report, Report]
    assert stored[1].msg_type == "cancel"
    assert stored[1].geometry is None
    await log.close()


async def test_open_report_log_picks_the_adapter_by_url(pg_fresh_url: str) -> None:
    memory = await open_report_log("memory://")
    assert isinstance(memory, MemoryReportLog)
    postgres = await open_report_log(pg_fresh_url)
    assert isinstance(postgres, PostgresReportLog)
    await postgres.close()
    with pytest.raises(UnsupportedURL, match="'kafka'"):
        await open_report_log("kafka://localhost:9092")


async def test_shared_database_is_not_closed_by_the_log(pg_fresh_url: str) -> None:
    db = await Database.connect(pg_fresh_url)
    log = await PostgresReportLog.open(db)
    await log.close()
    assert await db.pool.fetchval("SELECT last_offset FROM report_log_head") == 0
    await db.close()


async def test_a_head_lost_with_its_database_is_store_unavailable(pg_fresh_url: str) -> None:
    # what a writer sees when its schema goes between the migrations and the first read
    db = await Database.connect(pg_fresh_url)
    log = await PostgresReportLog.open(db)
    schema = pg_fresh_url.rpartition("search_path=")[2]
    await db.pool.execute(f'DROP SCHEMA "{schema}" CASCADE')
    with pytest.raises(StoreUnavailable, match="log's head"):
        await log.last_offset()
    await log.close()
    await db.close()


async def test_batches_take_one_statement_unless_its_assumptions_fail(
    pg_fresh_url: str, make_item: MakeItem, open_log: OpenLog
) -> None:
    """New reports and a head nobody else moved: lz_append_reports. A head moved by another
    writer, a key logged already or repeated in the batch: the locking path, same results."""
    a = await open_log()
    b = await open_log()
    first = await a.append([make_item(1), make_item(2)])
    assert [(r.offset, r.duplicate) for r in first] == [(1, False), (2, False)]
    assert (a.batches_fast, a.batches_locked) == (1, 0)

    # b last heard of head 0 only if the notification has not come yet; either way its batch
    # lands after a's with the next offsets
    b._head = 0  # as if a's notification were still on its way
    moved = await b.append([make_item(3)])
    assert [(r.offset, r.duplicate) for r in moved] == [(3, False)]
    assert (b.batches_fast, b.batches_locked) == (0, 1)

    # a key in the log already: refused by the function, then acknowledged as a duplicate
    again = await a.append([make_item(4), make_item(1)])
    assert [(r.offset, r.duplicate) for r in again] == [(4, False), (1, True)]
    # the same key twice in one batch
    twice = await a.append([make_item(5), make_item(5)])
    assert [(r.offset, r.duplicate) for r in twice] == [(5, False), (5, True)]
    assert (a.batches_fast, a.batches_locked) == (1, 2)
    after = await a.append([make_item(6)])
    assert [r.offset for r in after] == [6]
    assert a.batches_fast == 2

    # what the function wrote reads back like what the locking path wrote
    stored = await a.read(0, 10)
    assert [r.offset for r in stored] == [1, 2, 3, 4, 5, 6]
    assert [r.source_id for r in stored] == [f"E-{n:06d}" for n in range(1, 7)]
    assert all(r.received_at is not None for r in stored)
    assert await a.read_raw(6) == make_item(6)[1]
    keys = await a._db.pool.fetchval("SELECT count(*) FROM report_keys")
    assert keys == 6


async def test_the_writer_reads_what_it_committed_without_the_server(
    pg_fresh_url: str, make_item: MakeItem, open_log: OpenLog
) -> None:
    db = await Database.connect(pg_fresh_url)
    writer = await open_log(db)
    await writer.append([make_item(n) for n in range(1, 4)])  # lz_append_reports
    await writer.append([make_item(4), make_item(4), make_item(5)])  # the locking path
    fresh = await open_log()
    from_server = await fresh.read(0, 10)
    assert [r.offset for r in from_server] == [1, 2, 3, 4, 5]

    await db.close()  # from here on any query of the writer fails
    assert await writer.read(0, 10) == from_server
    assert await writer.read(2, 2) == from_server[2:4]
    assert await writer.read(5, 10) == []  # nothing newer committed, or it would have heard

    await fresh.append([make_item(6)])  # another writer: heard of, not kept
    assert await writer.wait_for(5, 5.0)
    with pytest.raises(asyncpg.InterfaceError):
        await writer.read(5, 10)  # that read needs the server


async def test_a_writer_reading_past_another_writers_entries_gets_them_from_the_server(
    pg_fresh_url: str, make_item: MakeItem, open_log: OpenLog
) -> None:
    a = await open_log()
    b = await open_log()
    await a.append([make_item(1), make_item(2)])
    await b.append([make_item(3)])
    await a.append([make_item(4), make_item(5)])
    read = await a.read(0, 10)  # a's own, b's from the server, a's own
    reader = await open_log()
    assert read == await reader.read(0, 10)
    assert [r.source_id for r in read] == [f"E-{n:06d}" for n in range(1, 6)]


async def test_a_report_sent_with_negative_zero_reads_the_same_from_memory_and_the_server(
    pg_fresh_url: str, make_item: MakeItem, open_log: OpenLog
) -> None:
    report, _ = make_item(1)
    sent = {**msgspec.to_builtins(report), "area_codes": []}
    sent["geometry"] = {"type": "Point", "coordinates": [-0.0, 50.0]}
    raw = msgspec.json.encode(sent)
    writer = await open_log()
    await writer.append([(decode_report(raw), raw)])
    reader = await open_log()
    kept, stored = await writer.read(0, 10), await reader.read(0, 10)  # memory, server
    assert kept == stored
    for [read] in (kept, stored):
        assert isinstance(read.geometry, Point)
        assert math.copysign(1.0, read.geometry.coordinates[0]) == 1.0
    # why the report model drops the sign: the log would
    assert await reader._db.pool.fetchval("SELECT '[-0.0]'::jsonb::text") == "[0.0]"
