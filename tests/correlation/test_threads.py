"""Threads: versions, duplicates, stale reports, cancels, CAP reference chains, status."""

from __future__ import annotations

from correlation.changes import IncidentCancelled, IncidentUpdated
from correlation.engine import Engine
from correlation.picture import picture_json
from tests.correlation.helpers import KOBLENZ, MAINZ, feed, incidents, moved, report


def test_update_replaces_the_threads_version(engine: Engine) -> None:
    feed(
        engine,
        [report("fire", "f1", "fire.building", 0, severity="moderate", metrics={"injured": 2})],
    )
    changes = feed(
        engine,
        [
            report(
                "fire",
                "f1",
                "fire.building",
                5,
                severity="severe",
                metrics={"injured": 5},
                sequence=2,
            )
        ],
    )
    (change,) = [c for c in changes if c.entity == "incident"]
    assert isinstance(change, IncidentUpdated)
    assert change.reason == "thread_updated"
    (incident,) = incidents(engine)
    assert incident["severity"] == "severe"
    assert incident["metrics"] == {"injured": 5}  # replaced, not added
    assert incident["last_seen"] == "2026-11-29T10:05:00Z"


def test_metrics_are_summed_over_threads(engine: Engine) -> None:
    feed(
        engine,
        [
            report("fire", "f1", "fire.building", 0, metrics={"injured": 2, "units": 4}),
            report("health", "h1", "medical.emergency", 1, metrics={"injured": 3}),
        ],
    )
    (incident,) = incidents(engine)
    assert incident["metrics"] == {"injured": 5, "units": 4}


def test_equal_sequence_is_a_duplicate(engine: Engine) -> None:
    first = report("fire", "f1", "fire.building", 0)
    feed(engine, [first])
    before, seq = picture_json(engine.picture()), engine.seq
    changed = report("fire", "f1", "fire.building", 9, severity="extreme")  # same sequence 1
    assert engine.process(first) == []
    assert engine.process(changed) == []
    assert engine.seq == seq
    assert picture_json(engine.picture()) == before


def test_lower_sequence_is_stale(engine: Engine) -> None:
    feed(engine, [report("fire", "f1", "fire.building", 0, sequence=5, severity="minor")])
    before = picture_json(engine.picture())
    assert (
        engine.process(report("fire", "f1", "fire.building", 1, sequence=4, severity="extreme"))
        == []
    )
    assert picture_json(engine.picture()) == before


def test_cancel_removes_the_thread(engine: Engine) -> None:
    feed(
        engine,
        [
            report("fire", "f1", "fire.building", 0, severity="severe"),
            report("health", "h1", "medical.emergency", 1, severity="minor"),
        ],
    )
    changes = feed(
        engine, [report("fire", "f1", "fire.building", 2, None, msg_type="cancel", sequence=2)]
    )
    (change,) = [c for c in changes if c.entity == "incident"]
    assert isinstance(change, IncidentUpdated)
    assert (change.reason, change.thread) == ("thread_cancelled", "fire:f1")
    (incident,) = incidents(engine)
    assert incident["threads"] == ["health:h1"]
    assert incident["severity"] == "minor"


def test_incident_without_threads_is_cancelled(engine: Engine) -> None:
    feed(engine, [report("fire", "f1", "fire.building", 0)])
    changes = feed(
        engine, [report("fire", "f1", "fire.building", 2, None, msg_type="cancel", sequence=2)]
    )
    (change,) = [c for c in changes if c.entity == "incident"]
    assert isinstance(change, IncidentCancelled)
    assert change.view is None
    assert incidents(engine) == []
    # the district no longer counts it
    koblenz = engine.picture().districts["07111"]
    assert sum(koblenz["open_incidents"].values()) == 0


def test_cancel_of_unknown_thread_changes_nothing_and_blocks_older_versions(engine: Engine) -> None:
    assert (
        engine.process(
            report("fire", "f1", "fire.building", 2, None, msg_type="cancel", sequence=2)
        )
        == []
    )
    assert engine.process(report("fire", "f1", "fire.building", 1, sequence=1)) == []
    assert incidents(engine) == []


def test_alert_after_cancel_with_higher_sequence_opens_again(engine: Engine) -> None:
    feed(
        engine,
        [
            report("fire", "f1", "fire.building", 0),
            report("fire", "f1", "fire.building", 1, None, msg_type="cancel", sequence=2),
            report("fire", "f1", "fire.building", 2, sequence=3),
        ],
    )
    (incident,) = incidents(engine)
    assert incident["threads"] == ["fire:f1"]


def test_cap_update_under_new_identifier_chains_onto_the_original_thread(engine: Engine) -> None:
    feed(
        engine,
        [
            report(
                "police",
                "A-1",
                "security.threat",
                0,
                KOBLENZ,
                message_id="A-1",
                severity="moderate",
            ),
            report(
                "police",
                "A-2",
                "security.threat",
                5,
                KOBLENZ,
                msg_type="update",
                message_id="A-2",
                references=["A-1"],
                severity="extreme",
            ),
        ],
    )
    (incident,) = incidents(engine)
    assert incident["threads"] == ["police:A-1"]
    assert incident["severity"] == "extreme"
    # a cancel referencing the update (not the original) still finds the thread
    changes = feed(
        engine,
        [
            report(
                "police",
                "A-3",
                "security.threat",
                9,
                None,
                msg_type="cancel",
                message_id="A-3",
                references=["A-2"],
            )
        ],
    )
    assert any(isinstance(c, IncidentCancelled) for c in changes)
    assert incidents(engine) == []


def test_chained_message_older_than_the_current_version_is_stale(engine: Engine) -> None:
    feed(
        engine,
        [
            report(
                "police",
                "A-2",
                "security.threat",
                5,
                KOBLENZ,
                message_id="A-2",
                references=["A-1"],
                severity="extreme",
            ),
        ],
    )
    # the original arrives after its update: it joins the thread but is older, so no change
    assert (
        engine.process(
            report(
                "police", "A-1", "security.threat", 0, KOBLENZ, message_id="A-1", severity="minor"
            )
        )
        == []
    )
    (incident,) = incidents(engine)
    assert incident["severity"] == "extreme"


def test_exercise_and_test_reports_never_reach_the_actual_picture(engine: Engine) -> None:
    empty = picture_json(engine.picture())
    assert engine.process(report("fire", "x1", "fire.building", 0, status="exercise")) == []
    assert engine.process(report("fire", "t1", "fire.building", 0, MAINZ, status="test")) == []
    assert picture_json(engine.picture()) == empty


def test_exercise_engine_sees_only_exercise_reports(engine: Engine) -> None:
    exercise = type(engine)(engine.rules, engine.districts, status="exercise")
    reports = [
        report("fire", "x1", "fire.building", 0, status="exercise"),
        report("fire", "a1", "fire.building", 0, moved(KOBLENZ, north_m=5000)),
    ]
    feed(exercise, reports)
    feed(engine, reports)
    assert [i["threads"] for i in incidents(exercise)] == [["fire:x1"]]
    assert [i["threads"] for i in incidents(engine)] == [["fire:a1"]]


def test_severity_title_and_category_come_from_the_most_severe_first_thread(engine: Engine) -> None:
    feed(
        engine,
        [
            report("police", "p1", "accident.traffic", 0, severity="severe", headline="Unfall B9"),
            report("fire", "f1", "fire.vehicle", 1, severity="severe", headline="PKW-Brand"),
            report("health", "h1", "medical.emergency", 2, severity="moderate"),
        ],
    )
    (incident,) = incidents(engine)
    assert (incident["severity"], incident["category"], incident["title"]) == (
        "severe", "accident.traffic", "Unfall B9",
    )  # fmt: skip
    feed(
        engine, [report("health", "h1", "medical.mass_casualty", 3, severity="extreme", sequence=2)]
    )
    (incident,) = incidents(engine)
    assert (incident["severity"], incident["category"], incident["title"]) == (
        "extreme", "medical.mass_casualty", "medical.mass_casualty",
    )  # fmt: skip


def test_thread_rerouted_to_warnings_leaves_its_incident(engine: Engine) -> None:
    feed(engine, [report("civil_protection", "c1", "flood.river", 0, KOBLENZ)])
    feed(engine, [report("civil_protection", "c1", "weather.flood", 5, KOBLENZ, sequence=2)])
    picture = engine.picture()
    assert picture.incidents == {}
    assert [w["threads"] for w in picture.warnings.values()] == [["civil_protection:c1"]]
