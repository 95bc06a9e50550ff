"""Several API instances append to one PostgreSQL journal (the distributed mode): however their
appends interleave, the entries form one unbroken chain."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from ingest.store import Database
from situation_api.journal import PostgresJournal, entries, verify

AT = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


async def test_concurrent_appends_of_two_instances_keep_one_chain(pg_fresh_url: str) -> None:
    pools = [await Database.connect(pg_fresh_url) for _ in range(2)]
    try:
        stores = [await PostgresJournal.open(db) for db in pools]

        async def append(store: PostgresJournal, instance: int, n: int) -> int:
            entry = await store.append(
                AT + timedelta(seconds=n),
                f"operator {instance}",
                "note",
                f"inc-{instance:012x}",
                {"input": {"text": f"note {n} of instance {instance}"}},
            )
            return entry.seq

        seqs = await asyncio.gather(*(append(stores[i % 2], i % 2, i) for i in range(40)))
        assert sorted(seqs) == list(range(1, 41))  # no seq taken twice
        found = [e async for e in entries(stores[0])]
        assert len(found) == 40
        assert verify(found).ok
        assert {e.actor for e in found} == {"operator 0", "operator 1"}
    finally:
        for db in pools:
            await db.close()
