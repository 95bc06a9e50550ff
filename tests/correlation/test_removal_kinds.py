"""``REMOVAL_KINDS`` and ``PARTIAL_REMOVAL_KINDS`` (correlation/changes.py) tell a reader of
encoded changes which ones take their entity out of the picture (view None) without decoding the
payload. Over a scenario with every way out (quiet close, operator close, cancelled incident,
expired and cancelled warning, the last figure of a state-wide capacity cancelled), a change's
view is None exactly when its kind says so, and only the partial kinds need the payload."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from functools import cache
from typing import TypeAlias, get_args

import msgspec

from correlation.actions import AnyAction, SetStatus
from correlation.changes import PARTIAL_REMOVAL_KINDS, REMOVAL_KINDS, AnyChange, Change
from correlation.engine import Engine
from correlation.engines import SituationEngine
from ingest.report import Report, report_from_mapping
from ops.scenario import generate_reports

Step: TypeAlias = Report | AnyAction | datetime  # a log entry, an operator action, a clock tick
ACTOR = "Lagedienst (operator, token t1)"


def _extra(at: datetime, source: str, source_id: str, **fields: object) -> Report:
    data = {"source": source, "source_id": source_id, "observed_at": at.isoformat(), **fields}
    report = report_from_mapping(data)
    return msgspec.structs.replace(report, received_at=report.observed_at)


def apply(engine: SituationEngine, step: Step) -> list[Change]:
    """One step the way the runtime takes it (a report: clock to its receipt time first)."""
    if isinstance(step, datetime):
        return engine.advance(step)
    if isinstance(step, Report):
        assert step.received_at is not None
        return [*engine.advance(step.received_at), *engine.process(step)]
    return engine.act(step)


@cache
def steps() -> tuple[Step, ...]:
    """The generated scenario (received when observed), then a warning and two state-wide
    capacity figures that are cancelled, an operator closing a live incident, and three days."""
    plan = generate_reports(5000, seed=2)
    reports = [msgspec.structs.replace(r, received_at=r.observed_at) for r in plan.reports]
    last = max(r.observed_at for r in reports)
    t1, t2, t3 = (last + timedelta(minutes=m) for m in (1, 2, 3))
    warning = {"category": "weather.storm", "area_codes": ["07315"], "severity": "severe"}
    state = {"category": "capacity.hospital", "area_codes": ["07"]}
    extras: list[Step] = [
        _extra(
            t1, "weather", "W-removal", expires_at=(t1 + timedelta(hours=6)).isoformat(), **warning
        ),
        _extra(t1, "health", "S-1", metrics={"beds_free": 10}, **state),
        _extra(t1, "health", "S-2", metrics={"icu_beds_free": 3}, **state),
        _extra(t2, "weather", "W-removal", sequence=2, msg_type="cancel", **warning),
        _extra(t2, "health", "S-1", sequence=2, msg_type="cancel", **state),  # S-2 still counts
        _extra(t3, "health", "S-2", sequence=2, msg_type="cancel", **state),  # the last one
    ]
    reference = Engine()
    for step in [*reports, *extras]:
        apply(reference, step)
    live = sorted(reference.picture().incidents)
    assert live, "the scenario must leave a live incident to close"
    close = SetStatus(at=t3, actor=ACTOR, incident=live[0], status="closed")
    return (*reports, *extras, close, t3 + timedelta(days=3))


def changes_of(engine: Engine) -> list[Change]:
    return [change for step in steps() for change in apply(engine, step)]


def test_the_constants_name_change_kinds() -> None:
    kinds = {cls.__name__ for cls in get_args(AnyChange)}
    assert kinds >= REMOVAL_KINDS
    assert kinds >= PARTIAL_REMOVAL_KINDS
    assert not REMOVAL_KINDS & PARTIAL_REMOVAL_KINDS


def test_a_view_is_none_exactly_when_the_kind_says_so(engine_type: type[Engine]) -> None:
    seen: Counter[tuple[str, bool]] = Counter()
    for change in changes_of(engine_type()):
        kind, removed = type(change).__name__, change.view is None
        seen[kind, removed] += 1
        if kind not in PARTIAL_REMOVAL_KINDS:
            assert removed == (kind in REMOVAL_KINDS), (kind, change.seq)
    for kind in REMOVAL_KINDS:
        assert seen[kind, True], f"no {kind} in the scenario"
    for kind in PARTIAL_REMOVAL_KINDS:
        assert seen[kind, True], f"{kind} never removed its entity"
        assert seen[kind, False], f"{kind} never kept its entity"


def test_the_operator_close_is_a_removal(engine_type: type[Engine]) -> None:
    engine = engine_type()
    *before, close, _ = steps()
    for step in before:
        apply(engine, step)
    assert isinstance(close, SetStatus)
    closed = [c for c in apply(engine, close) if c.id == close.incident]
    assert [type(c).__name__ for c in closed] == ["IncidentClosed"]
    assert closed[0].view is None
