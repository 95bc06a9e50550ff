"""The ReportLog contract, checked on every adapter (memory and the real embedded PostgreSQL)."""

from __future__ import annotations

import asyncio

import msgspec

from ingest.store import ReportLog
from tests.ingest.store.conftest import MakeItem


def without_server_fields(report: object) -> object:
    return msgspec.structs.replace(report, received_at=None, offset=None)  # type: ignore[type-var]


async def test_offsets_start_at_one_and_follow_the_order_of_items(
    report_log: ReportLog, make_item: MakeItem
) -> None:
    items = [make_item(n) for n in range(5)]
    appended = await report_log.append(items)
    assert [a.offset for a in appended] == [1, 2, 3, 4, 5]
    assert [a.duplicate for a in appended] == [False] * 5
    assert await report_log.last_offset() == 5


async def test_server_fields_are_set_and_the_report_is_stored_unchanged(
    report_log: ReportLog, make_item: MakeItem
) -> None:
    items = [make_item(n) for n in range(3)]
    appended = await report_log.append(items)
    stored = await report_log.read(0, 10)
    assert stored == [a.report for a in appended]
    received = {a.report.received_at for a in appended}
    assert len(received) == 1
    assert None not in received
    for (sent, _), entry in zip(items, stored, strict=True):
        assert entry.offset is not None
        assert entry.received_at is not None
        assert without_server_fields(entry) == sent
        assert entry.received_at.utcoffset() is not None


async def test_raw_payload_is_kept_byte_for_byte(
    report_log: ReportLog, make_item: MakeItem
) -> None:
    items = [make_item(n) for n in range(3)]
    appended = await report_log.append(items)
    for (_, raw), result in zip(items, appended, strict=True):
        assert await report_log.read_raw(result.offset) == raw
    assert await report_log.read_raw(99) is None


async def test_duplicate_in_a_later_batch_gets_the_original_offset_and_time(
    report_log: ReportLog, make_item: MakeItem
) -> None:
    first = await report_log.append([make_item(0), make_item(1)])
    again = await report_log.append([make_item(2), make_item(1)])
    assert [a.duplicate for a in again] == [False, True]
    assert again[1].offset == first[1].offset == 2
    assert again[1].report.received_at == first[1].report.received_at
    assert again[0].offset == 3  # no gap left by the duplicate
    assert await report_log.last_offset() == 3
    assert [r.offset for r in await report_log.read(0, 10)] == [1, 2, 3]


async def test_same_key_twice_in_one_batch_stores_the_first(
    report_log: ReportLog, make_item: MakeItem
) -> None:
    original = make_item(7, source_id="E-dup")
    copy = make_item(8, source_id="E-dup")  # same key, other content: still a duplicate
    appended = await report_log.append([original, copy, make_item(9)])
    assert [(a.offset, a.duplicate) for a in appended] == [(1, False), (1, True), (2, False)]
    stored = await report_log.read(0, 10)
    assert len(stored) == 2
    assert without_server_fields(stored[0]) == original[0]


async def test_a_higher_sequence_is_a_new_report(
    report_log: ReportLog, make_item: MakeItem
) -> None:
    appended = await report_log.append(
        [make_item(1, source_id="E-x"), make_item(1, source_id="E-x", sequence=2)]
    )
    assert [(a.offset, a.duplicate) for a in appended] == [(1, False), (2, False)]


async def test_read_pages_through_the_log_in_offset_order(
    report_log: ReportLog, make_item: MakeItem
) -> None:
    await report_log.append([make_item(n) for n in range(23)])
    pages: list[int] = []
    after = 0
    while page := await report_log.read(after, 5):
        assert len(page) <= 5
        pages.extend(r.offset or 0 for r in page)
        after = page[-1].offset or 0
    assert pages == list(range(1, 24))
    assert await report_log.read(23, 5) == []
    assert [r.offset for r in await report_log.read(20, 100)] == [21, 22, 23]


async def test_empty_append_and_empty_log(report_log: ReportLog) -> None:
    assert await report_log.append([]) == []
    assert await report_log.last_offset() == 0
    assert await report_log.read(0, 10) == []


async def test_wait_for_times_out_without_new_entries(
    report_log: ReportLog, make_item: MakeItem
) -> None:
    await report_log.append([make_item(0)])
    assert await report_log.wait_for(0, 0.05) is True  # already there
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await report_log.wait_for(1, 0.2) is False
    assert loop.time() - started >= 0.19


async def test_wait_for_wakes_up_on_append(report_log: ReportLog, make_item: MakeItem) -> None:
    waiter = asyncio.create_task(report_log.wait_for(0, 10.0))
    await asyncio.sleep(0.05)
    assert not waiter.done()
    loop = asyncio.get_running_loop()
    started = loop.time()
    await report_log.append([make_item(0)])
    assert await waiter is True
    assert loop.time() - started < 2.0


async def test_wait_for_ignores_entries_up_to_after(
    report_log: ReportLog, make_item: MakeItem
) -> None:
    waiter = asyncio.create_task(report_log.wait_for(2, 5.0))
    await report_log.append([make_item(0)])
    await report_log.append([make_item(1)])
    await asyncio.sleep(0.05)
    assert not waiter.done()  # offsets 1 and 2 are not "after 2"
    await report_log.append([make_item(2)])
    assert await waiter is True


async def test_concurrent_appends_get_distinct_gap_free_offsets(
    report_log: ReportLog, make_item: MakeItem
) -> None:
    async def task(t: int) -> list[tuple[int, bool]]:
        results = []
        for k in range(4):
            # every task also re-sends one report of another task: a duplicate somewhere
            batch = [make_item(t * 10 + k), make_item(((t + 1) % 50) * 10)]
            results += [(a.offset, a.duplicate) for a in await report_log.append(batch)]
        return results

    outcomes = [o for part in await asyncio.gather(*(task(t) for t in range(50))) for o in part]
    new = sorted(offset for offset, duplicate in outcomes if not duplicate)
    assert new == list(range(1, 201))  # 50 tasks x 4 distinct reports, no gaps, no repeats
    assert all(offset in set(new) for offset, duplicate in outcomes if duplicate)
    stored = await report_log.read(0, 1000)
    assert [r.offset for r in stored] == new
    assert len({r.key for r in stored}) == 200
