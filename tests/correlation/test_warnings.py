"""Warnings: onset, expiry, cancel, links to incidents and districts; real DWD CAP chains."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from correlation.changes import (
    IncidentUpdated,
    WarningCancelled,
    WarningExpired,
    WarningIssued,
    WarningUpdated,
)
from correlation.engine import Engine
from ingest.formats.cap import parse_cap
from ingest.report import Report
from tests.correlation.helpers import KOBLENZ, MAINZ, T0, at, feed, incidents, report

LATENESS = timedelta(minutes=5)


def _square(center: tuple[float, float], half: float) -> dict[str, object]:
    lon, lat = center
    ring = [[lon - half, lat - half], [lon + half, lat - half], [lon + half, lat + half],
            [lon - half, lat + half], [lon - half, lat - half]]  # fmt: skip
    return {"type": "Polygon", "coordinates": [ring]}


def _warning(source_id: str = "w1", minutes: float = 0, **fields: object) -> Report:
    fields.setdefault("geometry", _square(KOBLENZ, 0.05))
    return report("weather", source_id, "weather.thunderstorm", minutes, None, **fields)


def _dwd_chain(shared_data: Path) -> list[Report]:
    found: list[Report] = []
    for name in ("dwd_2019_alert_1", "dwd_2019_alert_1_update_1", "dwd_2019_alert_1_update_2",
                 "dwd_2019_alert_1_update_3"):  # fmt: skip
        found.extend(parse_cap((shared_data / "cap" / "dwd" / f"{name}.xml").read_bytes()).reports)
    return found


def test_real_dwd_alert_and_updates_are_one_warning(engine: Engine, shared_data: Path) -> None:
    chain = _dwd_chain(shared_data)
    assert len({r.source_id for r in chain}) == 3  # each CAP update names the one before
    changes = feed(engine, chain)
    warning_changes = [c for c in changes if c.entity == "warning"]
    assert [type(c) for c in warning_changes] == [WarningIssued] + [WarningUpdated] * 3
    assert len({c.id for c in warning_changes}) == 1
    (warning,) = engine.picture().warnings.values()
    assert warning["threads"] == [chain[0].thread]
    assert warning["category"] == "weather.glaette"
    assert warning["status"] == "active"
    # DWD moves the onset of each update to its sending time (08:16 local = 07:16 UTC)
    assert (warning["onset"], warning["expires"]) == (
        "2019-01-23T07:16:00Z",
        "2019-01-23T11:00:00Z",
    )
    # the districts of the LAST version's warn cells (the updates shrink the area)
    assert warning["districts"] == list(engine.districts.for_codes(chain[-1].area_codes))
    assert 10 < len(warning["districts"]) < len(engine.districts.for_codes(chain[0].area_codes))
    assert all(a.startswith("07") and len(a) == 5 for a in warning["districts"])
    assert warning["geometry"]["type"] in ("Polygon", "MultiPolygon")
    districts = engine.picture().districts
    assert all(warning["id"] in districts[a]["warnings"] for a in warning["districts"])
    # it expires when the watermark passes its expiry, and leaves the districts
    assert not any(
        isinstance(c, WarningExpired)
        for c in engine.advance(datetime(2019, 1, 23, 11, 4, tzinfo=UTC))
    )
    changes = engine.advance(datetime(2019, 1, 23, 11, 5, tzinfo=UTC))
    assert [type(c) for c in changes if c.entity == "warning"] == [WarningExpired]
    assert engine.picture().warnings == {}
    assert all(d["warnings"] == [] for d in engine.picture().districts.values())


def test_pending_warning_becomes_active_at_onset(engine: Engine) -> None:
    feed(engine, [report("fire", "f1", "fire.building", 0, KOBLENZ)])
    changes = feed(engine, [_warning(minutes=1, onset_at=at(60), expires_at=at(180))])
    (issued,) = changes
    assert isinstance(issued, WarningIssued)
    assert issued.view is not None
    assert issued.view["status"] == "pending"
    assert incidents(engine)[0]["warnings"] == []
    assert engine.picture().districts["07111"]["warnings"] == []
    changes = engine.advance(T0 + timedelta(minutes=60) + LATENESS)
    onset = [c for c in changes if isinstance(c, WarningUpdated)]
    assert [c.reason for c in onset] == ["onset"]
    assert onset[0].at == T0 + timedelta(minutes=60)
    linked = [c for c in changes if isinstance(c, IncidentUpdated)]
    assert [c.reason for c in linked] == ["warning_linked"]
    assert incidents(engine)[0]["warnings"] == [issued.id]
    assert engine.picture().districts["07111"]["warnings"] == [issued.id]


def test_incident_opened_inside_an_active_warning_is_linked(engine: Engine) -> None:
    (issued,) = [c for c in feed(engine, [_warning(expires_at=at(180))]) if c.entity == "warning"]
    feed(
        engine,
        [
            report("fire", "in", "fire.building", 5, KOBLENZ),
            report("fire", "out", "fire.building", 5, MAINZ),
        ],
    )
    by_thread = {i["threads"][0]: i["warnings"] for i in incidents(engine)}
    assert by_thread == {"fire:in": [issued.id], "fire:out": []}


def test_cancel_removes_the_warning_and_its_links(engine: Engine) -> None:
    (issued,) = [c for c in feed(engine, [_warning(expires_at=at(180))]) if c.entity == "warning"]
    feed(engine, [report("fire", "in", "fire.building", 5, KOBLENZ)])
    changes = feed(engine, [_warning(minutes=10, msg_type="cancel", sequence=2)])
    kinds = [type(c).__name__ for c in changes]
    assert kinds[:2] == ["WarningCancelled", "IncidentUpdated"]
    assert set(kinds[2:]) == {"DistrictUpdated"}
    assert isinstance(changes[0], WarningCancelled)
    assert changes[0].view is None
    assert incidents(engine)[0]["warnings"] == []
    assert engine.picture().warnings == {}
    assert issued.id not in engine.picture().districts["07111"]["warnings"]


def test_warning_without_expiry_expires_after_the_default_duration(engine: Engine) -> None:
    feed(engine, [_warning()])
    (warning,) = engine.picture().warnings.values()
    assert warning["expires"] == "2026-11-30T10:00:00Z"


def test_area_code_warning_takes_the_districts_geometry(engine: Engine) -> None:
    feed(engine, [_warning(geometry=None, area_codes=["07111", "07315"])])
    (warning,) = engine.picture().warnings.values()
    assert warning["districts"] == ["07111", "07315"]
    assert warning["geometry"]["type"] == "MultiPolygon"
    feed(engine, [report("police", "p", "security.threat", 1, MAINZ)])
    assert incidents(engine)[0]["warnings"] == [warning["id"]]


def test_update_moving_the_area_relinks_incidents(engine: Engine) -> None:
    feed(engine, [_warning(expires_at=at(300)), report("fire", "f", "fire.building", 1, KOBLENZ)])
    (warning_id,) = engine.picture().warnings
    changes = feed(
        engine, [_warning(minutes=2, sequence=2, expires_at=at(300), geometry=_square(MAINZ, 0.05))]
    )
    kinds = [type(c).__name__ for c in changes]
    assert kinds[:2] == ["WarningUpdated", "IncidentUpdated"]
    touched = {c.id for c in changes if c.entity == "district"}
    assert {"07111", "07315"} <= touched
    assert incidents(engine)[0]["warnings"] == []
    assert engine.picture().districts["07315"]["warnings"] == [warning_id]


def test_civil_protection_cap_report_is_a_warning(engine: Engine) -> None:
    feed(engine, [report("civil_protection", "c1", "fire.forest", 0, KOBLENZ, feed_format="cap")])
    picture = engine.picture()
    assert picture.incidents == {}
    assert len(picture.warnings) == 1
