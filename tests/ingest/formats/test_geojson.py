"""GeoJSON parser on the real RLP district boundaries and on real reports exported as GeoJSON."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.errors import FeedInvalid, FeedUnsupported
from ingest.formats.geojson import parse_geojson
from ingest.formats.nina import parse_nina
from ingest.report import Report, report_to_builtins

DEFAULTS = {"source": "civil_protection", "category": "other.district_status",
            "observed_at": "2024-05-01T12:00:00+02:00"}  # fmt: skip


@pytest.fixture(scope="module")
def kreise(shared_data: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(
        (shared_data / "geo/rlp_kreise_vg5000_2021.geojson").read_bytes()
    )
    return doc


@pytest.fixture(scope="module")
def warnings_as_geojson(shared_data: Path) -> tuple[tuple[Report, ...], bytes]:
    path = shared_data / "nina/mowas_legacy_2022/gefahrendurchsagen_2022-02-17_morning.json"
    reports = parse_nina(path.read_bytes()).reports[5:12]
    features = []
    for report in reports:
        properties = report_to_builtins(report)
        geometry = properties.pop("geometry")
        features.append({"type": "Feature", "geometry": geometry, "properties": properties})
    doc = {"type": "FeatureCollection", "features": features}
    return reports, json.dumps(doc).encode()


def test_real_reports_survive_a_geojson_export(
    warnings_as_geojson: tuple[tuple[Report, ...], bytes],
) -> None:
    reports, data = warnings_as_geojson
    result = parse_geojson(data)
    assert result.rejected == ()
    assert len(result.reports) == len(reports) == 7
    for parsed, original in zip(result.reports, reports, strict=True):
        assert parsed.feed_format == "geojson"
        assert parsed.key == original.key
        assert parsed.geometry == original.geometry
        assert parsed.area_codes == original.area_codes
    # feed_format in the properties is the server's business: set aside, named once
    assert any("feed_format" in w for w in result.warnings)


def test_gis_export_with_defaults_and_extra_attributes(kreise: dict[str, Any]) -> None:
    kreise = copy.deepcopy(kreise)
    for feature in kreise["features"]:
        feature["properties"]["source_id"] = "kreis-" + feature["properties"]["AGS"]
    result = parse_geojson(json.dumps(kreise).encode(), defaults=DEFAULTS)
    assert result.rejected == ()
    assert len(result.reports) == 36
    koblenz = next(r for r in result.reports if r.source_id == "kreis-07111")
    assert koblenz.category == "other.district_status"
    assert type(koblenz.geometry).__name__ in ("Polygon", "MultiPolygon")
    (warning,) = result.warnings
    assert "GEN (36x)" in warning
    assert "ARS (36x)" in warning


def test_missing_required_fields_are_rejected_per_feature(kreise: dict[str, Any]) -> None:
    result = parse_geojson(json.dumps(kreise).encode(), defaults=DEFAULTS)
    assert result.reports == ()
    assert len(result.rejected) == 36
    assert {r.field for r in result.rejected} == {
        f"$.features[{i}].properties.source_id" for i in range(36)
    }
    assert [r.index for r in result.rejected] == list(range(36))


def _feature(geometry: Any, **properties: Any) -> dict[str, Any]:
    props = {"source": "fire", "category": "fire.building",
             "observed_at": "2024-05-01T12:00:00Z", **properties}  # fmt: skip
    return {"type": "Feature", "geometry": geometry, "properties": props}


def test_geometry_rules_and_paths() -> None:
    point = {"type": "Point", "coordinates": [7.59, 50.36], "bbox": [7.59, 50.36, 7.59, 50.36]}
    features = [
        _feature(point, source_id="a"),
        _feature({"type": "LineString", "coordinates": [[7, 50], [8, 51]]}, source_id="b"),
        _feature(None, source_id="c"),
        _feature(None, source_id="d", area_codes="07111 07131"),
        _feature({"type": "Point", "coordinates": [200, 50]}, source_id="e"),
        _feature(point, source_id="f", observed_at="soon", headline=None),
        "feature",
    ]
    features.append({**_feature(point), "id": 42})
    doc = {"type": "FeatureCollection", "features": features}
    result = parse_geojson(json.dumps(doc).encode())
    assert [r.source_id for r in result.reports] == ["a", "d", "42"]
    assert result.reports[1].area_codes == ("07111", "07131")
    assert [(r.index, r.field) for r in result.rejected] == [
        (1, "$.features[1].geometry"),
        (2, "$.features[2].geometry"),
        (4, "$.features[4].geometry.coordinates"),
        (5, "$.features[5].properties.observed_at"),
        (6, "$.features[6]"),
    ]
    assert "LineString" in result.rejected[0].reason


def test_single_feature_and_foreign_crs() -> None:
    one = _feature({"type": "Point", "coordinates": [7.59, 50.36]}, source_id="x")
    assert [r.source_id for r in parse_geojson(json.dumps(one).encode()).reports] == ["x"]
    utm = {
        "type": "FeatureCollection",
        "features": [],
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::25832"}},
    }
    with pytest.raises(FeedUnsupported, match="25832"):
        parse_geojson(json.dumps(utm).encode())


@pytest.mark.parametrize(
    "payload",
    [b"", b"[]", b'{"type": "Point", "coordinates": [1, 2]}',
     b'{"type": "FeatureCollection", "features": 3}', b"[" * 100_000],
)  # fmt: skip
def test_unreadable_payloads_are_feed_invalid(payload: bytes) -> None:
    with pytest.raises(FeedInvalid):
        parse_geojson(payload)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_give_a_result_or_feed_invalid(data: bytes) -> None:
    try:
        result = parse_geojson(data)
    except FeedInvalid:
        return
    assert all(r.field.startswith("$") for r in result.rejected)


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["source", "source_id", "category", "observed_at", "severity",
                         "metrics", "area_codes", "sequence", "extra"]),
        st.none() | st.integers() | st.text(max_size=12) | st.lists(st.integers(), max_size=3),
    )
)  # fmt: skip
def test_arbitrary_properties_are_accepted_or_rejected_with_a_path(props: dict[str, Any]) -> None:
    feature = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [7, 50]},
               "properties": props}  # fmt: skip
    result = parse_geojson(json.dumps({"type": "FeatureCollection", "features": [feature]})
                           .encode(), defaults=DEFAULTS)  # fmt: skip
    assert len(result.reports) + len(result.rejected) == 1
    assert all(r.field.startswith("$.features[0]") for r in result.rejected)
