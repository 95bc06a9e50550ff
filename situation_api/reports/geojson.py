"""The situation report as one GeoJSON FeatureCollection (RFC 7946, WGS84) for a GIS.

Features carry a ``layer`` property: ``district`` (outline with level and figures), ``warning``
(its polygon) and ``incident`` (point at its centroid). The report header and the totals are a
foreign member ``report`` of the collection (RFC 7946 §6.1), which GIS tools ignore and scripts
can read. Coordinates are rounded to 6 decimals (~0.1 m).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Final

import msgspec
from shapely.geometry import mapping

from ingest.districts import rlp_districts
from situation_api.reports.i18n import level_name
from situation_api.reports.model import SEVERITIES, SituationReport
from situation_api.reports.table import iso

_encoder: Final = msgspec.json.Encoder()


def _round(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, list | tuple):
        return [_round(v) for v in value]
    return value


@lru_cache(maxsize=1)
def _outlines() -> Mapping[str, dict[str, Any]]:
    return {
        d.ags: {
            "type": d.geometry.geom_type,
            "coordinates": _round(mapping(d.geometry)["coordinates"]),
        }
        for d in rlp_districts().all()
    }


def report_header(report: SituationReport) -> dict[str, Any]:
    t = report.totals
    return {
        "number": report.number,
        "version": report.version,
        "at": iso(report.at),
        "from": iso(report.start),
        "to": iso(report.at),
        "prepared_by": report.prepared_by,
        "classification": report.classification,
        "region": list(report.region),
        "lang": report.lang,
        "seq": report.seq,
        "totals": {
            "incidents": t.incidents,
            "open": t.open,
            "open_by_severity": dict(zip(SEVERITIES, t.open_by_severity, strict=True)),
            "resolved": t.resolved,
            "warnings": t.warnings,
            **t.figures.as_dict(),
            "max_level": t.max_level,
            "elevated_districts": t.elevated_districts,
            "icu_beds_free": t.icu_beds_free,
            "beds_free": t.beds_free,
        },
    }


def render_geojson(report: SituationReport) -> bytes:
    outlines = _outlines()
    features: list[dict[str, Any]] = []
    for d in report.districts:
        features.append(
            {
                "type": "Feature",
                "id": f"district/{d.ags}",
                "geometry": outlines.get(d.ags),
                "properties": {
                    "layer": "district",
                    "ags": d.ags,
                    "name": d.name,
                    "level": d.level,
                    "level_name": level_name(d.level, report.lang),
                    "level_reason": d.level_reason,
                    "open": d.open_total,
                    **{f"open_{s}": n for s, n in zip(SEVERITIES, d.open_by_severity, strict=True)},
                    "resolved": d.resolved,
                    "warnings": d.warnings,
                    **d.figures.as_dict(),
                    "icu_beds_free": d.icu_beds_free,
                    "beds_free": d.beds_free,
                },
            }
        )
    for x in report.warnings:
        features.append(
            {
                "type": "Feature",
                "id": f"warning/{x.id}",
                "geometry": x.geometry,
                "properties": {
                    "layer": "warning",
                    "id": x.id,
                    "status": x.status,
                    "severity": x.severity,
                    "category": x.category,
                    "headline": x.headline,
                    "event": x.event,
                    "agency": x.agency,
                    "onset": iso(x.onset) or None,
                    "expires": iso(x.expires) or None,
                    "districts": list(x.districts),
                },
            }
        )
    for i in report.incidents:
        point = (
            None
            if i.lon is None or i.lat is None
            else {"type": "Point", "coordinates": [round(i.lon, 6), round(i.lat, 6)]}
        )
        features.append(
            {
                "type": "Feature",
                "id": f"incident/{i.id}",
                "geometry": point,
                "properties": {
                    "layer": "incident",
                    "id": i.id,
                    "status": i.status,
                    "severity": i.severity,
                    "category": i.category,
                    "title": i.title,
                    "district": i.district,
                    "district_name": i.district_name,
                    "first_seen": iso(i.first_seen),
                    "last_seen": iso(i.last_seen),
                    "agencies": list(i.agencies),
                    **i.figures.as_dict(),
                    "threads": i.threads,
                },
            }
        )
    return _encoder.encode(
        {"type": "FeatureCollection", "report": report_header(report), "features": features}
    )
