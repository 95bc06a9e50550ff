"""Capacity layer (real DIVI series for the state) and district escalation levels."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from correlation.changes import CapacityUpdated, DistrictLevelChanged, DistrictUpdated
from correlation.engine import Engine
from correlation.rules import Rules
from ingest.districts import Districts
from ingest.report import Report, report_from_mapping
from tests.correlation.helpers import KOBLENZ, MAINZ, T0, at, feed, moved, report


def _divi_rows(shared_data: Path) -> list[dict[str, str]]:
    path = shared_data / "health" / "divi_icu_rlp_state_2021-11_to_2022-01.csv"
    with path.open(encoding="utf-8") as handle:
        return [r for r in csv.DictReader(handle) if r["behandlungsgruppe"] == "Erwachsene"]


def _divi_report(row: dict[str, str], source_id: str) -> Report:
    return report_from_mapping(
        {
            "source": "health",
            "source_id": source_id,
            "category": "capacity.icu",
            "observed_at": f"{row['datum']}T08:00:00+01:00",
            "area_codes": [row["bundesland_id"]],
            "metrics": {"icu_beds_free": int(row["intensivbetten_frei"])},
        }
    )


def test_state_capacity_from_real_divi_series_keeps_the_latest(
    engine: Engine, shared_data: Path
) -> None:
    rows = _divi_rows(shared_data)[:30]
    changes = feed(engine, [_divi_report(row, f"divi-{row['datum']}") for row in rows])
    assert all(isinstance(c, CapacityUpdated) for c in changes)
    assert len(changes) == 30
    capacity = engine.picture().to_builtins()["capacity"]
    assert len(capacity) == 1
    assert capacity[0]["id"] == "07"
    assert capacity[0]["icu_beds_free"] == int(rows[-1]["intensivbetten_frei"])
    assert capacity[0]["updated_at"] == f"{rows[-1]['datum']}T07:00:00Z"
    # the state figure is not any district's
    assert all(d["icu_beds_free"] is None for d in engine.picture().districts.values())


def test_real_divi_rows_out_of_order_keep_the_latest_by_event_time(
    engine: Engine, shared_data: Path
) -> None:
    rows = _divi_rows(shared_data)[:5]
    feed(engine, [_divi_report(row, f"divi-{row['datum']}") for row in reversed(rows)])
    (capacity,) = engine.picture().capacity.values()
    assert capacity["icu_beds_free"] == int(rows[-1]["intensivbetten_frei"])


def _hospital(source_id: str, minutes: float, **fields: object) -> Report:
    return report("health", source_id, "capacity.hospital", minutes, None, **fields)


def test_district_capacity_by_code_and_by_point(engine: Engine) -> None:
    changes = feed(
        engine,
        [
            _hospital(
                "kh1", 0, area_codes=["07111000"], metrics={"icu_beds_free": 4, "beds_free": 40}
            )
        ],
    )
    (change,) = changes
    assert isinstance(change, DistrictUpdated)
    assert (change.id, change.reason) == ("07111", "capacity")
    feed(
        engine,
        [
            report("health", "kh2", "capacity.hospital", 10, MAINZ, metrics={"icu_beds_free": 7}),
            _hospital("kh1", 20, area_codes=["07111000"], metrics={"icu_beds_free": 2}, sequence=2),
        ],
    )
    districts = engine.picture().districts
    assert (districts["07111"]["icu_beds_free"], districts["07111"]["beds_free"]) == (2, None)
    assert districts["07315"]["icu_beds_free"] == 7


def test_capacity_by_municipality_and_warn_cell_codes(engine: Engine) -> None:
    feed(
        engine,
        [
            _hospital("gem", 0, area_codes=["073150000000"], metrics={"icu_beds_free": 9}),
            _hospital("cell", 1, area_codes=["807111000"], metrics={"beds_free": 30}),
            _hospital("region", 2, area_codes=["071"], metrics={"icu_beds_free": 99}),
        ],
    )
    districts = engine.picture().districts
    assert districts["07315"]["icu_beds_free"] == 9
    assert districts["07111"]["beds_free"] == 30
    assert all(d["icu_beds_free"] != 99 for d in districts.values())


def test_cancelled_capacity_falls_back_to_the_previous_report(engine: Engine) -> None:
    feed(
        engine,
        [
            _hospital("a", 0, area_codes=["07111"], metrics={"icu_beds_free": 5}),
            _hospital("b", 10, area_codes=["07111"], metrics={"icu_beds_free": 1}),
        ],
    )
    assert engine.picture().districts["07111"]["icu_beds_free"] == 1
    feed(engine, [_hospital("b", 11, msg_type="cancel", sequence=2)])
    assert engine.picture().districts["07111"]["icu_beds_free"] == 5
    feed(engine, [_hospital("a", 12, msg_type="cancel", sequence=2)])
    assert engine.picture().districts["07111"]["icu_beds_free"] is None


def _levels(engine: Engine) -> dict[str, int]:
    return {a: d["level"] for a, d in engine.picture().districts.items() if d["level"]}


def test_escalation_levels_follow_the_shipped_rules(engine: Engine) -> None:
    changes = feed(engine, [report("fire", "s1", "fire.building", 0, KOBLENZ, severity="severe")])
    (level,) = [c for c in changes if isinstance(c, DistrictLevelChanged)]
    assert (level.id, level.old_level, level.new_level) == ("07111", 0, 1)
    assert level.reason.startswith("incidents_severe >= 1")
    far = [moved(KOBLENZ, east_m=600 * k) for k in range(1, 4)]
    feed(
        engine,
        [
            report("fire", f"s{k + 2}", "fire.building", 1, p, severity="severe")
            for k, p in enumerate(far[:2])
        ],
    )
    assert _levels(engine) == {"07111": 2}  # three severe incidents
    koblenz = engine.picture().districts["07111"]
    assert koblenz["open_incidents"]["severe"] == 3
    assert koblenz["level_reason"] == "incidents_severe >= 3 (incidents_severe = 3)"
    feed(
        engine, [report("health", "dead", "medical.mass_casualty", 2, far[2], metrics={"dead": 5})]
    )
    assert _levels(engine) == {"07111": 3}


def test_casualties_and_evacuated_raise_the_level(engine: Engine) -> None:
    feed(
        engine, [report("fire", "a", "fire.building", 0, MAINZ, metrics={"injured": 6, "dead": 4})]
    )
    assert _levels(engine) == {"07315": 2}
    feed(
        engine,
        [report("civil_protection", "e", "flood.river", 0, KOBLENZ, metrics={"evacuated": 6000})],
    )
    assert _levels(engine) == {"07315": 2, "07111": 3}


def test_extreme_warning_and_extreme_incident_make_a_disaster(engine: Engine) -> None:
    feed(
        engine,
        [
            report(
                "weather", "w", "weather.flood", 0, None, area_codes=["07111"], severity="extreme"
            )
        ],
    )
    assert _levels(engine) == {"07111": 1}
    changes = feed(engine, [report("fire", "x", "fire.building", 1, KOBLENZ, severity="extreme")])
    (level,) = [c for c in changes if isinstance(c, DistrictLevelChanged)]
    assert (level.old_level, level.new_level) == (1, 3)
    assert "warnings_extreme >= 1 and incidents_extreme >= 1" in level.reason


def test_level_falls_when_the_incident_resolves(engine: Engine) -> None:
    feed(engine, [report("fire", "x", "fire.building", 0, KOBLENZ, severity="extreme")])
    changes = engine.advance(T0 + timedelta(hours=3))
    (level,) = [c for c in changes if isinstance(c, DistrictLevelChanged)]
    assert (level.old_level, level.new_level) == (2, 0)


def test_custom_escalation_rules_are_data(
    engine_type: type[Engine], districts: Districts, rules: Rules
) -> None:
    text = (Path(__file__).parents[2] / "correlation" / "rules.toml").read_text(encoding="utf-8")
    head = text.split("[[escalation]]")[0]
    custom = Rules.from_toml(
        head + '[[escalation]]\nlevel = 2\nwhen = "icu_beds_free <= 2 and incidents_open >= 1"\n'
    )
    engine = engine_type(custom, districts)
    feed(
        engine,
        [
            report(
                "health",
                "kh",
                "capacity.hospital",
                0,
                None,
                area_codes=["07111"],
                metrics={"icu_beds_free": 2},
            )
        ],
    )
    assert _levels(engine) == {}
    feed(engine, [report("fire", "f", "fire.building", 1, KOBLENZ)])
    assert _levels(engine) == {"07111": 2}


@pytest.mark.parametrize("when", [datetime(2026, 11, 29, 9, tzinfo=UTC)])
def test_picture_lists_every_district_from_the_start(engine: Engine, when: datetime) -> None:
    picture = engine.picture()
    assert len(picture.districts) == 36
    assert picture.as_of is None
    engine.advance(when)
    assert engine.picture().as_of == at(-60).replace("+00:00", "Z")
