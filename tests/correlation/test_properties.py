"""Property tests (hypothesis) over random multi-agency logs on the real RLP districts."""

from __future__ import annotations

import itertools
import math
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from correlation.changes import encode_change
from correlation.engine import Engine
from correlation.picture import picture_json
from correlation.rules import Rules
from correlation.spatial import distance_m
from ingest.districts import rlp_districts
from ingest.report import Point, Report
from tests.correlation.helpers import KOBLENZ, MAINZ, T0, TRIER, feed, moved, replayed, report

RULES = Rules.default()
DISTRICTS = rlp_districts()
SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
# Scenes: some within joining distance of one another, some kilometres apart.
ANCHORS = (
    KOBLENZ,
    moved(KOBLENZ, east_m=180),
    moved(KOBLENZ, north_m=1500),
    moved(KOBLENZ, east_m=9000),
    MAINZ,
    TRIER,
)
INCIDENT_KINDS = (
    ("police", "accident.traffic"),
    ("police", "security.public_order"),
    ("fire", "fire.building"),
    ("fire", "rescue.technical"),
    ("health", "medical.emergency"),
    ("civil_protection", "flood.river"),
    ("fire", "infrastructure.power_outage"),
    ("other", "other.misc"),
)
SEVERITIES = ("extreme", "severe", "moderate", "minor", "unknown")


@st.composite
def logs(draw: st.DrawFn, *, size: int = 30) -> list[Report]:
    """Reports of up to 10 threads in log order: event time mostly rising, some late ones."""
    count = draw(st.integers(1, size))
    threads: dict[int, tuple[str, str, tuple[float, float]]] = {}
    sequences: dict[int, int] = {}
    clock = 0.0
    out: list[Report] = []
    for _ in range(count):
        clock += draw(st.sampled_from((0.0, 1.0, 4.0, 10.0, 25.0, 90.0, 200.0)))
        minutes = clock - draw(st.sampled_from((0.0, 0.0, 0.0, 3.0, 30.0)))
        number = draw(st.integers(0, 9))
        kind = draw(st.sampled_from(("incident",) * 8 + ("warning", "capacity")))
        if number not in threads:
            anchor = draw(st.sampled_from(ANCHORS))
            jitter = moved(anchor, draw(st.integers(-60, 60)), draw(st.integers(-60, 60)))
            if kind == "warning":
                threads[number] = ("weather", "weather.storm", jitter)
            elif kind == "capacity":
                threads[number] = ("health", "capacity.icu", jitter)
            else:
                source, category = draw(st.sampled_from(INCIDENT_KINDS))
                threads[number] = (source, category, jitter)
        source, category, point = threads[number]
        sequence = sequences.get(number, 0) + draw(st.sampled_from((0, 1, 1, 1, 2)))
        sequences[number] = max(sequence, sequences.get(number, 0))
        msg_type = draw(st.sampled_from(("alert", "update", "update", "cancel")))
        fields: dict[str, Any] = {
            "sequence": max(1, sequence),
            "msg_type": msg_type,
            "severity": draw(st.sampled_from(SEVERITIES)),
        }
        if category.startswith("weather"):
            fields["geometry"] = {"type": "Polygon", "coordinates": [_square(point, 0.02)]}
            fields["expires_at"] = (
                T0 + timedelta(minutes=minutes + draw(st.sampled_from((30, 300))))
            ).isoformat()
            out.append(report(source, f"t{number}", category, minutes, None, **fields))
            continue
        if category.startswith("capacity"):
            fields["metrics"] = {"icu_beds_free": draw(st.integers(0, 20))}
        else:
            fields["metrics"] = draw(
                st.sampled_from(({}, {"injured": 2}, {"dead": 1, "evacuated": 600}))
            )
        out.append(report(source, f"t{number}", category, minutes, point, **fields))
    return out


def _square(center: tuple[float, float], half: float) -> list[list[float]]:
    lon, lat = center
    return [[lon - half, lat - half], [lon + half, lat - half], [lon + half, lat + half],
            [lon - half, lat + half], [lon - half, lat - half]]  # fmt: skip


def _engine(engine_type: type[Engine]) -> Engine:
    return engine_type(RULES, DISTRICTS)


@SETTINGS
@given(logs(), st.data())
def test_a_duplicate_changes_nothing(
    engine_type: type[Engine], log: list[Report], data: st.DataObject
) -> None:
    engine = _engine(engine_type)
    feed(engine, log)
    before, seq = picture_json(engine.picture()), engine.seq
    again = data.draw(st.sampled_from(log))
    assert engine.process(again) == []
    assert engine.seq == seq
    assert picture_json(engine.picture()) == before


@SETTINGS
@given(logs())
def test_replaying_the_same_log_gives_identical_output(
    engine_type: type[Engine], log: list[Report]
) -> None:
    first, second = _engine(engine_type), _engine(engine_type)
    assert [encode_change(c) for c in feed(first, log)] == [
        encode_change(c) for c in feed(second, log)
    ]
    assert picture_json(first.picture()) == picture_json(second.picture())
    assert first.snapshot() == second.snapshot()


@SETTINGS
@given(logs())
def test_cancel_after_alert_leaves_no_live_thread(
    engine_type: type[Engine], log: list[Report]
) -> None:
    engine = _engine(engine_type)
    feed(engine, log)
    last = max(r.observed_at for r in log)
    top: dict[str, Report] = {}
    for item in log:
        if item.thread not in top or item.sequence > top[item.thread].sequence:
            top[item.thread] = item
    for _, item in sorted(top.items()):
        cancel = report(
            item.source, item.source_id, item.category, 0, None,
            observed_at=last.isoformat(), msg_type="cancel", sequence=item.sequence + 1,
        )  # fmt: skip
        engine.process(cancel)
    picture = engine.picture()
    assert picture.incidents == {}
    assert picture.warnings == {}
    assert picture.capacity == {}
    assert all(d["icu_beds_free"] is None and d["level"] == 0 for d in picture.districts.values())


@SETTINGS
@given(logs())
def test_reports_more_than_ten_km_apart_never_share_an_incident(
    engine_type: type[Engine], log: list[Report]
) -> None:
    engine = _engine(engine_type)
    feed(engine, log)
    where = {r.thread: r.geometry.coordinates for r in log if isinstance(r.geometry, Point)}
    for incident in engine.picture().incidents.values():
        for a, b in itertools.combinations(incident["threads"], 2):
            assert distance_m(where[a][0], where[a][1], where[b][0], where[b][1]) <= 10_000


@SETTINGS
@given(
    st.floats(6.2, 8.4),
    st.floats(49.1, 50.8),
    st.permutations(("police", "fire", "health")),
    st.lists(
        st.tuples(st.integers(-70, 70), st.integers(-70, 70), st.integers(0, 600)),
        min_size=3,
        max_size=3,
    ),
    st.sampled_from(("fire.building", "rescue.technical", "hazmat.gas_leak")),
)
def test_police_fire_health_at_one_scene_become_one_incident(
    engine_type: type[Engine],
    lon: float,
    lat: float,
    order: tuple[str, ...],
    offsets: list[tuple[int, int, int]],
    fire: str,
) -> None:
    categories = {"police": "accident.traffic", "fire": fire, "health": "medical.emergency"}
    reports = []
    for source, (east, north, seconds) in zip(order, offsets, strict=True):
        point = moved((lon, lat), east, north)
        reports.append(
            report(
                source,
                f"{source}-1",
                categories[source],
                seconds / 60,
                point,
                agency=f"{source} unit",
            )
        )
    engine = _engine(engine_type)
    feed(engine, sorted(reports, key=lambda r: r.observed_at))
    (incident,) = engine.picture().incidents.values()
    assert incident["agencies"] == ["fire unit", "health unit", "police unit"]
    assert len(incident["links"]) == 3


@SETTINGS
@given(logs(), st.data())
def test_snapshot_and_restore_continue_identically(
    engine_type: type[Engine], log: list[Report], data: st.DataObject
) -> None:
    cut = data.draw(st.integers(0, len(log)))
    original = _engine(engine_type)
    feed(original, log[:cut])
    restored = engine_type.restore(original.snapshot(), RULES, DISTRICTS)
    rest = log[cut:]
    assert [encode_change(c) for c in feed(restored, rest)] == [
        encode_change(c) for c in feed(original, rest)
    ]
    later = T0 + timedelta(days=3)
    assert [encode_change(c) for c in restored.advance(later)] == [
        encode_change(c) for c in original.advance(later)
    ]
    assert picture_json(restored.picture()) == picture_json(original.picture())
    assert restored.seq == original.seq


@SETTINGS
@given(logs(), st.sampled_from((None, 60, 2000)))
def test_applying_changes_to_a_fresh_picture_reproduces_the_engines(
    engine_type: type[Engine], log: list[Report], advance: int | None
) -> None:
    engine = _engine(engine_type)
    base = _engine(engine_type).picture()
    changes = feed(engine, log)
    if advance is not None:
        changes += engine.advance(T0 + timedelta(minutes=advance))
    assert [c.seq for c in changes] == list(range(1, engine.seq + 1))
    picture = replayed(base, changes)
    picture.advance(engine.as_of)
    assert picture_json(picture) == picture_json(engine.picture())


@SETTINGS
@given(logs())
def test_incident_invariants(engine_type: type[Engine], log: list[Report]) -> None:
    engine = _engine(engine_type)
    feed(engine, log)
    picture = engine.picture()
    counted = dict.fromkeys(picture.districts, 0)
    for incident in picture.incidents.values():
        assert incident["threads"] == sorted(incident["threads"])
        assert incident["first_seen"] <= incident["last_seen"]
        severities = [link["severity"] for link in incident["links"]]
        assert incident["severity"] == min(severities, key=SEVERITIES.index)
        lon, lat = incident["centroid"]
        assert math.isfinite(lon)
        assert math.isfinite(lat)
        assert incident["district"] == DISTRICTS.at(lon, lat)
        if incident["status"] == "open" and incident["district"]:
            counted[incident["district"]] += 1
        for warning in incident["warnings"]:
            assert picture.warnings[warning]["status"] == "active"
    assert counted == {a: sum(d["open_incidents"].values()) for a, d in picture.districts.items()}
