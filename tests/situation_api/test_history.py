"""HistoryStore contract on both adapters (memory and the real embedded PostgreSQL)."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import asyncpg.pool
import pytest

from ingest.store import Database, StoreUnavailable
from ingest.store.migrations import load_migrations, migrate
from situation_api.blocks import pack, unpack
from situation_api.history import (
    COMPONENT,
    SNAPSHOTS_KEPT,
    HistoryStore,
    MemoryHistoryStore,
    PostgresHistoryStore,
    StoredChange,
)

T0 = datetime(2025, 11, 29, 8, 0, tzinfo=UTC)


def change(seq: int, minutes: float, kind: str = "incident_opened") -> StoredChange:
    payload = {"id": f"inc-{seq % 7}", "status": "open", "severity": "moderate"}
    return StoredChange(
        seq=seq,
        at=T0 + timedelta(minutes=minutes),
        kind=kind,
        entity="incident",
        entity_id=f"inc-{seq % 7}",
        payload=json.dumps(payload).encode(),
    )


@pytest.fixture(params=["memory", "postgres"])
async def history(request: pytest.FixtureRequest) -> AsyncIterator[HistoryStore]:
    if request.param == "memory":
        yield MemoryHistoryStore()
        return
    db = await Database.connect(request.getfixturevalue("pg_fresh_url"))
    store = await PostgresHistoryStore.open(db)
    yield store
    await store.close()
    await db.close()


@pytest.fixture
async def pg_history(pg_fresh_url: str) -> AsyncIterator[tuple[Database, PostgresHistoryStore]]:
    db = await Database.connect(pg_fresh_url)
    store = await PostgresHistoryStore.open(db)
    yield db, store
    await store.close()
    await db.close()


def same(a: StoredChange, b: StoredChange) -> bool:
    """Equal, with the payload compared as JSON (jsonb normalises white space)."""
    return (a.seq, a.at, a.kind, a.entity, a.entity_id) == (
        b.seq, b.at, b.kind, b.entity, b.entity_id,
    ) and json.loads(a.payload) == json.loads(b.payload)  # fmt: skip


async def test_append_and_read_since_in_seq_order(history: HistoryStore) -> None:
    changes = [change(seq, seq * 1.5) for seq in range(1, 31)]
    assert await history.append(changes[:10]) == 10
    assert await history.append(changes[10:]) == 20
    assert await history.head() == 30
    page = await history.since(5, 10)
    assert [c.seq for c in page] == list(range(6, 16))
    assert all(same(a, b) for a, b in zip(page, changes[5:15], strict=True))
    assert await history.since(30, 10) == []


async def test_changes_at_or_below_the_head_are_ignored(history: HistoryStore) -> None:
    await history.append([change(1, 0), change(2, 1), change(3, 2)])
    # a restarted engine re-emits 2 and 3, then continues with 4
    assert await history.append([change(2, 1), change(3, 2), change(4, 3)]) == 1
    assert [c.seq for c in await history.since(0, 100)] == [1, 2, 3, 4]


async def test_until_gives_the_changes_up_to_a_past_time(history: HistoryStore) -> None:
    await history.append([change(seq, seq * 10.0) for seq in range(1, 11)])
    upto = await history.until(T0 + timedelta(minutes=45))
    assert [c.seq for c in upto] == [1, 2, 3, 4]
    after_snapshot = await history.until(T0 + timedelta(minutes=45), after=2)
    assert [c.seq for c in after_snapshot] == [3, 4]


async def test_changes_across_months_and_years_are_stored(history: HistoryStore) -> None:
    # Native partitioning creates monthly partitions on demand; old times go to DEFAULT.
    moments = [datetime(2019, 3, 1, tzinfo=UTC), datetime(2025, 12, 31, 23, 59, tzinfo=UTC),
               datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 15, tzinfo=UTC)]  # fmt: skip
    changes = [
        StoredChange(i + 1, at, "warning_issued", "warning", f"w{i}", b"{}")
        for i, at in enumerate(moments)
    ]
    assert await history.append(changes) == 4
    assert [c.at for c in await history.since(0, 10)] == moments
    assert [c.seq for c in await history.until(datetime(2026, 1, 1, tzinfo=UTC))] == [1, 2, 3]


async def test_pages_cross_the_stored_writes(history: HistoryStore) -> None:
    # Twelve writes of three (twelve blocks in PostgreSQL): a page spans several of them.
    for first in range(1, 37, 3):
        await history.append([change(seq, seq * 1.0) for seq in range(first, first + 3)])
    assert [c.seq for c in await history.since(4, 20)] == list(range(5, 25))
    assert [c.seq for c in await history.since(0, 1000)] == list(range(1, 37))
    assert [c.seq for c in await history.since(35, 5)] == [36]
    assert await history.since(3, 0) == []


async def test_a_head_lost_with_its_database_is_store_unavailable(
    pg_fresh_url: str, pg_history: tuple[Database, PostgresHistoryStore]
) -> None:
    # the archive reads the head right after the migrations: a schema gone in between must
    # reach it as StoreUnavailable (tests/distributed/test_archive.py met this race in CI)
    db, store = pg_history
    await db.pool.execute(f'DROP SCHEMA "{pg_fresh_url.rpartition("search_path=")[2]}" CASCADE')
    with pytest.raises(StoreUnavailable, match="history's head"):
        await store._stored_head()


async def test_a_long_page_takes_few_round_trips(
    pg_history: tuple[Database, PostgresHistoryStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, store = pg_history
    for first in range(1, 2001, 10):  # 200 writes, 200 blocks of ten
        await store.append([change(seq, seq * 1.0) for seq in range(first, first + 10)])
    queries = 0
    fetch = asyncpg.pool.Pool.fetch

    async def counted(self: asyncpg.pool.Pool, *args: Any, **kwargs: Any) -> Any:
        nonlocal queries
        queries += 1
        return await fetch(self, *args, **kwargs)

    monkeypatch.setattr(asyncpg.pool.Pool, "fetch", counted)
    page = await store.since(0, 1500)
    assert [c.seq for c in page] == list(range(1, 1501))
    assert queries <= 3  # four blocks a query, as before, took 38


async def test_until_takes_each_change_by_its_own_time(history: HistoryStore) -> None:
    # A late report's changes carry an earlier time than the changes before them.
    times = [10.0, 20.0, 5.0, 30.0, 15.0, 40.0]
    await history.append([change(seq, t) for seq, t in enumerate(times, start=1)])
    assert [c.seq for c in await history.until(T0 + timedelta(minutes=16))] == [1, 3, 5]
    assert [c.seq for c in await history.until(T0 + timedelta(minutes=4))] == []


async def test_for_entity_gives_one_entity_in_seq_order(history: HistoryStore) -> None:
    for first in range(1, 31, 10):
        await history.append([change(seq, seq * 1.0) for seq in range(first, first + 10)])
    found = await history.for_entity("incident", "inc-3")
    assert [c.seq for c in found] == [3, 10, 17, 24]
    assert await history.for_entity("warning", "inc-3") == []


async def test_count_changes_per_bucket(history: HistoryStore) -> None:
    # 25 changes, one every 7 minutes from 08:00: buckets of 30 min hold 5, 4, 4, 5, 4, 3.
    await history.append([change(seq, (seq - 1) * 7.0) for seq in range(1, 26)])
    counts = await history.count_changes(timedelta(minutes=30), T0, T0 + timedelta(hours=3))
    expected: dict[datetime, int] = {}
    for seq in range(1, 26):
        at = T0 + timedelta(minutes=(seq - 1) * 7.0)
        start = at.replace(minute=at.minute - at.minute % 30, second=0)
        expected[start] = expected.get(start, 0) + 1
    assert counts == sorted(expected.items())
    assert sum(n for _, n in counts) == 25
    later = await history.count_changes(
        timedelta(hours=1), T0 + timedelta(hours=2), T0 + timedelta(hours=3)
    )
    assert later == [(T0 + timedelta(hours=2), 25 - 18)]  # seq 19.. at 126 min and later


async def test_weekly_buckets_start_on_monday(history: HistoryStore) -> None:
    # 2025-11-29 is a Saturday: its week bucket starts Monday 2025-11-24 00:00 UTC.
    await history.append([change(1, 0)])
    counts = await history.count_changes(
        timedelta(days=7), T0 - timedelta(days=30), T0 + timedelta(days=1)
    )
    assert counts == [(datetime(2025, 11, 24, tzinfo=UTC), 1)]


async def test_snapshots_latest_and_at_a_past_time(history: HistoryStore) -> None:
    assert await history.latest_snapshot() is None
    for n in range(1, 9):
        picture = json.dumps({"seq": n * 10, "incidents": []}).encode()
        await history.save_snapshot(n * 10, T0 + timedelta(hours=n), b"\x00state%d" % n, picture)
    latest = await history.latest_snapshot()
    assert latest is not None
    assert (latest.seq, latest.state) == (80, b"\x00state8")
    assert json.loads(latest.picture) == {"seq": 80, "incidents": []}
    past = await history.latest_snapshot(T0 + timedelta(hours=5, minutes=30))
    assert past is not None
    assert past.seq == 50
    # only the latest few are kept: an hour-2 snapshot is gone
    assert await history.latest_snapshot(T0 + timedelta(hours=2)) is None
    assert SNAPSHOTS_KEPT == 5


async def test_rebuild_picture_at_past_time_from_snapshot_plus_changes(
    history: HistoryStore,
) -> None:
    await history.append([change(seq, seq * 10.0) for seq in range(1, 21)])
    await history.save_snapshot(8, T0 + timedelta(minutes=80), b"s8", b'{"seq": 8}')
    when = T0 + timedelta(minutes=125)
    base = await history.latest_snapshot(when)
    assert base is not None
    rest = await history.until(when, after=base.seq)
    assert [c.seq for c in rest] == [9, 10, 11, 12]


async def test_a_snapshot_saved_packed_reads_back_plain(history: HistoryStore) -> None:
    # what a forked encoder hands over (situation_api.runtime packs in the child)
    state, picture = b"\x85" + b"engine state " * 1000, b'{"seq": 3, "incidents": []}'
    await history.save_snapshot(3, T0, pack(state), pack(picture))
    latest = await history.latest_snapshot()
    assert latest is not None
    assert (latest.state, latest.picture) == (state, picture)


async def test_a_packed_part_is_stored_as_it_is(
    pg_history: tuple[Database, PostgresHistoryStore],
) -> None:
    db, store = pg_history
    packed = pack(b"\x85" + b"engine state " * 10_000)
    await store.save_snapshot(1, T0, packed, pack(b'{"seq": 1}'))
    stored = await db.pool.fetchval(
        "SELECT string_agg(data, ''::bytea ORDER BY n) FROM snapshot_chunks"
        " WHERE seq = 1 AND part = 0"
    )
    assert stored == packed  # not compressed a second time
    assert unpack(stored) == b"\x85" + b"engine state " * 10_000
    assert unpack(b"\x85plain") == b"\x85plain"  # a part never packed reads as it is


async def test_snapshots_are_stored_compressed_and_rows_stored_plain_still_read(
    pg_history: tuple[Database, PostgresHistoryStore],
) -> None:
    db, store = pg_history
    incidents = [{"id": f"inc-{n:06d}", "status": "open", "threads": []} for n in range(2000)]
    picture = json.dumps({"seq": 1, "incidents": incidents}).encode()
    state = b"\x85" + b"engine state " * 10_000
    await store.save_snapshot(1, T0, state, picture)
    rows = await db.pool.fetch(
        "SELECT part, sum(octet_length(data)) FROM snapshot_chunks WHERE seq = 1 GROUP BY part"
    )
    sizes = {row[0]: row[1] for row in rows}
    assert 0 < sizes[0] < len(state) / 10
    assert 0 < sizes[1] < len(picture) / 5
    # a row as written before migration 0002 (plain bytes; the picture was jsonb, now its text)
    await db.pool.execute(
        "INSERT INTO snapshots (seq, at, engine_state, picture) VALUES (2, $1, $2, $3)",
        T0 + timedelta(hours=1), b"\x85plain", b'{"seq": 2}',
    )  # fmt: skip
    latest = await store.latest_snapshot()
    assert latest is not None
    assert (latest.seq, latest.state, latest.picture) == (2, b"\x85plain", b'{"seq": 2}')
    earlier = await store.latest_snapshot(T0 + timedelta(minutes=30))
    assert earlier is not None
    assert (earlier.state, earlier.picture) == (state, picture)


async def test_a_large_snapshot_is_written_in_chunks_that_leave_with_it(
    pg_history: tuple[Database, PostgresHistoryStore],
) -> None:
    db, store = pg_history
    state = random.Random(5).randbytes(600_000)  # incompressible: three chunks of 256 kB
    picture = b'{"seq": 1, "incidents": []}'
    # a save cut short before its row: chunks that no snapshot names
    await db.pool.execute("INSERT INTO snapshot_chunks VALUES (1, 0, 7, 'left over')")
    await store.save_snapshot(1, T0, state, picture)
    assert await db.pool.fetchval("SELECT count(*) FROM snapshot_chunks WHERE part = 0") == 3
    latest = await store.latest_snapshot()
    assert latest is not None
    assert (latest.state, latest.picture) == (state, picture)
    await store.save_snapshot(1, T0, b"\x85small", picture)  # the same seq again, smaller
    assert await db.pool.fetchval("SELECT count(*) FROM snapshot_chunks WHERE part = 0") == 1
    for seq in range(2, 2 + SNAPSHOTS_KEPT):
        await store.save_snapshot(seq, T0 + timedelta(minutes=seq), state, picture)
    kept = await db.pool.fetch("SELECT DISTINCT seq FROM snapshot_chunks ORDER BY seq")
    assert [r[0] for r in kept] == list(range(2, 2 + SNAPSHOTS_KEPT))  # seq 1 left with its row
    oldest = await store.latest_snapshot(T0 + timedelta(minutes=2))
    assert oldest is not None
    assert oldest.state == state


async def test_migration_2_keeps_the_pictures_of_snapshots_already_stored(
    pg_fresh_url: str,
) -> None:
    conn = await asyncpg.connect(pg_fresh_url)
    first, second, *_ = load_migrations("situation_api")
    await migrate(conn, COMPONENT, [first])
    await conn.execute(
        "INSERT INTO snapshots (seq, at, engine_state, picture)"
        """ VALUES (7, $1, '\\x85'::bytea, '{"seq": 7, "incidents": [{"id": "inc-1"}]}'::jsonb)""",
        T0,
    )
    await migrate(conn, COMPONENT, [first, second])
    await conn.close()
    db = await Database.connect(pg_fresh_url)
    store = await PostgresHistoryStore.open(db)
    snapshot = await store.latest_snapshot()
    assert snapshot is not None
    assert snapshot.state == b"\x85"
    assert json.loads(snapshot.picture) == {"seq": 7, "incidents": [{"id": "inc-1"}]}
    await store.close()
    await db.close()


async def test_a_write_is_one_compressed_block_that_keeps_payloads_byte_for_byte(
    pg_history: tuple[Database, PostgresHistoryStore],
) -> None:
    db, store = pg_history
    view = {
        "status": "open",
        "id": "inc-1",
        "threads": [{"thread": f"police:{n}"} for n in range(9)],
    }
    payload = json.dumps(view, separators=(",", ":")).encode()  # keys not in jsonb's order
    changes = [
        StoredChange(seq, T0 + timedelta(seconds=seq), "IncidentUpdated", "incident", "inc-1",
                     payload)
        for seq in range(1, 201)
    ]  # fmt: skip
    assert await store.append(changes) == 200
    row = await db.pool.fetchrow(
        "SELECT count(*), sum(octet_length(changes)), min(first_seq), max(last_seq),"
        " min(first_at), max(last_at), max(cardinality(ats)) FROM situation_change_blocks"
    )
    assert row is not None
    count, size, *ranges = row
    assert count == 1
    assert size < 200 * len(payload) / 5
    assert tuple(ranges) == (1, 200, T0 + timedelta(seconds=1), T0 + timedelta(seconds=200), 200)
    assert [c.payload for c in await store.since(0, 500)] == [payload] * 200


async def test_migration_3_moves_the_changes_stored_per_row_into_blocks(
    pg_fresh_url: str,
) -> None:
    conn = await asyncpg.connect(pg_fresh_url)
    first, second, third, *_ = load_migrations("situation_api")
    await migrate(conn, COMPONENT, [first, second])
    before = [change(seq, seq * 3.0) for seq in range(1, 2501)]  # three blocks of <= 1,000
    await conn.copy_records_to_table(
        "situation_changes",
        records=[(c.seq, c.at, c.kind, c.entity, c.entity_id, c.payload.decode()) for c in before],
        columns=["seq", "at", "kind", "entity", "entity_id", "payload"],
    )
    await migrate(conn, COMPONENT, [first, second, third])
    assert await conn.fetchval("SELECT count(*) FROM situation_change_blocks") == 3
    assert await conn.fetchval("SELECT to_regclass('situation_changes')") is None
    await conn.close()
    db = await Database.connect(pg_fresh_url)
    store = await PostgresHistoryStore.open(db)
    assert await store.head() == 2500
    moved = await store.since(0, 5000)
    assert len(moved) == 2500
    assert all(same(a, b) for a, b in zip(moved, before, strict=True))
    upto = await store.until(T0 + timedelta(minutes=30), after=4)
    assert [c.seq for c in upto] == list(range(5, 11))
    assert [c.seq for c in await store.for_entity("incident", "inc-0")][:3] == [7, 14, 21]
    counts = await store.count_changes(
        timedelta(days=1), T0 - timedelta(days=1), T0 + timedelta(days=30)
    )
    assert sum(n for _, n in counts) == 2500
    # writing goes on above the moved changes, in compressed blocks
    assert await store.append([change(2500, 0), change(2501, 7600.0)]) == 1
    assert [c.seq for c in await store.since(2499, 10)] == [2500, 2501]
    await store.close()
    await db.close()
