"""Picture, canonical JSON, the change wire format and snapshots (fixed examples)."""

from __future__ import annotations

import json
from datetime import timedelta

import msgspec
import pytest

from correlation.changes import Change, IncidentOpened, decode_change, encode_change
from correlation.engine import Engine
from correlation.errors import SnapshotInvalid
from correlation.picture import Picture, picture_json
from ingest.report import Report
from tests.correlation.helpers import KOBLENZ, MAINZ, T0, TRIER, at, feed, moved, replayed, report

INCIDENT_FIELDS = (
    "id", "status", "category", "severity", "title", "centroid", "district", "first_seen",
    "last_seen", "agencies", "metrics", "warnings", "threads", "links", "families",
)  # fmt: skip
WARNING_FIELDS = (
    "id", "category", "severity", "headline", "onset", "expires", "districts", "threads",
    "geometry", "status",
)  # fmt: skip


def _log() -> list[Report]:
    square = [[7.5, 50.3], [7.7, 50.3], [7.7, 50.4], [7.5, 50.4], [7.5, 50.3]]
    return [
        report(
            "fire", "f1", "fire.building", 0, KOBLENZ, severity="severe", metrics={"injured": 3}
        ),
        report(
            "police", "p1", "accident.traffic", 2, moved(KOBLENZ, east_m=50), agency="PP Koblenz"
        ),
        report(
            "weather",
            "w1",
            "weather.storm",
            3,
            None,
            severity="extreme",
            expires_at=at(400),
            geometry={"type": "Polygon", "coordinates": [square]},
        ),
        report("health", "h1", "medical.emergency", 4, MAINZ, severity="extreme"),
        report(
            "health",
            "kh",
            "capacity.icu",
            5,
            None,
            area_codes=["07"],
            metrics={"icu_beds_free": 80},
        ),
        report(
            "health",
            "kh2",
            "capacity.icu",
            5,
            None,
            area_codes=["07315"],
            metrics={"icu_beds_free": 3},
        ),
        report("fire", "f1", "fire.building", 6, KOBLENZ, severity="extreme", sequence=2),
        report("fire", "t1", "fire.building", 8, TRIER),
        report("fire", "t1", "fire.building", 9, None, msg_type="cancel", sequence=2),
        report("police", "late", "security.threat", 1, MAINZ),
        report("civil_protection", "c1", "flood.river", 150, moved(KOBLENZ, north_m=5000)),
    ]


def test_picture_shape_and_order(engine: Engine) -> None:
    feed(engine, _log())
    doc = json.loads(picture_json(engine.picture()))
    assert list(doc) == ["as_of", "capacity", "districts", "incidents", "seq", "warnings"]
    assert doc["seq"] == engine.seq > 0
    assert doc["as_of"] == "2026-11-29T12:30:00Z"
    incident = doc["incidents"][0]
    assert set(INCIDENT_FIELDS) <= set(incident)
    firsts = [(i["first_seen"], i["id"]) for i in doc["incidents"]]
    assert firsts == sorted(firsts)
    assert [d["ags"] for d in doc["districts"]] == sorted(d["ags"] for d in doc["districts"])
    (warning,) = doc["warnings"]
    assert set(WARNING_FIELDS) <= set(warning)
    assert warning["id"] in incident["warnings"]  # the Koblenz incident lies in the storm area
    assert doc["capacity"] == [
        {"beds_free": None, "icu_beds_free": 80, "id": "07", "scope": "state",
         "threads": ["health:kh"], "updated_at": "2026-11-29T10:05:00Z"},
    ]  # fmt: skip


def test_applying_the_changes_reproduces_the_picture(engine: Engine) -> None:
    base = type(engine)(engine.rules, engine.districts).picture()
    changes = feed(engine, _log())
    changes += engine.advance(T0 + timedelta(hours=30))
    assert [c.seq for c in changes] == list(range(1, engine.seq + 1))
    picture = replayed(base, changes)
    picture.advance(engine.as_of)
    assert picture_json(picture) == picture_json(engine.picture())
    # re-applying old changes is harmless (a reconnecting client may see some twice)
    assert not picture.apply(changes[3])
    assert picture_json(picture) == picture_json(engine.picture())


def test_change_wire_format_round_trips(engine: Engine) -> None:
    changes = feed(engine, _log())
    decoded = [decode_change(encode_change(c)) for c in changes]
    assert decoded == changes or [encode_change(c) for c in decoded] == [
        encode_change(c) for c in changes
    ]
    first = json.loads(encode_change(changes[0]))
    assert first["type"] == "IncidentOpened"
    assert first["at"] == "2026-11-29T10:00:00Z"
    assert first["thread"] == "fire:f1"
    base = type(engine)(engine.rules, engine.districts).picture()
    assert picture_json(replayed(base, decoded)) == picture_json(replayed(base, changes))


def test_decode_change_rejects_garbage() -> None:
    with pytest.raises(msgspec.ValidationError):
        decode_change(b'{"type": "IncidentExploded", "seq": 1}')


def test_picture_json_is_canonical_and_round_trips(engine: Engine) -> None:
    feed(engine, _log())
    data = picture_json(engine.picture())
    again = Picture.from_builtins(json.loads(data))
    assert picture_json(again) == data
    assert again == engine.picture()


def test_changes_are_frozen(engine: Engine) -> None:
    (change, *_) = feed(engine, _log()[:1])
    assert isinstance(change, IncidentOpened)
    with pytest.raises(AttributeError):
        change.seq = 99  # type: ignore[misc]


def _run(engine: Engine, reports: list[Report]) -> list[bytes]:
    return [encode_change(c) for c in feed(engine, reports)]


def test_snapshot_restore_continues_identically(engine: Engine) -> None:
    log = _log()
    for cut in (0, 3, 7, len(log)):
        original = type(engine)(engine.rules, engine.districts)
        _run(original, log[:cut])
        data = original.snapshot()
        restored = type(engine).restore(data, engine.rules, engine.districts)
        assert restored.snapshot() == data
        assert restored.seq == original.seq
        assert picture_json(restored.picture()) == picture_json(original.picture())
        assert _run(restored, log[cut:]) == _run(original, log[cut:])
        later = T0 + timedelta(hours=30)
        assert [encode_change(c) for c in restored.advance(later)] == [
            encode_change(c) for c in original.advance(later)
        ]
        assert restored.snapshot() == original.snapshot()


def test_restore_rejects_other_bytes(engine: Engine) -> None:
    with pytest.raises(SnapshotInvalid):
        type(engine).restore(b"not a snapshot", engine.rules, engine.districts)
    data = msgspec.msgpack.decode(engine.snapshot())
    data["format"] = 99
    with pytest.raises(SnapshotInvalid, match="format"):
        type(engine).restore(msgspec.msgpack.encode(data), engine.rules, engine.districts)


def test_operator_changes_are_part_of_the_stream(engine: Engine) -> None:
    base = engine.picture()
    changes: list[Change] = feed(engine, _log()[:2])
    incident_id = changes[0].id
    changes += engine.resolve(incident_id, T0 + timedelta(minutes=20))
    picture = replayed(base, changes)
    assert picture.incidents[incident_id]["status"] == "resolved"
    assert picture_json(picture) == picture_json(engine.picture())
