"""Format registry: detection by file name and content, dispatch to the parsers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.errors import FeedInvalid, FeedUnsupported
from ingest.formats import FORMATS, detect_format, parse
from ingest.formats.table import load_mapping

REAL_FILES = {
    "nina/mowas_legacy_2022/unwetter_dwd_2022-02-17.json": "nina",
    "nina/mowas_legacy_2022/hochwassermeldungen_lhp_2022-07-20.json": "nina",
    "nina/api31_samples/ha_sample_dashboard.json": "nina",
    "nina/api31_samples/ha_sample_warning_details.json": "nina",
    "geo/rlp_kreise_vg5000_2021.geojson": "geojson",
    "cap/dwd/dwd_2019_alert_1.xml": "cap",
    "cap/international/au_nsw_rfs_bushfire.cap": "cap",
    "cap/international/au_bushfire_edxlde_wrapped.edxlde": "cap",
    "incidents/us_sf_fire/sf_fire_calls_for_service_2020-04-16_to_20.csv": "csv",
}


@pytest.mark.parametrize(("relative", "expected"), sorted(REAL_FILES.items()))
def test_real_files_are_detected_by_name_and_by_content(
    shared_data: Path, relative: str, expected: str
) -> None:
    data = (shared_data / relative).read_bytes()
    assert detect_format(relative, data) == expected
    assert detect_format("upload", data) == expected  # no extension: sniffed


def test_geojson_with_a_json_name_and_canonical_json(shared_data: Path) -> None:
    kreise = (shared_data / "geo/rlp_kreise_vg5000_2021.geojson").read_bytes()
    assert detect_format("kreise.json", kreise) == "geojson"
    report = {"source": "fire", "source_id": "1", "category": "fire.building",
              "observed_at": "2024-05-01T12:00:00Z", "area_codes": ["07111"]}  # fmt: skip
    for name in ("push.json", "push.jsonl", "push.ndjson", ""):
        assert detect_format(name, json.dumps(report).encode()) == "canonical"


def test_undetectable_payload_is_unsupported() -> None:
    with pytest.raises(FeedUnsupported):
        detect_format("notes.txt", b"hello world")


def test_parse_dispatches_to_every_parser(shared_data: Path) -> None:
    nina = shared_data / "nina/mowas_legacy_2022/hochwassermeldungen_lhp_2022-07-20.json"
    assert {r.feed_format for r in parse(nina.read_bytes(), "nina").reports} == {"nina"}
    assert parse(nina.read_bytes(), "nina", source="weather").reports[0].source == "weather"
    cap = (shared_data / "cap/dwd/dwd_2019_alert_1.xml").read_bytes()
    assert {r.feed_format for r in parse(cap, "cap").reports} == {"cap"}
    csv_path = (
        shared_data
        / "incidents/us_seattle/seattle_police_911_incident_response_2016-03-25_sample.csv"
    )
    by_name = parse(csv_path.read_bytes(), "csv", mapping="seattle_police_911")
    by_object = parse(csv_path.read_bytes(), "csv", mapping=load_mapping("seattle_police_911"))
    assert by_name == by_object
    assert len(by_name.reports) == 706
    kreise = (shared_data / "geo/rlp_kreise_vg5000_2021.geojson").read_bytes()
    result = parse(kreise, "geojson", defaults={"source": "other"})
    assert len(result.rejected) == 36
    line = json.dumps({"source": "fire", "source_id": "1", "category": "fire.building",
                       "observed_at": "2024-05-01T12:00:00Z", "area_codes": ["07111"]})  # fmt: skip
    for name in ("jsonl", "json", "canonical"):
        assert [r.source_id for r in parse(line.encode(), name).reports] == ["1"]


def test_unknown_format_and_stray_options() -> None:
    with pytest.raises(FeedUnsupported, match="unknown format 'xls'"):
        parse(b"", "xls")
    with pytest.raises(TypeError, match="defaults"):
        parse(b"{}", "jsonl", defaults={})
    assert set(FORMATS) >= {"jsonl", "json", "cap", "nina", "geojson", "csv"}


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200), st.sampled_from(["a.json", "a.geojson", "a.csv", "a", "a.jsonl"]))
def test_detect_then_parse_raises_only_feed_invalid(data: bytes, name: str) -> None:
    try:
        kind = detect_format(name, data)
        parse(data, kind)
    except FeedInvalid:
        pass
