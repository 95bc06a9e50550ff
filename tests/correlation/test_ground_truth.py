"""Ground truth: the generated multi-agency RLP scenario (ops/scenario.py) is correlated exactly.

Each of the engine's incidents must be exactly one ground-truth incident: its thread set equals
that incident's threads minus the cancelled ones, with nothing merged and nothing split; fully
cancelled incidents leave no trace. Incidents appear in the picture as long as the quiet time
has not closed them, so the picture is taken right after the last report (no advance).
"""

from __future__ import annotations

from collections import Counter

import pytest

from correlation.changes import Change, IncidentCancelled, IncidentClosed
from correlation.engine import Engine
from correlation.picture import picture_json
from ops.scenario import Scenario, generate
from tests.correlation.helpers import replayed


@pytest.fixture(scope="module", params=[11, 12])
def scenario(request: pytest.FixtureRequest) -> Scenario:
    return generate(incidents=600, seed=request.param, warnings=6, capacity_reports=60)


def _all_threads(engine: Engine, changes: list[Change]) -> dict[str, frozenset[str]]:
    """Every incident the engine ever had, with its last known thread set (closed ones too)."""
    threads: dict[str, frozenset[str]] = {}
    for change in changes:
        if change.entity == "incident" and change.view is not None:
            threads[change.id] = frozenset(change.view["threads"])
        elif isinstance(change, IncidentCancelled):
            threads.pop(change.id, None)
        elif isinstance(change, IncidentClosed):
            pass  # keeps its last thread set
    return threads


def test_engine_incidents_match_ground_truth_one_to_one(engine: Engine, scenario: Scenario) -> None:
    changes: list[Change] = []
    for report in scenario.reports:
        changes.extend(engine.process(report))
    expected = {
        frozenset(t for t in truth.threads if t not in scenario.cancelled_threads): truth.key
        for truth in scenario.incidents
    }
    expected.pop(frozenset(), None)
    found = _all_threads(engine, changes)
    assert len(expected) > 300
    counts = Counter(found.values())
    assert all(n == 1 for n in counts.values())  # no two engine incidents share a thread set
    missing = set(expected) - set(found.values())
    extra = set(found.values()) - set(expected)
    example = sorted(missing, key=sorted)[:3]
    assert not missing, f"{len(missing)} ground-truth incidents not found, e.g. {example}"
    example = sorted(extra, key=sorted)[:3]
    assert not extra, f"{len(extra)} engine incidents not in the ground truth, e.g. {example}"


def test_scenario_districts_and_families_match(engine: Engine, scenario: Scenario) -> None:
    for report in scenario.reports:
        engine.process(report)
    by_threads = {
        frozenset(t for t in truth.threads if t not in scenario.cancelled_threads): truth
        for truth in scenario.incidents
    }
    live = engine.picture().incidents.values()
    assert len(live) > 100
    for incident in live:
        truth = by_threads[frozenset(incident["threads"])]
        assert incident["district"] == truth.district
        if truth.threads[0] in incident["threads"]:  # the primary thread was not cancelled
            assert truth.family in incident["families"]
            assert incident["first_seen"] <= incident["last_seen"]


def test_scenario_warnings_and_capacity_match(engine: Engine, scenario: Scenario) -> None:
    base = type(engine)(engine.rules, engine.districts).picture()
    changes: list[Change] = []
    for report in scenario.reports:
        changes.extend(engine.process(report))
    picture = engine.picture()
    issued = {c.view["threads"][0] for c in changes if c.entity == "warning" and c.view is not None}
    assert issued == {w.thread for w in scenario.warnings}
    for truth in scenario.warnings:
        found = [w for w in picture.warnings.values() if w["threads"] == [truth.thread]]
        if found:
            assert not truth.cancelled
            assert found[0]["districts"] == list(truth.districts)
    capacity = {
        a: d["icu_beds_free"]
        for a, d in picture.districts.items()
        if d["icu_beds_free"] is not None
    }
    assert capacity == dict(scenario.capacity)
    replica = replayed(base, changes)
    replica.advance(engine.as_of)
    assert picture_json(replica) == picture_json(picture)
