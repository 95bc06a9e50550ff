"""Contract 1: the canonical report and its validation."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.errors import ReportInvalid
from ingest.report import (
    FAMILIES,
    SEVERITIES,
    SOURCES,
    MultiPolygon,
    Point,
    Polygon,
    decode_jsonl,
    decode_report,
    encode_jsonl,
    encode_report,
    report_from_mapping,
)


def valid(**overrides: Any) -> dict[str, Any]:
    report: dict[str, Any] = {
        "source": "police",
        "source_id": "PP-KO-2026-0001",
        "category": "accident.traffic",
        "observed_at": "2026-11-29T10:15:00+01:00",
        "geometry": {"type": "Point", "coordinates": [7.5886, 50.3569]},
    }
    report.update(overrides)
    return {k: v for k, v in report.items() if v is not None}


def rejection(obj: dict[str, Any]) -> ReportInvalid:
    with pytest.raises(ReportInvalid) as caught:
        decode_report(json.dumps(obj).encode())
    return caught.value


def test_minimal_report_gets_contract_defaults() -> None:
    report = decode_report(json.dumps(valid()).encode())
    assert (report.sequence, report.msg_type, report.status, report.severity) == (
        1,
        "alert",
        "actual",
        "unknown",
    )
    assert report.thread == "police:PP-KO-2026-0001"
    assert report.key == ("police", "PP-KO-2026-0001", 1)
    assert report.family == "accident"
    assert report.observed_at == datetime(2026, 11, 29, 9, 15, tzinfo=UTC)
    assert isinstance(report.geometry, Point)


def test_round_trip_is_lossless() -> None:
    original = decode_report(
        json.dumps(
            valid(
                sequence=3,
                msg_type="update",
                severity="severe",
                urgency="immediate",
                certainty="observed",
                expires_at="2026-11-29T12:00:00Z",
                area_codes=["07111"],
                headline="Verkehrsunfall B9",
                description="Zwei PKW, eine Person eingeklemmt",
                metrics={"injured": 2, "units": 4},
                agency="PP Koblenz",
            )
        ).encode()
    )
    assert decode_report(encode_report(original)) == original


@pytest.mark.parametrize(
    ("overrides", "field", "reason_part"),
    [
        ({"source": "army"}, "$.source", "Invalid enum value 'army'"),
        ({"source_id": None}, "$.source_id", "is required"),
        ({"source_id": "x" * 129}, "$.source_id", "length <= 128"),
        ({"source_id": " padded"}, "$.source_id", "white space"),
        ({"sequence": 0}, "$.sequence", ">= 1"),
        ({"msg_type": "ack"}, "$.msg_type", "Invalid enum value"),
        ({"status": "draft"}, "$.status", "Invalid enum value"),
        ({"category": "volcano.eruption"}, "$.category", "family one of"),
        ({"category": "Fire.Building"}, "$.category", "family one of"),
        ({"severity": "catastrophic"}, "$.severity", "Invalid enum value"),
        ({"observed_at": "2026-11-29T10:15:00"}, "$.observed_at", "timezone"),
        ({"observed_at": "yesterday"}, "$.observed_at", "datetime"),
        ({"observed_at": "1899-01-01T00:00:00Z"}, "$.observed_at", "between 1990 and 2100"),
        ({"observed_at": "2999-01-01T00:00:00Z"}, "$.observed_at", "between 1990 and 2100"),
        ({"expires_at": "2026-11-29T08:00:00Z"}, "$.expires_at", "earlier than observed_at"),
        ({"geometry": None}, "$.geometry", "required unless area_codes"),
        ({"area_codes": ["07A11"]}, "$.area_codes[0]", "regex"),
        ({"headline": "x" * 201}, "$.headline", "length <= 200"),
        ({"description": "x" * 5001}, "$.description", "length <= 5000"),
        ({"metrics": {"injured": -1}}, "$.metrics[...]", ">= 0"),
        ({"metrics": {"Injured People": 1}}, "$.metrics", "key: Expected `str` matching"),
        ({"unexpected": 1}, "$.unexpected", "unknown field"),
        (
            {"geometry": {"type": "Point", "coordinates": [190.0, 50.0]}},
            "$.geometry.coordinates",
            "longitude 190.0",
        ),
        (
            {"geometry": {"type": "Point", "coordinates": [7.0, -91.0]}},
            "$.geometry.coordinates",
            "latitude -91.0",
        ),
        (
            {"geometry": {"type": "LineString", "coordinates": [[7, 50], [8, 50]]}},
            "$.geometry.type",
            "Invalid value 'LineString'",
        ),
        (
            {
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[[7, 50], [8, 50], [8, 51], [7, 50.5]]],
                }
            },
            "$.geometry.coordinates[0]",
            "not closed",
        ),
        (
            {"geometry": {"type": "Polygon", "coordinates": [[[7, 50], [8, 50], [7, 50]]]}},
            "$.geometry.coordinates[0]",
            "length >= 4",
        ),
        (
            {
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[[7, 50], [8, 50], [9, 50], [7, 50]]],
                }
            },
            "$.geometry.coordinates",
            "no area",
        ),
    ],
)
def test_invalid_reports_name_the_field_and_the_reason(
    overrides: dict[str, Any], field: str, reason_part: str
) -> None:
    obj = valid(**{k: v for k, v in overrides.items() if v is not None})
    for key, value in overrides.items():
        if value is None:
            obj.pop(key, None)
    error = rejection(obj)
    assert error.field == field
    assert reason_part in error.reason


def test_cancel_needs_no_geometry() -> None:
    report = decode_report(json.dumps(valid(geometry=None, msg_type="cancel")).encode())
    assert report.msg_type == "cancel"
    assert report.geometry is None


def test_area_codes_stand_in_for_geometry() -> None:
    report = decode_report(json.dumps(valid(geometry=None, area_codes=["071310000000"])).encode())
    assert report.area_codes == ("071310000000",)


def test_self_intersecting_polygon_is_repaired_into_its_area() -> None:
    bowtie = [[[7.0, 50.0], [7.1, 50.1], [7.1, 50.0], [7.0, 50.1], [7.0, 50.0]]]
    report = decode_report(
        json.dumps(valid(geometry={"type": "Polygon", "coordinates": bowtie})).encode()
    )
    assert isinstance(report.geometry, MultiPolygon)
    assert len(report.geometry.coordinates) == 2


def test_valid_polygon_is_kept_verbatim() -> None:
    square = [[[7.0, 50.0], [7.1, 50.0], [7.1, 50.1], [7.0, 50.1], [7.0, 50.0]]]
    report = decode_report(
        json.dumps(valid(geometry={"type": "Polygon", "coordinates": square})).encode()
    )
    assert isinstance(report.geometry, Polygon)
    assert report.geometry.coordinates == square


def test_not_json_is_a_clear_rejection() -> None:
    with pytest.raises(ReportInvalid) as caught:
        decode_report(b'{"source": ')
    assert caught.value.field == "$"
    assert "JSON" in caught.value.reason


def test_report_from_mapping_applies_the_same_limits() -> None:
    mapping = valid(observed_at=datetime(2026, 11, 29, 9, tzinfo=UTC), headline="x" * 300)
    with pytest.raises(ReportInvalid) as caught:
        report_from_mapping(mapping)
    assert caught.value.field == "$.headline"


def test_jsonl_keeps_going_after_a_bad_line() -> None:
    good = json.dumps(valid()).encode()
    bad = json.dumps(valid(severity="apocalyptic")).encode()
    results = list(decode_jsonl(b"\n".join([good, bad, b"", good.replace(b"0001", b"0002")])))
    assert [type(r).__name__ for r in results] == ["Report", "ReportInvalid", "Report"]
    error = results[1]
    assert isinstance(error, ReportInvalid)
    assert (error.index, error.field) == (1, "$.severity")


def test_encode_jsonl_round_trips() -> None:
    reports = [
        decode_report(json.dumps(valid(source_id=f"T-{i}", sequence=i + 1)).encode())
        for i in range(3)
    ]
    assert list(decode_jsonl(encode_jsonl(reports))) == reports


# -- properties -----------------------------------------------------------------------------------

timestamps = st.datetimes(
    min_value=datetime(1991, 1, 1), max_value=datetime(2099, 1, 1), timezones=st.just(UTC)
)
reports = st.fixed_dictionaries(
    {
        "source": st.sampled_from(SOURCES),
        "source_id": st.text(
            st.characters(min_codepoint=33, max_codepoint=0x2FFF), min_size=1, max_size=128
        ).filter(lambda s: s.isprintable()),
        "sequence": st.integers(1, 2**53),
        "category": st.sampled_from(FAMILIES).map(lambda f: f + ".test"),
        "severity": st.sampled_from(SEVERITIES),
        "observed_at": timestamps.map(lambda t: t.isoformat()),
        "geometry": st.tuples(st.floats(-180, 180), st.floats(-90, 90)).map(
            lambda p: {"type": "Point", "coordinates": list(p)}
        ),
        "metrics": st.dictionaries(
            st.from_regex(r"\A[a-z][a-z0-9_]{0,10}\Z"), st.integers(0, 10**9), max_size=5
        ),
    }
)


@given(reports)
@settings(max_examples=200)
def test_any_valid_report_round_trips(obj: dict[str, Any]) -> None:
    report = decode_report(json.dumps(obj).encode())
    assert decode_report(encode_report(report)) == report


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


@given(reports, st.sampled_from(sorted(valid())) | st.text(max_size=12), json_values)
@settings(max_examples=300)
def test_mutated_reports_are_accepted_or_rejected_with_a_field(
    obj: dict[str, Any], key: str, value: object
) -> None:
    mutated = {**obj, key: value}
    try:
        decode_report(json.dumps(mutated).encode())
    except ReportInvalid as error:
        assert error.field.startswith("$")
        assert error.reason


@given(st.binary(max_size=300))
@settings(max_examples=300)
def test_arbitrary_bytes_never_escape_as_another_exception(data: bytes) -> None:
    try:
        decode_report(data)
    except ReportInvalid as error:
        assert error.field.startswith("$")


def test_deeply_nested_json_is_rejected_not_crashing() -> None:
    with pytest.raises(ReportInvalid):
        decode_report(b"[" * 100_000 + b"]" * 100_000)


def test_timestamps_keep_the_instant_across_offsets() -> None:
    a = decode_report(json.dumps(valid(observed_at="2026-11-29T10:00:00+01:00")).encode())
    b = decode_report(json.dumps(valid(observed_at="2026-11-29T09:00:00Z")).encode())
    assert a.observed_at == b.observed_at
    assert a.observed_at - b.observed_at == timedelta(0)


def test_report_is_immutable() -> None:
    report = decode_report(json.dumps(valid()).encode())
    with pytest.raises(AttributeError):
        report.severity = "extreme"  # type: ignore[misc]
    assert msgspec.structs.replace(report, severity="extreme").severity == "extreme"


def _signs(positions: list[list[float]]) -> list[float]:
    return [math.copysign(1.0, c) for position in positions for c in position]


def test_a_negative_zero_coordinate_becomes_zero_as_the_log_would_store_it() -> None:
    # jsonb, which holds the report log and the history, stores -0.0 as 0
    point = decode_report(
        json.dumps(valid(geometry={"type": "Point", "coordinates": [-0.0, 50.0]})).encode()
    )
    assert isinstance(point.geometry, Point)
    assert _signs([point.geometry.coordinates]) == [1.0, 1.0]
    assert _signs([Point([-0.0, -0.0]).coordinates]) == [1.0, 1.0]  # built in code, too
    ring = [[-0.0, 50.0], [0.5, 50.0], [0.5, 50.5], [-0.0, 50.0]]
    area = decode_report(
        json.dumps(valid(geometry={"type": "Polygon", "coordinates": [ring]})).encode()
    )
    assert isinstance(area.geometry, Polygon)
    assert _signs(area.geometry.coordinates[0]) == [1.0] * 8
    assert encode_report(area).count(b"-0.0") == 0


def test_a_repaired_polygon_has_no_negative_zero() -> None:
    bowtie = [[-0.0, 50.0], [1.0, 51.0], [1.0, 50.0], [-0.0, 51.0], [-0.0, 50.0]]  # crosses itself
    area = decode_report(
        json.dumps(valid(geometry={"type": "Polygon", "coordinates": [bowtie]})).encode()
    )
    assert isinstance(area.geometry, MultiPolygon)  # repaired into two triangles
    positions = [p for polygon in area.geometry.coordinates for ring in polygon for p in ring]
    assert set(_signs(positions)) == {1.0}
