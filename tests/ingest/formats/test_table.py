"""CSV parser and mappings against the real San Francisco and Seattle dispatch exports."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.errors import FeedInvalid
from ingest.formats.result import ParseResult
from ingest.formats.table import (
    CsvMapping,
    MappingInvalid,
    load_mapping,
    parse_csv,
    shipped_mappings,
)
from ingest.geometry import representative_point
from ingest.report import Report

SF = "incidents/us_sf_fire/sf_fire_calls_for_service_2020-04-16_to_20.csv"
SEA_FIRE = "incidents/us_seattle/seattle_fire_911_mva_subset_2014-01_to_2015-01.csv"
SEA_POLICE = "incidents/us_seattle/seattle_police_911_incident_response_2016-03-25_sample.csv"


def _rows(path: Path, encoding: str = "utf-8") -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding=encoding))))


@pytest.fixture(scope="module")
def sf(shared_data: Path) -> tuple[list[dict[str, str]], ParseResult]:
    path = shared_data / SF
    return _rows(path), parse_csv(path.read_bytes(), load_mapping("sf_fire_calls"))


def test_shipped_mappings_load() -> None:
    assert set(shipped_mappings()) >= {"sf_fire_calls", "seattle_fire_911",
                                       "seattle_police_911", "canonical"}  # fmt: skip
    for name in shipped_mappings():
        assert load_mapping(name).name == name
    with pytest.raises(MappingInvalid, match="no shipped mapping"):
        load_mapping("../../etc/passwd")


def test_sf_unit_rows_collapse_into_one_report_per_incident(
    sf: tuple[list[dict[str, str]], ParseResult],
) -> None:
    rows, result = sf
    units: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        units[row["Incident Number"]].add(row["Unit ID"])
    assert len(rows) == 3528
    assert len(result.reports) == len(units) == 1733
    assert result.rejected == ()
    assert len({r.key for r in result.reports}) == len(result.reports)
    for report in result.reports:
        assert report.metrics["units"] == len(units[report.source_id])
    assert sum(r.metrics["units"] for r in result.reports) == len(rows)
    # first appearance order, deterministic
    assert [r.source_id for r in result.reports] == list(units)


def test_sf_fields(sf: tuple[list[dict[str, str]], ParseResult]) -> None:
    rows, result = sf
    by_id = {r.source_id: r for r in result.reports}
    first = by_id[rows[0]["Incident Number"]]
    assert rows[0]["Received DtTm"] == "04/16/2020 11:34:33 PM"
    assert first.observed_at.astimezone(UTC) == datetime(2020, 4, 17, 6, 34, 33, tzinfo=UTC)
    assert first.source == "fire"
    lon, lat = representative_point(first.geometry)  # type: ignore[arg-type]
    assert rows[0]["Location"].startswith(f"({lat}")
    assert -123 < lon < -122
    assert 37 < lat < 38
    expected = {"Structure Fire": "fire.building", "Medical Incident": "medical.emergency",
                "Traffic Collision": "accident.traffic", "Alarms": "fire.alarm",
                "Other": "other.other"}  # fmt: skip
    severity = {"E": "severe", "3": "moderate", "2": "minor"}
    for row in rows:
        report = by_id[row["Incident Number"]]
        if row["Call Type"] in expected:
            assert report.category == expected[row["Call Type"]]
        assert report.severity == severity[row["Priority"]]
        assert report.headline == f"{row['Call Type']}, {row['Address']}"


def test_seattle_fire_rows_without_location_are_rejected_by_column(shared_data: Path) -> None:
    path = shared_data / SEA_FIRE
    rows = _rows(path)
    result = parse_csv(path.read_bytes(), load_mapping("seattle_fire_911"))
    empty = [i for i, row in enumerate(rows) if not row["Latitude"]]
    assert len(empty) == 17
    assert [(r.index, r.field) for r in result.rejected] == [(i, f"$[{i}].Latitude") for i in empty]
    located_ids = {row["Incident Number"] for row in rows if row["Latitude"]}
    assert len(result.reports) == len(located_ids)
    assert {r.category for r in result.reports} == {"accident.traffic"}
    assert any("disagree" in w for w in result.warnings)
    report = next(r for r in result.reports if r.source_id == rows[0]["Incident Number"])
    assert report.observed_at == datetime(2014, 1, 1, 0, 37, tzinfo=UTC)  # explicit +0000


def test_seattle_police_categories_and_time_fallback(shared_data: Path) -> None:
    path = shared_data / SEA_POLICE
    rows = _rows(path)
    result = parse_csv(path.read_bytes(), load_mapping("seattle_police_911"))
    assert len(result.reports) == len(rows) == 706
    by_id = {r.source_id: r for r in result.reports}
    for row in rows:
        report = by_id[row["CAD Event Number"]]
        group = row["Event Clearance Group"]
        if group == "MOTOR VEHICLE COLLISION INVESTIGATION":
            assert report.category == "accident.traffic"
        elif group != "PERSON DOWN/INJURY":
            assert report.family == "security"
        stamp = row["At Scene Time"] or row["Event Clearance Date"]
        local = datetime.strptime(stamp, "%m/%d/%Y %I:%M:%S %p")
        assert report.observed_at.replace(tzinfo=None) == local
        assert report.observed_at.utcoffset() is not None
        assert report.source == "police"


def test_bad_cells_are_rejected_with_row_and_column(shared_data: Path) -> None:
    lines = (shared_data / SEA_POLICE).read_text().splitlines()[:6]
    header = next(csv.reader([lines[0]]))
    bad = [next(csv.reader([line])) for line in lines[1:]]
    bad[1][header.index("Latitude")] = "north"
    bad[2][header.index("Longitude")] = "-222.5"
    bad[3][header.index("At Scene Time")] = "25/03/2016 25:00"
    out = io.StringIO()
    csv.writer(out).writerows([header, *bad])
    result = parse_csv(out.getvalue().encode(), load_mapping("seattle_police_911"))
    assert len(result.reports) == 2
    assert [(r.index, r.field) for r in result.rejected] == [
        (1, "$[1].Latitude"),
        (2, "$[2].Longitude"),
        (3, "$[3].At Scene Time"),
    ]
    assert "north" in result.rejected[0].reason


def test_canonical_csv_round_trip(sf: tuple[list[dict[str, str]], ParseResult]) -> None:
    originals = sf[1].reports[:50]
    out = io.StringIO()
    writer = csv.writer(out, delimiter=",")
    writer.writerow(["source", "source_id", "category", "severity", "observed_at", "headline",
                     "lon", "lat", "metrics.units", "area_codes"])  # fmt: skip
    for r in originals:
        lon, lat = representative_point(r.geometry)  # type: ignore[arg-type]
        writer.writerow([r.source, r.source_id, r.category, r.severity,
                         r.observed_at.isoformat(), r.headline, lon, lat,
                         r.metrics["units"], "06075"])  # fmt: skip
    result = parse_csv(out.getvalue().encode(), load_mapping("canonical"))
    assert result.rejected == ()
    for parsed, original in zip(result.reports, originals, strict=True):
        assert parsed.key == original.key
        assert parsed.observed_at == original.observed_at
        assert parsed.geometry == original.geometry
        assert parsed.metrics == original.metrics
        assert parsed.area_codes == ("06075",)


def test_encoding_comes_from_the_mapping(shared_data: Path) -> None:
    text = (shared_data / SEA_POLICE).read_text()
    text = text.replace("SHOPLIFT,", "SHOPLIFT – Ladendiebstahl in Köln,", 1)
    latin = text.replace("–", "-").encode("iso-8859-1")
    utf8 = load_mapping("seattle_police_911")
    with pytest.raises(FeedInvalid, match="not utf-8"):
        parse_csv(latin, utf8)
    mapping = _with_encoding(utf8, "iso-8859-1")
    result = parse_csv(latin, mapping)
    assert len(result.reports) == 706
    assert any(r.headline and "Köln" in r.headline for r in result.reports)
    # the real ISO-8859-1 file of the Berlin fire brigade decodes, then fails on its header
    berlin = shared_data / "incidents/de_berlin_feuerwehr/BFw_call_data_descriptions.csv"
    with pytest.raises(FeedInvalid, match="missing from the header"):
        parse_csv(berlin.read_bytes(), _with_encoding(utf8, "iso-8859-1"))
    with pytest.raises(FeedInvalid, match="not utf-8"):
        parse_csv(berlin.read_bytes(), utf8)


def _with_encoding(mapping: CsvMapping, encoding: str) -> CsvMapping:
    return replace(mapping, encoding=encoding)


@pytest.mark.parametrize(
    ("toml", "message"),
    [("name = 'x'\n[columns]\nobserved_at = 'a'\nweight = 'b'", "not a report field"),
     ("name = 'x'\ntimezone = 'Mars/Olympus'\n[columns]\nobserved_at = 'a'", "Mars"),
     ("name = 'x'\n[columns]\nsource = 'a'", "observed_at"),
     ("name = 'x'\ncolour = 'red'", "unknown mapping keys"),
     ("name = ", "not valid TOML")],
)  # fmt: skip
def test_bad_mappings_are_refused(toml: str, message: str) -> None:
    with pytest.raises(MappingInvalid, match=message):
        CsvMapping.from_toml(toml)


@pytest.mark.parametrize("payload", [b"", b"\n\n", b"a,b\n1,2\n", b"\xff\xfe\xfa"])
def test_unreadable_csv_is_feed_invalid(payload: bytes) -> None:
    with pytest.raises(FeedInvalid):
        parse_csv(payload, load_mapping("sf_fire_calls"))


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_arbitrary_bytes_give_a_result_or_feed_invalid(data: bytes) -> None:
    for name in ("canonical", "seattle_fire_911"):
        try:
            result = parse_csv(data, load_mapping(name))
        except FeedInvalid:
            continue
        assert all(r.field.startswith("$[") for r in result.rejected)
        assert all(isinstance(r, Report) for r in result.reports)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.text(max_size=12), min_size=5, max_size=5), max_size=5))
def test_arbitrary_canonical_rows_are_accepted_or_rejected_with_a_path(
    rows: list[list[str]],
) -> None:
    out = io.StringIO()
    csv.writer(out).writerows([["source", "source_id", "category", "observed_at", "lat"], *rows])
    try:
        result = parse_csv(out.getvalue().encode(), load_mapping("canonical"))
    except FeedInvalid:
        return  # e.g. a NUL character: the csv module refuses the whole file
    assert len(result.reports) + len(result.rejected) <= len(rows)
    assert all(r.field.startswith("$[") for r in result.rejected)
