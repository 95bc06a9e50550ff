"""Level changes of the distributed mode in the journal: each once, although a correlation
worker that crashed publishes again what it had published (same engine seq in its partition),
also across a restart of the journaling process; the chain stays intact."""

from __future__ import annotations

from datetime import UTC, datetime

from correlation.changes import DistrictLevelChanged
from situation_api.journal import MemoryJournal, verify
from situation_api.journal.service import LEVEL_CHANGED, BusLevelJournal

AT = datetime(2026, 11, 29, 11, 0, tzinfo=UTC)


def level(ags: str, engine_seq: int, new: int) -> DistrictLevelChanged:
    return DistrictLevelChanged(
        seq=engine_seq,
        at=AT,
        entity="district",
        id=ags,
        view=None,
        old_level=0,
        new_level=new,
        reason=f"rule {new}",
    )


async def test_copies_from_a_crashed_worker_are_journaled_once() -> None:
    store = MemoryJournal()
    levels = BusLevelJournal(store)
    await levels.start()
    assert await levels.record(0, level("07111", 5, 2), seq=40)
    assert await levels.record(1, level("07315", 3, 1), seq=41)  # another partition's own seqs
    # partition 0's worker crashed and re-published from an older state
    assert not await levels.record(0, level("07111", 5, 2), seq=57)
    assert await levels.record(0, level("07111", 9, 3), seq=60)
    # the archive restarts: the marks come back from the journal
    again = BusLevelJournal(store)
    await again.start()
    assert again.marks == {0: 9, 1: 3}
    assert not await again.record(1, level("07315", 3, 1), seq=41)
    assert await again.record(1, level("07315", 4, 0), seq=70)
    rows = await store.since(0, 10)
    assert [e.action for e in rows] == [LEVEL_CHANGED] * 4
    assert [(e.subject, e.payload["new_level"], e.payload["change_seq"]) for e in rows] == [
        ("district:07111", 2, 40),
        ("district:07315", 1, 41),
        ("district:07111", 3, 60),
        ("district:07315", 0, 70),
    ]
    assert rows[0].payload == {
        "change_seq": 40,
        "old_level": 0,
        "new_level": 2,
        "reason": "rule 2",
        "partition": 0,
        "engine_seq": 5,
    }
    assert verify(rows).ok
