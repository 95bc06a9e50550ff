"""Operator actions in a partition's engine (pure): applied in log order with the reports they
give exactly the embedded engine's picture, survive recovery from snapshot + journal, and an
action the engine cannot apply any more is refused without stopping the partition."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from correlation.actions import (
    Acknowledge,
    AnyAction,
    DeclareLevel,
    Merge,
    Note,
    SetStatus,
    Split,
    encode_action_record,
)
from correlation.engine import Engine
from correlation.picture import Picture, picture_json
from ingest.bus.wire import encode_for_bus
from ingest.report import Report
from ops.scenario import DEFAULT_START, generate
from ops.workers.partition import PartitionEngine, encode_clock

Record = tuple[bool, bytes]  # (is an action, value)
ACTOR = "Lagedienst (operator, token t1)"


def _reports() -> tuple[Report, ...]:
    plan = generate(incidents=24, seed=5, start=DEFAULT_START, duration=timedelta(hours=3))
    return tuple(msgspec.structs.replace(r, received_at=r.observed_at) for r in plan.reports)


REPORTS = _reports()
CUT = len(REPORTS) * 2 // 3


def _feed(engine: Engine, reports: Sequence[Report]) -> None:
    for report in reports:
        assert report.received_at is not None
        engine.advance(report.received_at)
        engine.process(report)


def _actions(picture: Picture, as_of: str) -> list[AnyAction]:
    """One of each kind, on the incidents of ``picture``."""
    at = datetime.fromisoformat(as_of) + timedelta(seconds=30)
    incidents = sorted(picture.incidents.values(), key=lambda view: view["id"])
    several = next(view for view in incidents if len(view["threads"]) >= 2)
    others = [view["id"] for view in incidents if view is not several]
    assert len(others) >= 5, "the scenario must leave enough live incidents"
    return [
        Acknowledge(at=at, actor=ACTOR, incident=others[0]),
        Note(at=at, actor=ACTOR, incident=others[0], text="THW Ortsverband alarmiert"),
        SetStatus(at=at, actor=ACTOR, incident=others[1], status="resolved"),
        SetStatus(at=at, actor=ACTOR, incident=others[2], status="closed"),
        Merge(at=at, actor=ACTOR, incident=others[3], other=others[4]),
        Split(at=at, actor=ACTOR, incident=several["id"], thread=several["threads"][-1]),
        DeclareLevel(at=at, actor=ACTOR, district="07111", level=2, reason="Hochwasser"),
    ]


def _plan() -> tuple[list[AnyAction], list[Record], Engine]:
    """The actions, the partition's records (reports, the actions, more reports) and the
    embedded engine fed the same in the same order."""
    reference = Engine()
    _feed(reference, REPORTS[:CUT])
    assert reference.as_of is not None
    actions = _actions(reference.picture(), reference.as_of)
    for action in actions:
        assert reference.act(action), f"{type(action).__name__} changed nothing"
    _feed(reference, REPORTS[CUT:])
    records: list[Record] = [(False, encode_for_bus(r)) for r in REPORTS[:CUT]]
    records += [(True, encode_action_record(seq, a)) for seq, a in enumerate(actions, start=1)]
    records += [(False, encode_for_bus(r)) for r in REPORTS[CUT:]]
    return actions, records, reference


ACTIONS, RECORDS, REFERENCE = _plan()


def _run(engine: PartitionEngine, records: Sequence[Record], first: int = 0) -> None:
    for offset, (action, value) in enumerate(records, start=first):
        assert engine.handle(offset, value, action=action) is not None


def test_actions_in_log_order_give_the_embedded_picture() -> None:
    steady = PartitionEngine(0, 1)
    _run(steady, RECORDS)
    assert picture_json(steady.engine.picture()) == picture_json(REFERENCE.picture())
    assert steady.outcomes == [(seq, None) for seq in range(1, len(ACTIONS) + 1)]
    assert steady.rejected == []
    clock = msgspec.json.decode(encode_clock(steady.clock()))
    assert clock["actions"] == [[seq, None] for seq in range(1, len(ACTIONS) + 1)]
    # the actions show: acknowledged and noted, merged, split, the declared level
    picture = steady.engine.picture()
    ack, note = ACTIONS[0], ACTIONS[1]
    assert isinstance(ack, Acknowledge)
    assert isinstance(note, Note)
    assert picture.incidents[ack.incident]["acknowledged"]["by"] == ACTOR
    assert picture.incidents[ack.incident]["notes"][0]["text"] == note.text
    merge = ACTIONS[4]
    assert isinstance(merge, Merge)
    assert merge.other not in picture.incidents
    assert picture.districts["07111"]["declared_level"] == 2


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_recovery_with_actions_in_the_journal_equals_uninterrupted(data: st.DataObject) -> None:
    """Snapshot at any record, crash at any later one: snapshot + journal (reports and actions
    under their own keys) restore the engine; a re-delivered record is skipped."""
    cut = data.draw(st.integers(1, len(RECORDS) - 1), label="crash after")
    snapped = data.draw(st.integers(0, cut), label="snapshot after")
    crashed = PartitionEngine(0, 1)
    _run(crashed, RECORDS[:snapped])
    snapshot = crashed.snapshot()
    _run(crashed, RECORDS[snapped:cut], first=snapped)
    journal = [(o, v) for o, (a, v) in enumerate(RECORDS) if snapped <= o < cut and not a]
    actions = [(o, v) for o, (a, v) in enumerate(RECORDS) if snapped <= o < cut and a]
    restored = PartitionEngine.recover(0, 1, snapshot, journal, actions=actions)
    assert restored.offset == cut - 1
    assert len(restored.journal) == cut - snapped
    assert restored.outcomes == []
    assert restored.rejected == []
    redelivered, value = RECORDS[cut - 1]
    assert restored.handle(cut - 1, value, action=redelivered) is None
    _run(restored, RECORDS[cut:], first=cut)
    assert picture_json(restored.engine.picture()) == picture_json(REFERENCE.picture())


def test_an_action_the_engine_cannot_apply_is_refused_and_the_partition_goes_on() -> None:
    engine = PartitionEngine(0, 1)
    _run(engine, RECORDS[:CUT])
    at = datetime.fromisoformat(str(engine.engine.as_of))
    gone = Acknowledge(at=at, actor=ACTOR, incident="inc-000000000000")
    before = picture_json(engine.engine.picture())
    assert engine.handle(CUT, encode_action_record(41, gone), action=True) == []
    assert engine.handle(CUT + 1, b'{"journal": 42}', action=True) == []
    assert engine.handle(CUT + 2, None, action=True) == []
    assert picture_json(engine.engine.picture()) == before
    assert engine.outcomes == [(41, "no live incident 'inc-000000000000'")]
    reasons = [r.reason for r in engine.rejected]
    assert reasons[0] == (
        "operator action of journal entry 41 not applied: no live incident 'inc-000000000000'"
    )
    assert all(r.startswith("not an operator action record") for r in reasons[1:])
    assert [r.offset for r in engine.rejected] == [CUT, CUT + 1, CUT + 2]
    # the next report is processed as if nothing had happened
    next_report = encode_for_bus(REPORTS[CUT])
    assert engine.handle(CUT + 3, next_report) is not None
    # an action is never mistaken for a report, nor a report for an action
    assert engine.handle(CUT + 4, next_report, action=True) == []
    assert engine.rejected[-1].reason.startswith("not an operator action record")
