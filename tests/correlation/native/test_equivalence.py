"""The native engine against the Python engine (the reference) over a generated scenario: the
same encoded changes for every report, operator action and advance, the same errors, the same
picture and the same snapshot bytes; a snapshot of either engine restores in the other and both
go on identically.

The scenario is ops.scenario's benchmark mix (incidents, warnings, capacity), with a share of
reports mutated onto the rarer paths: threads that move out or change family, polygon and
area-code reports, CAP message chains, non-UTC offsets, duplicates and late arrivals.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import msgspec
import pytest

from correlation.actions import (
    Acknowledge,
    AnyAction,
    DeclareLevel,
    Merge,
    Note,
    SetStatus,
    Split,
)
from correlation.changes import Change, EncodedChange
from correlation.engine import Engine
from correlation.errors import CorrelationError, SnapshotInvalid
from correlation.native import NativeEngine
from correlation.picture import picture_json
from correlation.rules import Rules
from ingest.districts import Districts
from ingest.report import Point, Polygon, Report
from ops.scenario import generate_reports

REPORTS = 20_000
FAMILIES = (
    "fire.x",
    "flood.x",
    "accident.x",
    "medical.x",
    "security.x",
    "weather.storm",
    "other.x",
)
AGS = ("07111", "07131", "07211", "07312", "07315", "07339", "07140")
PLUS2 = timezone(timedelta(hours=2))
WHO = "Anna Schmidt (operator)"


def _stream(rng: random.Random, reports: int = REPORTS) -> list[Report]:
    out: list[Report] = []
    message_ids: list[str] = []
    replace = msgspec.structs.replace
    for r in generate_reports(reports, seed=11).reports:
        p = rng.random()
        if r.msg_type != "cancel" and type(r.geometry) is Point:
            lon, lat = r.geometry.coordinates[0], r.geometry.coordinates[1]
            if p < 0.03 and r.sequence > 1:  # moves far: leaves its incident
                moved = Point([lon + rng.uniform(-0.05, 0.05), lat + rng.uniform(-0.03, 0.03)])
                r = replace(r, geometry=moved)
            elif p < 0.04:
                r = replace(r, category=rng.choice(FAMILIES))
            elif p < 0.045:
                d = rng.uniform(0.001, 0.01)
                ring = [[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d]]
                r = replace(r, geometry=Polygon([[*ring, [lon - d, lat + d], ring[0]]]))
            elif p < 0.05:
                r = replace(r, geometry=None, area_codes=(rng.choice(AGS) + "000",))
        q = rng.random()
        if q < 0.02:
            r = replace(r, observed_at=r.observed_at.astimezone(PLUS2))
        elif q < 0.03:
            mid = f"msg-{len(message_ids)}"
            refs = (rng.choice(message_ids),) if message_ids and rng.random() < 0.5 else ()
            message_ids.append(mid)
            r = replace(r, message_id=mid, references=refs)
        out.append(r)
        if rng.random() < 0.01:
            out.append(r)  # a duplicate
    for _ in range(len(out) // 50):  # late arrivals
        i = rng.randrange(len(out))
        out.insert(min(len(out) - 1, i + rng.randint(1, 300)), out.pop(i))
    return out


def _action(rng: random.Random, engine: Engine, at: datetime) -> AnyAction:
    """An operator action on the reference engine's live incidents; now and then one that
    cannot apply (both engines must refuse it alike)."""
    live = sorted(engine._incidents.live.values(), key=lambda i: i.id)
    if not live or rng.random() < 0.1:
        refused: list[AnyAction] = [
            Acknowledge(at=at, actor=WHO, incident="inc-000000000000"),
            DeclareLevel(at=at, actor=WHO, district="99999", level=1),
            DeclareLevel(at=at, actor=WHO, district="07111", level=7),
            Note(at=at, actor=WHO, incident=live[0].id if live else "x", text="  "),
        ]
        return rng.choice(refused)
    incident = rng.choice(live)
    kind = rng.randrange(7)
    if kind == 0:
        return Acknowledge(at=at, actor=WHO, incident=incident.id)
    if kind == 1:
        return Note(at=at, actor=WHO, incident=incident.id, text=f" Lage {rng.randint(1, 99)} ")
    if kind == 2:
        status = rng.choice(["open", "resolved", "resolved", "closed"])
        return SetStatus(at=at, actor=WHO, incident=incident.id, status=status)  # type: ignore[arg-type]
    if kind == 3:
        other = rng.choice(live)
        return Merge(at=at, actor=WHO, incident=incident.id, other=other.id)
    if kind == 4:
        return Split(
            at=at, actor=WHO, incident=incident.id, thread=rng.choice(sorted(incident.links))
        )
    level = rng.choice([None, 0, 1, 2, 3])
    return DeclareLevel(at=at, actor=WHO, district=rng.choice(AGS), level=level, reason="Lage")


def _outcome(
    call: Callable[..., Sequence[Change | EncodedChange]], *args: Any
) -> list[EncodedChange] | tuple[str, str]:
    """The changes of ``call(*args)`` in their encoded form (whichever form it returns), or the
    error it raised."""
    try:
        changes = call(*args)
    except CorrelationError as error:
        return type(error).__name__, str(error)
    return [c if isinstance(c, EncodedChange) else EncodedChange.of(c) for c in changes]


def _operators(
    rng: random.Random, python: Engine, native: NativeEngine, i: int, at: datetime, resolve: int
) -> bool:
    """Every 40th report an operator action, every ``resolve``-th (offset 199) a resolve or
    reopen, on both engines with the same outcome; whether an action was taken."""
    acted = i % 40 == 39
    if acted:
        action = _action(rng, python, at + timedelta(seconds=rng.uniform(-900, 120)))
        assert _outcome(native.act, action) == _outcome(python.act, action), action
    if i % resolve == 199 and python._incidents.live:
        ident = rng.choice(sorted(python._incidents.live))
        when = at + timedelta(seconds=rng.uniform(-600, 60))
        method = rng.choice(["resolve", "reopen"])
        expected = _outcome(getattr(python, method), ident, when)
        assert _outcome(getattr(native, method), ident, when) == expected
    return acted


def _same_state(python: Engine, native: NativeEngine) -> None:
    assert native.seq == python.seq
    assert native.as_of == python.as_of
    assert native.watermark == python.watermark
    assert picture_json(native.picture()) == picture_json(python.picture())
    assert native.snapshot() == python.snapshot()


def test_native_engine_matches_the_python_engine(rules: Rules, districts: Districts) -> None:
    rng = random.Random(5)
    stream = _stream(rng)
    python = Engine(rules, districts)
    native = NativeEngine(rules, districts)
    actions = 0
    for i, report in enumerate(stream):
        assert _outcome(native.process, report) == _outcome(python.process, report)
        actions += _operators(rng, python, native, i, report.observed_at, resolve=400)
        if i % 1500 == 1499:
            now = report.observed_at + timedelta(minutes=rng.uniform(0, 90))
            assert _outcome(native.advance, now) == _outcome(python.advance, now)
        if i == len(stream) // 2:
            _same_state(python, native)
            # each continues from the other's snapshot
            python_bytes, native_bytes = python.snapshot(), native.snapshot()
            python = Engine.restore(native_bytes, rules, districts)
            native = NativeEngine.restore(python_bytes, rules, districts)
            _same_state(python, native)
    assert actions > 400
    later = stream[-1].observed_at + timedelta(days=3)
    assert _outcome(native.advance, later) == _outcome(python.advance, later)
    _same_state(python, native)


def test_a_snapshot_naming_an_unknown_district_is_invalid(
    rules: Rules, districts: Districts
) -> None:
    engine = Engine(rules, districts)
    engine.act(
        DeclareLevel(at=datetime(2026, 11, 29, tzinfo=UTC), actor=WHO, district="07111", level=2)
    )
    data = engine.snapshot().replace(b"07111", b"99999")
    with pytest.raises(SnapshotInvalid, match="99999"):
        NativeEngine.restore(data, rules, districts)
