"""The writer's memory of its last committed entries (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from ingest.report import Report, encode_report, with_server_fields
from ingest.store.recent import RecentEntries
from tests.ingest.store.conftest import MakeItem

RECEIVED = datetime(2025, 11, 29, 9, 0, tzinfo=UTC)


def _stored(make_item: MakeItem, offset: int) -> Report:
    report, _ = make_item(offset)
    return with_server_fields(report, received_at=RECEIVED, offset=offset)


def _entries(make_item: MakeItem, offsets: list[int], capacity: int = 10) -> RecentEntries:
    recent = RecentEntries(capacity)
    for offset in offsets:
        recent.add(offset, encode_report(_stored(make_item, offset)))
    return recent


def test_a_run_starts_after_the_offset_asked_for_and_stops_at_the_limit(
    make_item: MakeItem,
) -> None:
    recent = _entries(make_item, [1, 2, 3, 4])
    assert [r.offset for r in recent.run(1, 2)] == [2, 3]
    assert [r.offset for r in recent.run(0, 100)] == [1, 2, 3, 4]
    assert recent.run(4, 10) == []


def test_a_run_stops_at_the_first_offset_not_kept(make_item: MakeItem) -> None:
    recent = _entries(make_item, [1, 2, 5, 6])  # 3 and 4 were written by another process
    assert [r.offset for r in recent.run(0, 10)] == [1, 2]
    assert recent.run(2, 10) == []
    assert [r.offset for r in recent.run(4, 10)] == [5, 6]


def test_the_oldest_entries_are_forgotten_first(make_item: MakeItem) -> None:
    recent = _entries(make_item, list(range(1, 8)), capacity=3)
    assert len(recent) == 3
    assert recent.run(0, 10) == []
    assert [r.offset for r in recent.run(4, 10)] == [5, 6, 7]


def test_entries_decode_to_the_report_that_was_encoded(make_item: MakeItem) -> None:
    stored = _stored(make_item, 9)
    recent = RecentEntries(4)
    recent.add(9, encode_report(stored))
    [read] = recent.run(8, 1)
    assert read == stored
    assert msgspec.structs.asdict(read) == msgspec.structs.asdict(stored)
