"""Operator actions of the distributed mode on the API side, without a broker: the checks on a
picture refuse exactly what the engine refuses; an action is routed to the partition that holds
its target, journaled, published with the action header, and awaited; merges across partitions,
refusals by the engine and an unreachable bus end as problems with the journal telling why."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from correlation.actions import (
    Acknowledge,
    AnyAction,
    DeclareLevel,
    IncidentStatus,
    Merge,
    Note,
    SetStatus,
    Split,
    decode_action_record,
)
from correlation.changes import encode_change
from correlation.engine import Engine
from correlation.errors import CorrelationError, UnknownIncident
from ingest.bus.errors import BusUnavailable
from ingest.bus.wire import is_action, partition_for
from ingest.report import report_from_mapping
from ops.scenario import DEFAULT_START, generate
from situation_api.bus_actions import (
    ActionConflict,
    ActionUndelivered,
    BusActions,
    check_on_picture,
)
from situation_api.bus_source import BusPicture
from situation_api.journal import MemoryJournal, verify
from situation_api.journal.service import ACTION_FAILED, Journal

PARTITIONS = 3
AT = datetime(2026, 11, 29, 10, 30, tzinfo=UTC)
ACTOR = "Lagedienst (operator, token t1)"


def _scenario_engine() -> Engine:
    engine = Engine()
    plan = generate(incidents=12, seed=3, start=DEFAULT_START, duration=timedelta(hours=2))
    for report in plan.reports:
        engine.advance(report.observed_at)
        engine.process(report)
    return engine


ENGINE = _scenario_engine()
LIVE = sorted(ENGINE.picture().incidents)
THREADS = sorted({t for view in ENGINE.picture().incidents.values() for t in view["threads"]})
UNKNOWN = "inc-000000000000"


@st.composite
def actions(draw: st.DrawFn) -> AnyAction:
    kind = draw(st.sampled_from(["ack", "note", "status", "merge", "split", "level"]))
    incident = draw(st.sampled_from([*LIVE, UNKNOWN]))
    at = datetime.fromisoformat(ENGINE.as_of) if ENGINE.as_of else AT
    if kind == "ack":
        return Acknowledge(at=at, actor=ACTOR, incident=incident)
    if kind == "note":
        text = draw(st.sampled_from(["", "   ", "THW alarmiert", "x" * 2001, "x" * 2000]))
        return Note(at=at, actor=ACTOR, incident=incident, text=text)
    if kind == "status":
        status: IncidentStatus = draw(st.sampled_from(["open", "resolved", "closed"]))
        return SetStatus(at=at, actor=ACTOR, incident=incident, status=status)
    if kind == "merge":
        other = draw(st.sampled_from([*LIVE, UNKNOWN]))
        return Merge(at=at, actor=ACTOR, incident=incident, other=other)
    if kind == "split":
        own = ENGINE.picture().incidents.get(incident, {}).get("threads", [])
        thread = draw(st.sampled_from([*own, *own, *THREADS[:2], "fire:nope"]))
        return Split(at=at, actor=ACTOR, incident=incident, thread=thread)
    district = draw(st.sampled_from(["07111", "07315", "99999"]))
    level = draw(st.sampled_from([None, 0, 2, 3, 4, -1]))
    return DeclareLevel(at=at, actor=ACTOR, district=district, level=level)


def _refusal(check: Any, action: AnyAction) -> tuple[type, str] | None:
    try:
        check(action)
    except CorrelationError as error:
        return type(error), str(error)
    return None


@settings(max_examples=300, deadline=None)
@given(actions())
def test_the_picture_refuses_exactly_what_the_engine_refuses(action: AnyAction) -> None:
    picture = ENGINE.picture()
    assert _refusal(lambda a: check_on_picture(picture, a), action) == _refusal(
        ENGINE.check, action
    )


# -- BusActions with a picture fed by hand and a fake bus ------------------------------------------


def _report(source_id: str, lon: float, lat: float, source: str = "fire") -> Any:
    return report_from_mapping(
        {
            "source": source,
            "source_id": source_id,
            "category": "fire.building",
            "severity": "moderate",
            "observed_at": AT.isoformat(),
            "geometry": {"type": "Point", "coordinates": [lon, lat]},
        }
    )


class Bus:
    """The situation topic as one BusPicture reads it, and the report topic as a fake
    publisher that records what was sent (or fails)."""

    def __init__(self) -> None:
        self.source = BusPicture("127.0.0.1:1", "lz.situation.v1")
        self.offsets = [0] * PARTITIONS
        self.sent: list[tuple[bytes, bytes, int, list[tuple[str, bytes]]]] = []
        self.failing = False
        self.answer: str | bool | None = False  # False: the worker never answers
        for partition in range(PARTITIONS):
            self.clock(partition, [])

    def put(self, partition: int, key: bytes, value: bytes | None) -> None:
        self.source._apply(partition, self.offsets[partition], key, value)
        self.source._progress.notify()  # as its consuming task does after each batch
        self.offsets[partition] += 1

    def clock(self, partition: int, outcomes: list[tuple[int, str | None]]) -> None:
        value = msgspec.json.encode({"as_of": AT.isoformat(), "actions": outcomes})
        self.put(partition, f"clock:{partition}".encode(), value)

    async def publish(
        self, value: bytes, *, key: bytes, partition: int, headers: Sequence[tuple[str, bytes]]
    ) -> int:
        if self.failing:
            raise BusUnavailable("the broker did not acknowledge: timeout")
        self.sent.append((value, key, partition, list(headers)))
        if self.answer is not False:
            record = decode_action_record(value)
            outcome = self.answer if isinstance(self.answer, str) else None
            # the worker answers a moment later, on the partition it was sent to
            asyncio.get_running_loop().call_later(
                0.01, self.clock, partition, [(record.journal, outcome)]
            )
        return len(self.sent)


@pytest.fixture
def bus() -> Bus:
    """Koblenz (two threads) published by partition 1, Mainz by partition 2."""
    bus = Bus()
    engine = Engine()
    for report, partition in (
        (_report("K-1", 7.5886, 50.3569), 1),
        (_report("K-2", 7.5890, 50.3569, source="police"), 1),
        (_report("M-1", 8.2473, 49.9929), 2),
    ):
        for change in engine.process(report):
            bus.put(partition, f"{change.entity}:{change.id}".encode(), encode_change(change))
    return bus


def _ids(bus: Bus) -> tuple[str, str]:
    by_thread = {t: i for i, v in bus.source.current().incidents.items() for t in v["threads"]}
    return by_thread["fire:K-1"], by_thread["fire:M-1"]


def _actions(bus: Bus, journal: Journal, settle: float = 2.0) -> BusActions:
    return BusActions(bus.source, bus, journal, settle_seconds=settle)  # type: ignore[arg-type]


async def test_an_action_goes_to_the_partition_that_holds_its_target(bus: Bus) -> None:
    koblenz, _ = _ids(bus)
    journal = Journal(MemoryJournal())
    bus.answer = None
    done = await _actions(bus, journal).perform(
        Note(at=AT, actor=ACTOR, incident=koblenz, text="THW alarmiert")
    )
    assert done.visible
    assert done.entry.action == "note"
    assert done.entry.payload == {
        "partition": 1,
        "input": {
            "action": "note",
            "at": "2026-11-29T10:30:00Z",
            "actor": ACTOR,
            "incident": koblenz,
            "text": "THW alarmiert",
        },
    }
    ((value, key, partition, headers),) = bus.sent
    assert (key, partition) == (koblenz.encode(), 1)
    assert is_action(headers)
    record = decode_action_record(value)
    assert record.journal == done.entry.seq
    assert record.action == Note(at=AT, actor=ACTOR, incident=koblenz, text="THW alarmiert")
    # a district's action goes where its AGS hashes to, like the district's own changes
    level = await _actions(bus, journal).perform(
        DeclareLevel(at=AT, actor=ACTOR, district="07315", level=2, reason="Hochwasser")
    )
    assert level.visible
    assert bus.sent[-1][2] == partition_for(b"07315", PARTITIONS)
    # no worker answers: journaled and sent, but not on the picture yet (202 for the route)
    bus.answer = False
    pending = await _actions(bus, journal, settle=0.05).perform(
        Acknowledge(at=AT, actor=ACTOR, incident=koblenz)
    )
    assert not pending.visible
    assert len(bus.sent) == 3
    assert verify(journal.store.rows).ok  # type: ignore[attr-defined]


async def test_what_cannot_be_done_is_neither_journaled_nor_sent(bus: Bus) -> None:
    koblenz, mainz = _ids(bus)
    journal = Journal(MemoryJournal())
    actor = _actions(bus, journal)
    with pytest.raises(ActionConflict, match=r"different correlation partitions \(1 and 2\)"):
        await actor.perform(Merge(at=AT, actor=ACTOR, incident=koblenz, other=mainz))
    with pytest.raises(UnknownIncident):
        await actor.perform(Acknowledge(at=AT, actor=ACTOR, incident=UNKNOWN))
    with pytest.raises(CorrelationError, match="only thread"):
        await actor.perform(Split(at=AT, actor=ACTOR, incident=mainz, thread="fire:M-1"))
    assert bus.sent == []
    assert await journal.store.last_seq() == 0


async def test_a_refusal_or_a_lost_record_is_journaled_as_failed(bus: Bus) -> None:
    koblenz, _ = _ids(bus)
    journal = Journal(MemoryJournal())
    bus.answer = "no live incident 'inc-1'"  # the engine was ahead of this picture
    with pytest.raises(ActionConflict) as refused:
        await _actions(bus, journal).perform(Acknowledge(at=AT, actor=ACTOR, incident=koblenz))
    assert refused.value.entry is not None
    assert refused.value.entry.seq == 1
    bus.failing = True
    with pytest.raises(ActionUndelivered) as lost:
        await _actions(bus, journal).perform(
            SetStatus(at=AT, actor=ACTOR, incident=koblenz, status="resolved")
        )
    assert lost.value.entry.seq == 3
    rows = await journal.store.since(0, 10)
    assert [(e.action, e.subject) for e in rows] == [
        ("acknowledge", koblenz),
        (ACTION_FAILED, koblenz),
        ("set_status", koblenz),
        (ACTION_FAILED, koblenz),
    ]
    assert rows[1].payload == {
        "entry": 1,
        "reason": "the engine refused it: no live incident 'inc-1'",
    }
    assert rows[3].payload["entry"] == 3
    assert "the bus did not confirm it" in rows[3].payload["reason"]
    assert rows[1].actor == rows[0].actor == ACTOR
    assert verify(rows).ok


async def test_an_incident_leaves_its_partition_when_it_leaves_the_picture(bus: Bus) -> None:
    koblenz, mainz = _ids(bus)
    assert (bus.source.owner_of(koblenz), bus.source.owner_of(mainz)) == (1, 2)
    engine = Engine()
    engine.process(_report("M-1", 8.2473, 49.9929))
    (closed,) = [
        c
        for c in engine.act(SetStatus(at=AT, actor=ACTOR, incident=mainz, status="closed"))
        if c.entity == "incident"
    ]
    bus.put(2, f"incident:{mainz}".encode(), encode_change(closed))
    bus.put(2, f"incident:{mainz}".encode(), None)
    assert bus.source.owner_of(mainz) is None
    assert mainz not in bus.source.current().incidents
    assert bus.source.owner_of(koblenz) == 1
