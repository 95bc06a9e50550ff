"""The geometry the native engine leaves to shapely: rare paths (polygons, area codes, warning
areas) computed here exactly as correlation/*.py computes them, so both engines agree; and the
canonical decoder for the lines the engine's own reader leaves to Python."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import shapely
from shapely.geometry.base import BaseGeometry

from ingest.districts import Districts
from ingest.geometry import representative_point, to_shapely
from ingest.report import Report, decode_report

Bounds = tuple[float, float, float, float]


class Helper:
    """Called back by the Rust engine (correlation/native/src/pyconfig.rs, PyGeo)."""

    def __init__(self, districts: Districts) -> None:
        self.districts = districts

    @staticmethod
    def decode(line: bytes) -> Report:
        """process_line's report of a line its reader declined or a callback needs."""
        return decode_report(line)

    def point_of(self, report: Report) -> tuple[float, float] | None:
        """engine._obs for a report without Point geometry (polygon, or area codes)."""
        geometry = report.geometry
        if geometry is not None:
            return representative_point(geometry)
        if report.area_codes:
            area = self.districts.geometry_for_codes(report.area_codes)
            if area is not None:
                point = area.representative_point()
                return (point.x, point.y)
        return None

    def warning_geo(
        self, report: Report
    ) -> tuple[dict[str, Any] | None, list[str], BaseGeometry | None, Bounds | None]:
        """warnings._build's geometry and districts, and warnings._prepare's area."""
        districts = self.districts
        geometry: dict[str, Any] | None = None
        if report.geometry is not None:
            geometry = msgspec.to_builtins(report.geometry)
        elif report.area_codes:
            union = districts.geometry_for_codes(report.area_codes)
            if union is not None:
                geometry = json.loads(shapely.to_geojson(union))
        if report.area_codes and (found := districts.for_codes(report.area_codes)):
            ags = list(found)
        elif report.geometry is not None:
            ags = list(districts.intersecting(to_shapely(report.geometry)))
        else:
            ags = []
        if geometry is None:
            return None, ags, None, None
        area, bounds = self.area(geometry)
        return geometry, ags, area, bounds

    def area(self, geometry: dict[str, Any]) -> tuple[BaseGeometry, Bounds]:
        """warnings._prepare: the prepared area of a warning's geometry and its bounds."""
        area = shapely.from_geojson(json.dumps(geometry))
        shapely.prepare(area)
        b = area.bounds
        return area, (b[0], b[1], b[2], b[3])

    def contains(self, area: BaseGeometry, lon: float, lat: float) -> bool:
        return bool(shapely.contains_xy(area, lon, lat))

    def intersecting(self, report: Report) -> list[str]:
        assert report.geometry is not None
        return list(self.districts.intersecting(to_shapely(report.geometry)))
