"""GeoJSON FeatureCollection (or one Feature) whose properties are contract-1 fields.

Each feature becomes one report: its ``properties`` give the fields (same names as contract 1),
its ``geometry`` the location (Point, Polygon or MultiPolygon, WGS84). GIS exports carry extra
attribute columns and write ``null`` for empty ones, so unknown properties are set aside with
one warning naming them (not a rejection), and ``null`` counts as absent. ``defaults`` fill
absent fields (e.g. ``{"source": "fire"}``); a feature without ``source_id`` takes the
Feature's ``id``. Rejections carry the feature index and a path such as
``$.features[3].properties.observed_at`` or ``$.features[3].geometry``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from ingest.errors import FeedInvalid, FeedUnsupported, ReportInvalid
from ingest.formats.common import check_count, decode_json
from ingest.formats.result import ParseResult
from ingest.report import Report, report_from_mapping

_GEOMETRIES: Final = ("Point", "Polygon", "MultiPolygon")
# Set by the server or by this parser, never by a sender.
_NOT_FROM_SENDER: Final = frozenset({"received_at", "offset", "feed_format", "geometry"})
_FIELDS: Final = frozenset(Report.__struct_fields__) - _NOT_FROM_SENDER
_WGS84: Final = ("crs84", "4326", "wgs84", "wgs 84")
_AREA_SPLIT: Final = re.compile(r"[\s,;]+")


def parse_geojson(data: bytes, *, defaults: Mapping[str, Any] | None = None) -> ParseResult:
    doc = decode_json(data)
    if not isinstance(doc, dict):
        raise FeedInvalid("expected a GeoJSON object")
    _check_crs(doc.get("crs"))
    kind = doc.get("type")
    if kind == "Feature":
        features: list[Any] = [doc]
        prefix = "$"
    elif kind == "FeatureCollection":
        features = doc.get("features")  # type: ignore[assignment]
        if not isinstance(features, list):
            raise FeedInvalid("must be a list of features", field="$.features")
        prefix = "$.features[{i}]"
    else:
        raise FeedUnsupported(f"GeoJSON type {str(kind)[:40]!r}: expected FeatureCollection")
    check_count(len(features), "features")
    reports: list[Report] = []
    rejected: list[ReportInvalid] = []
    ignored: dict[str, int] = {}
    for i, feature in enumerate(features):
        where = prefix.format(i=i)
        try:
            reports.append(_feature(feature, where, defaults or {}, ignored))
        except ReportInvalid as error:
            rejected.append(error.at_index(i))
    warnings: tuple[str, ...] = ()
    if ignored:
        names = ", ".join(f"{name} ({count}x)" for name, count in sorted(ignored.items())[:50])
        warnings = (f"properties not in contract 1, ignored: {names}",)
    return ParseResult(tuple(reports), tuple(rejected), warnings)


def _check_crs(crs: Any) -> None:
    """Legacy GeoJSON (2008) may name a CRS; anything but WGS84 would misplace every point."""
    if crs is None:
        return
    name = crs.get("properties", {}).get("name") if isinstance(crs, dict) else None
    if not isinstance(name, str) or not any(tag in name.lower() for tag in _WGS84):
        raise FeedUnsupported(f"coordinate reference system {str(name)[:80]!r} is not WGS84")


def _feature(
    feature: Any, where: str, defaults: Mapping[str, Any], ignored: dict[str, int]
) -> Report:
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise ReportInvalid(where, "expected a GeoJSON Feature")
    properties = feature.get("properties") or {}
    if not isinstance(properties, dict):
        raise ReportInvalid(f"{where}.properties", "expected an object")
    fields: dict[str, Any] = {k: v for k, v in defaults.items() if v is not None}
    for key, value in properties.items():
        if key in _FIELDS and value is not None:
            fields[key] = value
        elif key not in _FIELDS:
            ignored[str(key)[:60]] = ignored.get(str(key)[:60], 0) + 1
    if "source_id" not in fields and feature.get("id") is not None:
        fields["source_id"] = str(feature["id"])
    if isinstance(fields.get("area_codes"), str):  # GIS attribute tables have no lists
        fields["area_codes"] = [c for c in _AREA_SPLIT.split(fields["area_codes"]) if c]
    fields["geometry"] = _geometry(feature.get("geometry"), f"{where}.geometry")
    fields["feed_format"] = "geojson"
    try:
        return report_from_mapping(fields)
    except ReportInvalid as error:
        raise ReportInvalid(_located(error.field, where), error.reason) from None


def _geometry(geometry: Any, where: str) -> dict[str, Any] | None:
    if geometry is None:
        return None
    if not isinstance(geometry, dict):
        raise ReportInvalid(where, "expected a GeoJSON geometry object or null")
    kind = geometry.get("type")
    if kind not in _GEOMETRIES:
        raise ReportInvalid(
            where, f"type {str(kind)[:40]!r} not supported; use {', '.join(_GEOMETRIES)}"
        )
    # bbox and foreign members are legal GeoJSON but not part of the report's geometry
    return {"type": kind, "coordinates": geometry.get("coordinates")}


def _located(field: str, where: str) -> str:
    """``$.geometry.x`` → ``<feature>.geometry.x``; ``$.name`` → ``<feature>.properties.name``."""
    rest = field[1:] if field.startswith("$") else f".{field}"
    if rest.startswith(".geometry") or not rest:
        return f"{where}{rest}"
    return f"{where}.properties{rest}"
