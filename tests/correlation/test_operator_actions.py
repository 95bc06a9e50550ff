"""Operator actions as engine input: acknowledge, note, status, merge, split, declared level;
pure, deterministic, surviving snapshots and replays."""

from __future__ import annotations

from datetime import timedelta

import pytest

from correlation.actions import (
    Acknowledge,
    AnyAction,
    DeclareLevel,
    Merge,
    Note,
    SetStatus,
    Split,
    action_to_builtins,
    decode_action,
)
from correlation.changes import Change, DistrictLevelChanged, IncidentClosed, IncidentOpened
from correlation.engine import Engine
from correlation.errors import ActionInvalid, UnknownIncident
from correlation.picture import picture_json
from ingest.report import Report
from tests.correlation.helpers import KOBLENZ, MAINZ, T0, feed, incidents, moved, report

WHO = "Anna Schmidt (operator, token 0a1b2c3d)"


def when(minutes: float):  # type: ignore[no-untyped-def]
    return T0 + timedelta(minutes=minutes)


def two_scenes(engine: Engine) -> tuple[str, str]:
    feed(engine, [report("fire", "k1", point=KOBLENZ), report("fire", "m1", point=MAINZ)])
    by_thread = {i["threads"][0]: i["id"] for i in incidents(engine)}
    return by_thread["fire:k1"], by_thread["fire:m1"]


def one_scene(engine: Engine) -> str:
    feed(
        engine,
        [
            report("fire", "f1", point=KOBLENZ),
            report("police", "p1", "accident.traffic", 1, moved(KOBLENZ, 60)),
        ],
    )
    (incident,) = incidents(engine)
    assert incident["threads"] == ["fire:f1", "police:p1"]
    return str(incident["id"])


def test_acknowledge_and_note_show_in_the_view(engine_type: type[Engine]) -> None:
    engine = engine_type()
    koblenz, _ = two_scenes(engine)
    changes = engine.act(Acknowledge(at=when(2), actor=WHO, incident=koblenz))
    assert [c.reason for c in changes] == ["acknowledged"]  # type: ignore[attr-defined]
    assert engine.act(Acknowledge(at=when(3), actor="someone else", incident=koblenz)) == []
    engine.act(Note(at=when(4), actor=WHO, incident=koblenz, text="  THW angefordert "))
    view = next(i for i in incidents(engine) if i["id"] == koblenz)
    assert view["acknowledged"] == {"at": "2026-11-29T10:02:00Z", "by": WHO}
    assert view["notes"] == [{"at": "2026-11-29T10:04:00Z", "by": WHO, "text": "THW angefordert"}]
    other = next(i for i in incidents(engine) if i["id"] != koblenz)
    assert "acknowledged" not in other
    assert "notes" not in other


def test_set_status_resolves_reopens_and_closes(engine_type: type[Engine]) -> None:
    engine = engine_type()
    koblenz, mainz = two_scenes(engine)
    engine.act(SetStatus(at=when(5), actor=WHO, incident=koblenz, status="resolved"))
    assert {i["id"]: i["status"] for i in incidents(engine)}[koblenz] == "resolved"
    engine.act(SetStatus(at=when(6), actor=WHO, incident=koblenz, status="open"))
    assert {i["id"]: i["status"] for i in incidents(engine)}[koblenz] == "open"
    closed = engine.act(SetStatus(at=when(7), actor=WHO, incident=koblenz, status="closed"))
    (gone,) = [c for c in closed if isinstance(c, IncidentClosed)]
    assert gone.reason == "operator"
    assert gone.id == koblenz
    assert [i["id"] for i in incidents(engine)] == [mainz]


def test_merge_keeps_the_threads_together_even_when_they_move(engine_type: type[Engine]) -> None:
    engine = engine_type()
    koblenz, mainz = two_scenes(engine)
    changes = engine.act(Merge(at=when(3), actor=WHO, incident=koblenz, other=mainz))
    assert isinstance(changes[0], IncidentClosed)
    assert changes[0].reason == f"merged_into:{koblenz}"
    (merged,) = incidents(engine)
    assert merged["id"] == koblenz
    assert merged["threads"] == ["fire:k1", "fire:m1"]
    link = next(x for x in merged["links"] if x["thread"] == "fire:m1")
    assert link["reason"] == f"merged by an operator from {mainz}"
    # an update of the merged thread, 50 km away from the centroid, stays (pinned)
    feed(engine, [report("fire", "m1", minutes=10, point=moved(MAINZ, 500), sequence=2)])
    (still,) = incidents(engine)
    assert still["threads"] == ["fire:k1", "fire:m1"]
    with pytest.raises(ActionInvalid):
        engine.check(Merge(at=when(11), actor=WHO, incident=koblenz, other=koblenz))


def test_split_takes_a_thread_into_its_own_incident(engine_type: type[Engine]) -> None:
    engine = engine_type()
    scene = one_scene(engine)
    changes = engine.act(Split(at=when(5), actor=WHO, incident=scene, thread="police:p1"))
    opened = [c for c in changes if isinstance(c, IncidentOpened)]
    assert len(opened) == 1
    assert opened[0].reason == f"split_from:{scene}"
    threads = {i["id"]: i["threads"] for i in incidents(engine)}
    assert threads[scene] == ["fire:f1"]
    assert threads[opened[0].id] == ["police:p1"]
    # the split thread's update stays apart although it is still at the scene
    feed(engine, [report("police", "p1", "accident.traffic", 8, moved(KOBLENZ, 70), sequence=2)])
    threads = {i["id"]: i["threads"] for i in incidents(engine)}
    assert threads == {scene: ["fire:f1"], opened[0].id: ["police:p1"]}
    with pytest.raises(ActionInvalid, match="only thread"):
        engine.check(Split(at=when(9), actor=WHO, incident=scene, thread="fire:f1"))


def test_declared_level_overrides_the_rules_until_withdrawn(engine_type: type[Engine]) -> None:
    engine = engine_type()
    two_scenes(engine)
    ags = "07111"
    changes = engine.act(
        DeclareLevel(at=when(3), actor=WHO, district=ags, level=3, reason="Katastrophenfall")
    )
    level = [c for c in changes if isinstance(c, DistrictLevelChanged)]
    assert [(c.id, c.old_level, c.new_level) for c in level] == [(ags, 0, 3)]
    district = next(d for d in engine.picture().to_builtins()["districts"] if d["ags"] == ags)
    assert district["level"] == 3
    assert district["declared_level"] == 3
    assert district["level_reason"] == f"declared by {WHO}: Katastrophenfall"
    engine.act(DeclareLevel(at=when(4), actor=WHO, district=ags, level=None))
    district = next(d for d in engine.picture().to_builtins()["districts"] if d["ags"] == ags)
    assert district["level"] == 0
    assert district["declared_level"] is None
    with pytest.raises(ActionInvalid):
        engine.check(DeclareLevel(at=when(5), actor=WHO, district="99999", level=1))
    with pytest.raises(ActionInvalid):
        engine.check(DeclareLevel(at=when(5), actor=WHO, district=ags, level=4))


def test_invalid_actions_change_nothing(engine_type: type[Engine]) -> None:
    engine = engine_type()
    koblenz, _ = two_scenes(engine)
    before = (engine.seq, engine.as_of, picture_json(engine.picture()))
    with pytest.raises(UnknownIncident):
        engine.act(Acknowledge(at=when(60), actor=WHO, incident="inc-nope"))
    with pytest.raises(ActionInvalid):
        engine.act(Note(at=when(60), actor=WHO, incident=koblenz, text="   "))
    with pytest.raises(ActionInvalid):
        engine.act(Split(at=when(60), actor=WHO, incident=koblenz, thread="fire:zz"))
    assert (engine.seq, engine.as_of, picture_json(engine.picture())) == before


def _script(engine: Engine) -> list[Report | AnyAction]:
    koblenz, mainz = two_scenes(engine)  # the ids are deterministic: a fresh engine finds them
    return [
        report("police", "p1", "accident.traffic", 1, moved(KOBLENZ, 60)),
        Acknowledge(at=when(2), actor=WHO, incident=koblenz),
        Split(at=when(3), actor=WHO, incident=koblenz, thread="police:p1"),
        report("fire", "k2", minutes=4, point=moved(KOBLENZ, 30)),
        Merge(at=when(5), actor=WHO, incident=koblenz, other=mainz),
        DeclareLevel(at=when(6), actor=WHO, district="07315", level=2, reason="Hochwasser"),
        report("fire", "m1", minutes=7, point=moved(MAINZ, 900), sequence=2),
        Note(at=when(8), actor=WHO, incident=koblenz, text="Lage stabil"),
        SetStatus(at=when(9), actor=WHO, incident=koblenz, status="resolved"),
    ]


def _run(engine: Engine, items: list[Report | AnyAction]) -> list[Change]:
    out: list[Change] = []
    for item in items:
        out.extend(engine.process(item) if isinstance(item, Report) else engine.act(item))
    return out


def test_replays_and_snapshots_give_the_same_picture(engine_type: type[Engine]) -> None:
    first = engine_type()
    script = _script(first)
    _run(first, script)
    again = engine_type()
    assert _script(again) == script
    _run(again, script)
    assert picture_json(again.picture()) == picture_json(first.picture())
    # through the journal's JSON form and a snapshot half-way
    half = engine_type()
    _script(half)
    _run(half, script[:4])
    restored = engine_type.restore(half.snapshot())
    rest = [x if isinstance(x, Report) else decode_action(action_to_builtins(x)) for x in script]
    _run(restored, rest[4:])
    assert picture_json(restored.picture()) == picture_json(first.picture())
    assert restored.snapshot() == first.snapshot()
    district = next(d for d in restored.picture().to_builtins()["districts"] if d["ags"] == "07315")
    assert district["declared_level"] == 2
