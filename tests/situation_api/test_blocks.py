"""History blocks (pure): what a block holds, both stored forms, and bytes that are no block."""

from __future__ import annotations

import json
import zlib
from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from situation_api import blocks
from situation_api.stored import StoredChange

T0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)


def stored(seq: int, minutes: float, entity_id: str = "inc-1") -> StoredChange:
    payload = json.dumps({"id": entity_id, "seq": seq}).encode()
    return StoredChange(seq, T0 + timedelta(minutes=minutes), "IncidentUpdated", "incident",
                        entity_id, payload)  # fmt: skip


def test_a_block_holds_its_ranges_times_and_entities() -> None:
    changes = [stored(4, 10), stored(5, 2, "inc-2"), stored(6, 7)]  # 5: a late report's time
    block = blocks.encode(changes)
    assert (block.first_seq, block.last_seq) == (4, 6)
    assert (block.first_at, block.last_at) == (
        T0 + timedelta(minutes=2),
        T0 + timedelta(minutes=10),
    )
    assert block.ats == [c.at for c in changes]
    assert block.entities == ["incident:inc-1", "incident:inc-2"]
    assert block.data.startswith(blocks.COMPRESSED)
    assert blocks.decode(block.data) == changes


def test_an_empty_block_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        blocks.encode([])


def test_the_migrated_form_decodes_to_the_same_changes() -> None:
    # as migration 0003 writes it: json_build_array(seq, at, kind, entity, entity_id, payload)
    changes = [stored(1, 0), stored(2, 1.5)]
    rows = [[c.seq, c.at.isoformat(), c.kind, c.entity, c.entity_id, json.loads(c.payload)]
            for c in changes]  # fmt: skip
    data = blocks.MIGRATED + json.dumps(rows).encode()
    decoded = blocks.decode(data)
    assert [(c.seq, c.at, c.kind, c.entity, c.entity_id) for c in decoded] == [
        (c.seq, c.at, c.kind, c.entity, c.entity_id) for c in changes
    ]
    assert [json.loads(c.payload) for c in decoded] == [json.loads(c.payload) for c in changes]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"{}",
        blocks.COMPRESSED + b"not zlib",
        blocks.COMPRESSED + zlib.compress(msgspec.msgpack.encode([[1, "x"]])),
        blocks.MIGRATED + b"[[1, 2",
    ],
)
def test_bytes_that_are_no_block_are_refused(data: bytes) -> None:
    with pytest.raises(blocks.BlockInvalid):
        blocks.decode(data)
