"""NINA / warnung.bund.de JSON against the real MoWaS, DWD and LHP dumps of 2022."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Point as ShapelyPoint

from ingest.errors import FeedInvalid
from ingest.formats.nina import parse_nina
from ingest.formats.nina_rules import references_of
from ingest.formats.result import ParseResult
from ingest.geometry import to_shapely
from ingest.report import MultiPolygon, Polygon, Report

LEGACY = "nina/mowas_legacy_2022"
KOBLENZ = (7.5886, 50.3569)  # Deutsches Eck, inside Kreisfreie Stadt Koblenz (ARS 071110000000)


def _load(shared_data: Path, name: str) -> tuple[list[dict[str, Any]], ParseResult]:
    raw = (shared_data / LEGACY / name).read_bytes()
    return json.loads(raw), parse_nina(raw)


@pytest.fixture(scope="module")
def morning(shared_data: Path) -> tuple[list[dict[str, Any]], ParseResult]:
    return _load(shared_data, "gefahrendurchsagen_2022-02-17_morning.json")


@pytest.fixture(scope="module")
def evening(shared_data: Path) -> tuple[list[dict[str, Any]], ParseResult]:
    return _load(shared_data, "gefahrendurchsagen_2022-02-17_evening.json")


def _by_message(result: ParseResult) -> dict[str, Report]:
    return {r.message_id: r for r in result.reports if r.message_id}


def test_every_alert_of_both_files_becomes_a_report(
    morning: tuple[list[dict[str, Any]], ParseResult],
    evening: tuple[list[dict[str, Any]], ParseResult],
) -> None:
    for raw, result in (morning, evening):
        assert len(result.reports) == len(raw)
        assert result.rejected == ()
        assert {r.feed_format for r in result.reports} == {"nina"}
        assert {r.message_id for r in result.reports} == {a["identifier"] for a in raw}
    assert len(morning[0]) == 36
    assert len(evening[0]) == 31


def test_the_two_rlp_alerts(morning: tuple[list[dict[str, Any]], ParseResult]) -> None:
    rlp = [r for r in morning[1].reports if r.source_id.startswith("DE-RP-")]
    assert sorted(r.source_id[:14] for r in rlp) == ["DE-RP-KO-SE113", "DE-RP-WW-SE116"]
    koblenz = next(r for r in rlp if r.source_id.startswith("DE-RP-KO"))
    assert "071310000000" in koblenz.area_codes  # Landkreis Ahrweiler, 12-digit ARS as given
    assert all(len(code) == 12 and code.startswith("071") for r in rlp for code in r.area_codes)
    assert koblenz.source == "civil_protection"
    assert koblenz.msg_type == "alert"
    assert koblenz.severity == "minor"
    assert koblenz.headline is not None
    assert "19222" in koblenz.headline
    assert koblenz.sequence == int(koblenz.observed_at.timestamp())


def test_polygons_are_read_as_lon_lat(morning: tuple[list[dict[str, Any]], ParseResult]) -> None:
    koblenz = next(r for r in morning[1].reports if r.source_id.startswith("DE-RP-KO"))
    assert isinstance(koblenz.geometry, Polygon | MultiPolygon)
    area = to_shapely(koblenz.geometry)
    assert area.contains(ShapelyPoint(*KOBLENZ))
    assert not area.contains(ShapelyPoint(KOBLENZ[1], KOBLENZ[0]))
    minx, miny, maxx, maxy = area.bounds
    assert 6 < minx < maxx < 9
    assert 49.5 < miny < maxy < 51


def test_evening_cancels_join_the_threads_of_the_morning_alerts(
    morning: tuple[list[dict[str, Any]], ParseResult],
    evening: tuple[list[dict[str, Any]], ParseResult],
) -> None:
    cancels = [r for r in evening[1].reports if r.msg_type == "cancel"]
    assert len(cancels) == 11
    assert all(c.references and c.source_id == c.references[0] for c in cancels)
    originals = _by_message(morning[1])
    joined = [c for c in cancels if c.references[0] in originals]
    morning_ids = {a["identifier"] for a in morning[0]}
    expected = [  # computed from the raw text, independently of the parser
        a["identifier"]
        for a in evening[0]
        if a["msgType"] == "Cancel" and any(i in a["references"] for i in morning_ids)
    ]
    assert sorted(c.message_id or "" for c in joined) == sorted(expected)
    assert len(joined) >= 7
    for cancel in joined:
        original = originals[cancel.references[0]]
        assert cancel.source_id == original.source_id == original.message_id
        assert cancel.source == original.source
        assert cancel.sequence > original.sequence


def test_malformed_reference_timestamps_keep_the_identifier(
    evening: tuple[list[dict[str, Any]], ParseResult],
) -> None:
    cancel = _by_message(evening[1])["DE-HH-HH-SE033-20220217-33-002"]
    assert cancel.references == ("DE-HH-HH-SE033-20220217-33-001",)
    assert any("33--T00:00:00+00:00" in w and "33-002" in w for w in evening[1].warnings)


def test_nested_reference_lists_are_recovered() -> None:
    notes: list[str] = []
    text = "A-2 A-1 SENDER,A-3 A-2 A-1,2021-08-30T00:00:00+00:00"
    assert references_of(text, notes) == ["A-3", "A-2", "A-1"]
    assert notes
    assert "irregular" in notes[0]
    assert references_of("s,x,2022-01-01T00:00:00+00:00 s,y,2022-01-02T00:00:00+00:00", []) == [
        "x",
        "y",
    ]


def test_dwd_relayed_warnings_are_weather(shared_data: Path) -> None:
    raw, result = _load(shared_data, "unwetter_dwd_2022-02-17.json")
    assert len(result.reports) == len(raw) == 34
    assert {r.source for r in result.reports} == {"weather"}
    assert {r.family for r in result.reports} == {"weather"}
    gusts = [r for r in result.reports if r.event == "ORKANBÖEN"]
    assert {r.category for r in gusts} == {"weather.orkanboeen"}
    assert {r.severity for r in gusts} == {"severe"}
    first = next(r for r in result.reports if r.message_id == raw[0]["identifier"])
    info = raw[0]["info"][0]
    assert first.observed_at.isoformat() == info["onset"]
    assert first.expires_at is not None
    assert first.expires_at.isoformat() == info["expires"]
    assert first.agency == "Deutscher Wetterdienst"


def test_lhp_flood_messages_keep_their_holes(shared_data: Path) -> None:
    raw, result = _load(shared_data, "hochwassermeldungen_lhp_2022-07-20.json")
    assert len(result.reports) == 2
    assert {r.category for r in result.reports} == {"flood.river"}
    assert {r.source for r in result.reports} == {"civil_protection"}
    bw = next(r for r in result.reports if r.source_id.endswith(".BW"))
    assert isinstance(bw.geometry, MultiPolygon)
    # "-1.0,-1.0" marks a hole, never a vertex in the Atlantic
    coords = [p for polygon in bw.geometry.coordinates for ring in polygon for p in ring]
    assert all(lon > 5 and lat > 47 for lon, lat, *_ in coords)
    assert any(len(polygon) > 1 for polygon in bw.geometry.coordinates)
    assert len(bw.area_codes) == len(raw[0]["info"][0]["area"][0]["geocode"])


def test_ha_warning_details_format(shared_data: Path) -> None:
    result = parse_nina((shared_data / "nina/api31_samples/ha_sample_warning_details.json")
                        .read_bytes())  # fmt: skip
    # HA edited these fixtures: no polygons or ARS geocodes, one expires in 3021
    assert result.reports == ()
    fields = sorted((r.index, r.field) for r in result.rejected)
    assert fields == [(0, "$.geometry"), (1, "$.expires_at"), (2, "$.geometry")]
    assert any("AreaId" in w or "'0'" in w for w in result.warnings)


def test_ha_dashboard_needs_the_ars(shared_data: Path) -> None:
    data = (shared_data / "nina/api31_samples/ha_sample_dashboard.json").read_bytes()
    without = parse_nina(data)
    assert without.reports == ()
    assert {r.field for r in without.rejected} == {"$.payload.data.area"}
    placed = parse_nina(data, ars="081110000000")
    assert len(placed.reports) == 1  # the other expires in 3021
    report = placed.reports[0]
    assert report.area_codes == ("081110000000",)
    assert report.source_id == "mow.DE-BW-S-SE018-20211102-18-001"
    assert report.category == "medical.infection"  # BBK-EVC-040
    assert report.msg_type == "update"
    assert placed.rejected[0].field == "$.expires_at"
    with pytest.raises(ValueError, match="ars"):
        parse_nina(data, ars="Koblenz")


def test_source_override_and_single_alert_shape(
    morning: tuple[list[dict[str, Any]], ParseResult],
) -> None:
    alert = morning[0][5]
    result = parse_nina(json.dumps(alert).encode(), source="police")
    assert [r.source for r in result.reports] == ["police"]
    assert result.reports[0].message_id == alert["identifier"]


def test_bad_alerts_name_the_field(morning: tuple[list[dict[str, Any]], ParseResult]) -> None:
    good = morning[0][5]
    broken = [
        {**good, "sent": "yesterday"},
        {**good, "msgType": "Ack"},
        {**good, "info": [{**good["info"][0], "area": [{"polygon": ["7.1;50.2 7.2,50.3"]}]}]},
        "not an alert",
        good,
    ]
    result = parse_nina(json.dumps(broken).encode())
    assert len(result.reports) == 1
    assert [(r.index, r.field) for r in result.rejected] == [
        (0, "$.sent"),
        (1, "$.msgType"),
        (2, "$.info[0].area[0].polygon[0]"),
        (3, "$"),
    ]


def test_over_long_texts_are_truncated_with_a_warning(
    morning: tuple[list[dict[str, Any]], ParseResult],
) -> None:
    report = _by_message(morning[1])["DE-MV-HGW-W005-20220117-000"]
    assert report.description is not None
    assert len(report.description) == 5000
    assert report.description.endswith("…")
    assert any("description" in w and "truncated" in w for w in morning[1].warnings)


@pytest.mark.parametrize("payload", [b"", b"{}", b"42", b'{"a": 1}', b"[1,", b"\x00\x01"])
def test_unreadable_payloads_are_feed_invalid(payload: bytes) -> None:
    with pytest.raises(FeedInvalid):
        parse_nina(payload)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_arbitrary_bytes_give_a_result_or_feed_invalid(data: bytes) -> None:
    try:
        result = parse_nina(data)
    except FeedInvalid:
        return
    assert all(r.field.startswith("$") for r in result.rejected)
