"""Report records in a partition's engine (pure): applied with ``process_line`` they give, in
wire form, exactly the changes the embedded engine derives from the same log; a record that is
not a report changes nothing and is listed with ``decode_report``'s field and reason; and the
situation-topic records of a change carry its payload under ``<entity>:<id>``, followed by a
tombstone exactly when its view is None."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import msgspec
import pytest

from correlation.actions import encode_action_record
from correlation.changes import (
    PARTIAL_REMOVAL_KINDS,
    REMOVAL_KINDS,
    EncodedChange,
    decode_change,
)
from correlation.engines import EngineKind, engine_type
from ingest.bus.wire import encode_for_bus
from ingest.errors import ReportInvalid
from ingest.report import Report, decode_report, encode_report
from ops.workers.partition import PartitionEngine, Rejected, encode_situation, removes
from tests.correlation.test_removal_kinds import apply, steps

KINDS: list[EngineKind] = ["python", "native"]


def _run(engine: PartitionEngine) -> list[EncodedChange]:
    """Every step of the removal scenario as the worker takes it: reports and actions as
    records on consecutive offsets, the final days as a clock tick."""
    out: list[EncodedChange] = []
    offset = 0
    for seq, step in enumerate(steps(), start=1):
        if isinstance(step, datetime):
            out.extend(engine.tick(step))
            continue
        if isinstance(step, Report):
            derived = engine.handle(offset, encode_for_bus(step))
        else:
            derived = engine.handle(offset, encode_action_record(seq, step), action=True)
        assert derived is not None
        out.extend(derived)
        offset += 1
    assert engine.rejected == []
    return out


_runs: dict[str, list[EncodedChange]] = {}


def _changes(kind: EngineKind) -> list[EncodedChange]:
    if kind not in _runs:
        _runs[kind] = _run(PartitionEngine(0, 1, kind=kind))
    return _runs[kind]


@pytest.mark.parametrize("kind", KINDS)
def test_records_give_the_embedded_changes_in_wire_form(kind: EngineKind) -> None:
    reference = engine_type(kind)()
    expected = [EncodedChange.of(c) for step in steps() for c in apply(reference, step)]
    assert _changes(kind) == expected


@pytest.mark.parametrize("kind", KINDS)
def test_situation_records_tombstone_exactly_the_removals(kind: EngineKind) -> None:
    tombstoned: Counter[str] = Counter()
    for change in _changes(kind):
        decoded = decode_change(change.payload)
        key = f"{decoded.entity}:{decoded.id}".encode()
        records = encode_situation(change)
        assert records[0] == (key, change.payload)
        assert records[1:] == ([(key, None)] if decoded.view is None else [])
        assert removes(change) == (decoded.view is None)
        tombstoned[change.kind] += len(records) - 1
    assert set(tombstoned) >= REMOVAL_KINDS | PARTIAL_REMOVAL_KINDS
    assert all(tombstoned[kind] for kind in REMOVAL_KINDS | PARTIAL_REMOVAL_KINDS)


def _bad(value: bytes) -> ReportInvalid:
    with pytest.raises(ReportInvalid) as caught:
        decode_report(value)
    return caught.value


@pytest.mark.parametrize("kind", KINDS)
def test_a_record_that_is_no_report_changes_nothing(kind: EngineKind) -> None:
    reports = [r for r in steps() if isinstance(r, Report)][:200]
    engine = PartitionEngine(0, 1, kind=kind)
    for offset, report in enumerate(reports[:-1]):
        engine.handle(offset, encode_for_bus(report))
    before, seq, cut = engine.engine.snapshot(), engine.engine.seq, len(reports) - 1
    good = msgspec.json.decode(encode_for_bus(reports[-1]))
    bad = [
        b"{",
        msgspec.json.encode({**good, "source": "dkg"}),
        msgspec.json.encode({**good, "x": 1}),
    ]
    assert engine.handle(cut, None) == []
    for offset, value in enumerate(bad, start=cut + 1):
        assert engine.handle(offset, value) == []
    assert engine.engine.snapshot() == before
    assert engine.engine.seq == seq
    empty = Rejected(cut, "$", "empty record (tombstone) on the report topic")
    refused = [_bad(value) for value in bad]
    assert [r.field for r in refused] == ["$", "$.source", "$.x"]
    assert engine.rejected == [
        empty,
        *(Rejected(o, r.field, r.reason) for o, r in enumerate(refused, start=cut + 1)),
    ]
    assert engine.offset == cut + len(bad)
    assert engine.handle(cut + 1, encode_for_bus(reports[-1])) is None  # applied before: skipped
    assert engine.handle(cut + len(bad) + 1, encode_for_bus(reports[-1]))  # the partition goes on


@pytest.mark.parametrize("kind", KINDS)
def test_the_report_offset_is_not_read(kind: EngineKind) -> None:
    """``decode_from_bus`` gave the report the record's offset + 1; ``process_line`` leaves it
    unset, which must not matter."""
    reports = [r for r in steps() if isinstance(r, Report)][:300]
    bare, numbered = PartitionEngine(0, 1, kind=kind), PartitionEngine(0, 1, kind=kind)
    for offset, report in enumerate(reports):
        line = encode_report(msgspec.structs.replace(report, offset=offset + 1))
        assert b'"offset":' in line
        assert numbered.handle(offset, line) == bare.handle(offset, encode_for_bus(report))
    assert numbered.engine.snapshot() == bare.engine.snapshot()
