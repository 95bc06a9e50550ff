"""Lifecycle: quiet-time resolve, close, reopen, operator actions, watermark and lateness."""

from __future__ import annotations

from datetime import timedelta

import pytest

from correlation.changes import IncidentClosed, IncidentReopened, IncidentResolved
from correlation.engine import Engine
from correlation.errors import UnknownIncident
from tests.correlation.helpers import KOBLENZ, T0, TRIER, feed, incidents, report

LATENESS = timedelta(minutes=5)


def test_open_incident_resolves_after_quiet_time_then_closes(engine: Engine) -> None:
    feed(engine, [report("fire", "f1", "fire.building", 0, severity="severe")])
    (incident,) = incidents(engine)
    # two hours quiet: not yet, because the watermark lags the clock by the allowed lateness
    assert engine.advance(T0 + timedelta(hours=2)) == []
    changes = engine.advance(T0 + timedelta(hours=2) + LATENESS)
    resolved = [c for c in changes if isinstance(c, IncidentResolved)]
    assert len(resolved) == 1
    assert resolved[0].reason == "quiet"
    assert resolved[0].at == T0 + timedelta(hours=2)
    (view,) = incidents(engine)
    assert (view["status"], view["resolved_at"]) == ("resolved", "2026-11-29T12:00:00Z")
    # a resolved incident no longer counts for its district
    district = engine.picture().districts["07111"]
    assert district["open_incidents"]["severe"] == 0
    assert district["level"] == 0
    changes = engine.advance(T0 + timedelta(hours=26) + LATENESS)
    assert [type(c) for c in changes] == [IncidentClosed]
    assert changes[0].view is None
    assert incidents(engine) == []
    assert incident["id"] == changes[0].id


def test_flood_quiet_time_is_twelve_hours(engine: Engine) -> None:
    feed(engine, [report("civil_protection", "c1", "flood.river", 0)])
    assert engine.advance(T0 + timedelta(hours=11, minutes=59) + LATENESS) == []
    changes = engine.advance(T0 + timedelta(hours=12) + LATENESS)
    assert [type(c) for c in changes if c.entity == "incident"] == [IncidentResolved]


def test_reports_move_the_clock_and_fire_timers(engine: Engine) -> None:
    feed(engine, [report("fire", "f1", "fire.building", 0, KOBLENZ)])
    changes = feed(engine, [report("fire", "t1", "fire.building", 200, TRIER)])
    kinds = [type(c).__name__ for c in changes if c.entity == "incident"]
    assert kinds == ["IncidentResolved", "IncidentOpened"]  # the timer fired before the report


def test_resolved_incident_reopens_when_a_report_joins(engine: Engine) -> None:
    feed(engine, [report("fire", "f1", "fire.building", 0)])
    (incident,) = incidents(engine)
    engine.resolve(incident["id"], T0 + timedelta(minutes=10))
    changes = feed(engine, [report("health", "h1", "medical.emergency", 20)])
    (change,) = [c for c in changes if c.entity == "incident"]
    assert isinstance(change, IncidentReopened)
    assert (change.reason, change.thread) == ("activity", "health:h1")
    (view,) = incidents(engine)
    assert view["status"] == "open"
    assert view["resolved_at"] is None


def test_operator_resolve_and_reopen(engine: Engine) -> None:
    feed(engine, [report("fire", "f1", "fire.building", 0, severity="severe")])
    (incident,) = incidents(engine)
    changes = engine.resolve(incident["id"], T0 + timedelta(minutes=30))
    assert [type(c).__name__ for c in changes] == ["IncidentResolved", "DistrictLevelChanged"]
    assert changes[0].reason == "operator"  # type: ignore[attr-defined]
    assert engine.resolve(incident["id"], T0 + timedelta(minutes=31)) == []  # idempotent
    changes = engine.reopen(incident["id"], T0 + timedelta(minutes=40))
    assert [type(c).__name__ for c in changes] == ["IncidentReopened", "DistrictLevelChanged"]
    assert engine.reopen(incident["id"], T0 + timedelta(minutes=41)) == []
    # the quiet time restarts at the reopen
    assert engine.advance(T0 + timedelta(minutes=40 + 119) + LATENESS) == []
    assert any(
        isinstance(c, IncidentResolved)
        for c in engine.advance(T0 + timedelta(minutes=160) + LATENESS)
    )


def test_operator_action_on_unknown_incident_raises(engine: Engine) -> None:
    with pytest.raises(UnknownIncident, match="inc-nothere"):
        engine.resolve("inc-nothere", T0)


def test_late_report_still_joins_before_the_watermark_resolves(engine: Engine) -> None:
    feed(engine, [report("fire", "f1", "fire.building", 0, KOBLENZ)])
    # the clock reaches 2 h 03 min by a report elsewhere: watermark 1 h 58 min, nothing resolved
    feed(engine, [report("fire", "t1", "fire.building", 123, TRIER)])
    assert incidents(engine)[0]["status"] == "open"
    # a report observed at 1 h 59 min arrives now: within the window of last_seen? no (30 min),
    # but an update of the same thread keeps the incident alive
    changes = feed(engine, [report("fire", "f1", "fire.building", 119, KOBLENZ, sequence=2)])
    assert all(not c.late for c in changes)  # 1:59 is not older than the watermark 1:58
    assert [i["status"] for i in incidents(engine)] == ["open", "open"]


def test_report_older_than_the_watermark_is_applied_and_marked_late(engine: Engine) -> None:
    feed(engine, [report("fire", "t1", "fire.building", 60, TRIER)])
    changes = feed(engine, [report("fire", "f1", "fire.building", 0, KOBLENZ)])
    assert changes
    assert all(c.late for c in changes)
    assert {i["threads"][0] for i in incidents(engine)} == {"fire:f1", "fire:t1"}


def test_late_report_whose_deadline_already_passed_resolves_at_once(engine: Engine) -> None:
    feed(engine, [report("fire", "t1", "fire.building", 300, TRIER)])
    changes = feed(engine, [report("fire", "f1", "fire.building", 0, KOBLENZ)])
    kinds = [type(c).__name__ for c in changes if c.entity == "incident"]
    assert kinds == ["IncidentOpened", "IncidentResolved"]
    assert [c.late for c in changes if c.entity == "incident"] == [True, False]


def test_timers_fire_in_time_order(engine: Engine) -> None:
    feed(
        engine,
        [
            report("fire", "b", "fire.building", 10, KOBLENZ),
            report("fire", "a", "fire.building", 0, TRIER),
        ],
    )
    changes = engine.advance(T0 + timedelta(hours=3))
    resolved = [c for c in changes if isinstance(c, IncidentResolved)]
    assert [c.at for c in resolved] == [
        T0 + timedelta(hours=2),
        T0 + timedelta(hours=2, minutes=10),
    ]
    assert [c.seq for c in changes] == sorted(c.seq for c in changes)


def test_advance_never_moves_the_clock_back(engine: Engine) -> None:
    feed(engine, [report("fire", "f1", "fire.building", 60)])
    engine.advance(T0)
    assert engine.as_of == "2026-11-29T11:00:00Z"
    engine.advance(T0 + timedelta(hours=5))
    assert engine.picture().as_of == "2026-11-29T15:00:00Z"


def test_deadline_moved_by_each_report_resolves_once_at_the_last(engine: Engine) -> None:
    """Each report moves the resolve deadline later (one heap entry re-arms lazily): the
    incident resolves exactly once, at the last report's time plus the quiet time."""
    # updates of one thread, then new threads at the scene, each moving the deadline later
    feed(
        engine,
        [
            report("fire", "f1", "fire.building", 30 * n, sequence=n + 1, msg_type="update")
            for n in range(3)
        ],
    )
    feed(engine, [report("fire", f"f{n}", "fire.building", 40 + 20 * n) for n in (2, 3, 4)])
    (incident,) = incidents(engine)
    assert len(incident["threads"]) == 4
    last = T0 + timedelta(minutes=120)
    assert engine.advance(last + timedelta(hours=2) - timedelta(seconds=1) + LATENESS) == []
    changes = engine.advance(last + timedelta(hours=2) + LATENESS)
    resolved = [c for c in changes if isinstance(c, IncidentResolved)]
    assert [(c.id, c.at) for c in resolved] == [(incident["id"], last + timedelta(hours=2))]
    assert not any(
        isinstance(c, IncidentResolved) for c in engine.advance(last + timedelta(hours=6))
    )


def test_reopened_incident_resolves_before_its_earlier_close_deadline(engine: Engine) -> None:
    """An operator resolve arms the close deadline 24 h out; a reopen brings the resolve
    deadline back within 2 h, which must fire on time and not wait for the close entry."""
    feed(engine, [report("fire", "f1", "fire.building", 0)])
    (incident,) = incidents(engine)
    engine.resolve(incident["id"], T0 + timedelta(minutes=10))
    engine.reopen(incident["id"], T0 + timedelta(minutes=20))
    changes = engine.advance(T0 + timedelta(minutes=20, hours=2) + LATENESS)
    resolved = [c for c in changes if isinstance(c, IncidentResolved)]
    assert [c.at for c in resolved] == [T0 + timedelta(minutes=20, hours=2)]
    changes = engine.advance(T0 + timedelta(minutes=20, hours=26) + LATENESS)
    assert [type(c) for c in changes if c.entity == "incident"] == [IncidentClosed]
