"""The journal's hash chain: any change to any entry is found, at that entry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from situation_api.journal import GENESIS, MemoryJournal, seal, verify
from situation_api.journal.chain import JournalEntry

T0 = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)


def chain(n: int) -> list[JournalEntry]:
    out: list[JournalEntry] = []
    prev = GENESIS
    for i in range(1, n + 1):
        entry = seal(
            i, T0 + timedelta(seconds=i), f"op{i}", "note", f"inc-{i:03x}", {"text": f"n{i}"}, prev
        )
        out.append(entry)
        prev = entry.hash
    return out


def test_an_intact_chain_verifies() -> None:
    entries = chain(5)
    assert verify(entries).ok
    assert verify(entries).entries == 5
    assert entries[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in pairwise(entries))


def test_payload_key_order_does_not_matter() -> None:
    a = seal(1, T0, "x", "note", "s", {"b": 1, "a": [1, 2]}, GENESIS)
    b = seal(1, T0, "x", "note", "s", {"a": [1, 2], "b": 1}, GENESIS)
    assert a.hash == b.hash


FIELDS = st.sampled_from(["at", "actor", "action", "subject", "payload", "hash", "prev_hash"])


@given(index=st.integers(0, 5), field=FIELDS)
def test_any_altered_field_breaks_the_chain_there(index: int, field: str) -> None:
    entries = chain(6)
    original = entries[index]
    changed: dict[str, object] = {
        "at": original.at + timedelta(microseconds=1),
        "actor": original.actor + "x",
        "action": "merge",
        "subject": "inc-fff",
        "payload": {"text": "rewritten"},
        "hash": "f" * 64,
        "prev_hash": "0" * 63 + "1",
    }
    entries[index] = msgspec.structs.replace(original, **{field: changed[field]})
    verdict = verify(entries)
    assert not verdict.ok
    # a rewritten hash is caught at the entry itself (content) or, if it happened to be
    # internally consistent, at the next one (link)
    assert verdict.broken_at == original.seq


def test_removed_and_reordered_entries_are_found() -> None:
    entries = chain(5)
    removed = entries[:2] + entries[3:]
    assert verify(removed).broken_at == 4
    swapped = [entries[0], entries[2], entries[1], entries[3]]
    assert verify(swapped).broken_at == 3


async def test_memory_journal_appends_a_chain() -> None:
    journal = MemoryJournal()
    for i in range(3):
        await journal.append(T0, "op", "note", f"inc-{i}", {"i": i})
    rows = await journal.since(0, 10)
    assert [e.seq for e in rows] == [1, 2, 3]
    assert verify(rows).ok
    assert [e.seq for e in await journal.since(0, 10, subject="inc-1")] == [2]
    assert await journal.last_seq("note") == 3
