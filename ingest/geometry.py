"""GeoJSON geometry of reports: shapely conversion, validity repair and size limits.

Polygons from the field are often self-intersecting (hand-drawn warning areas, reprojected
rings). We repair them with ``shapely.make_valid`` when the repair is still a polygonal area and
reject them otherwise; a report never reaches the engine with geometry shapely would choke on.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec
import shapely
from shapely.geometry import MultiPolygon as ShapelyMultiPolygon
from shapely.geometry import Point as ShapelyPoint
from shapely.geometry import Polygon as ShapelyPolygon
from shapely.geometry.base import BaseGeometry

from ingest.errors import ReportInvalid
from ingest.report import (
    MAX_VERTICES,
    Geometry,
    MultiPolygon,
    Point,
    Polygon,
    Report,
    out_of_range,
    unsign_zero,
)

_COORDS: Final = "$.geometry.coordinates"


def to_shapely(geometry: Geometry) -> BaseGeometry:
    if isinstance(geometry, Point):
        return ShapelyPoint(geometry.coordinates[0], geometry.coordinates[1])
    if isinstance(geometry, Polygon):
        return _polygon(geometry.coordinates)
    return ShapelyMultiPolygon([_polygon(rings) for rings in geometry.coordinates])


def _polygon(rings: list[Any]) -> ShapelyPolygon:
    shell, *holes = ([(p[0], p[1]) for p in ring] for ring in rings)
    return ShapelyPolygon(shell, holes)


def from_shapely(geom: BaseGeometry) -> Geometry:
    """The GeoJSON geometry of a shapely Point, Polygon or MultiPolygon (2-D), without -0.0
    (see :func:`~ingest.report.unsign_zero`)."""
    geom = shapely.transform(geom, lambda coords: coords + 0.0)
    geometry: Geometry = msgspec.convert(shapely.geometry.mapping(geom), Geometry)
    return geometry


def _polygonal(geom: BaseGeometry) -> BaseGeometry:
    """The polygonal part of a repaired geometry (make_valid may add stray lines or points)."""
    if isinstance(geom, ShapelyPolygon | ShapelyMultiPolygon):
        return geom
    parts = [g for g in getattr(geom, "geoms", ()) if isinstance(g, ShapelyPolygon)]
    parts += [p for g in getattr(geom, "geoms", ()) if isinstance(g, ShapelyMultiPolygon)
              for p in g.geoms]  # fmt: skip
    return ShapelyMultiPolygon(parts) if parts else ShapelyPolygon()


def _vertex_count(geometry: Polygon | MultiPolygon) -> int:
    polygons = [geometry.coordinates] if isinstance(geometry, Polygon) else geometry.coordinates
    return sum(len(ring) for rings in polygons for ring in rings)


def checked(report: Report) -> Report:
    """The report with polygon geometry verified (and repaired if needed), or ReportInvalid."""
    geometry = report.geometry
    if geometry is None or isinstance(geometry, Point):
        return report
    if _vertex_count(geometry) > MAX_VERTICES:
        raise ReportInvalid(_COORDS, f"more than {MAX_VERTICES} vertices")
    polygons = [geometry.coordinates] if isinstance(geometry, Polygon) else geometry.coordinates
    for p, rings in enumerate(polygons):
        for r, ring in enumerate(rings):
            where = f"[{r}]" if isinstance(geometry, Polygon) else f"[{p}][{r}]"
            if ring[0][:2] != ring[-1][:2]:
                raise ReportInvalid(f"{_COORDS}{where}", "linear ring is not closed")
            for position in ring:
                unsign_zero(position)
                problem = out_of_range(position)
                if problem:
                    raise ReportInvalid(f"{_COORDS}{where}", problem)
    try:
        shape = to_shapely(geometry)
    except (ValueError, shapely.errors.GEOSException) as error:
        raise ReportInvalid(_COORDS, f"not a polygon: {error}") from None
    if shape.is_valid:
        if shape.is_empty or shape.area == 0:
            raise ReportInvalid(_COORDS, "polygon has no area")
        return report
    repaired = _polygonal(shapely.make_valid(shape))
    if repaired.is_empty or repaired.area == 0:
        raise ReportInvalid(_COORDS, "polygon is invalid and has no area after repair")
    return msgspec.structs.replace(report, geometry=from_shapely(repaired))


def representative_point(geometry: Geometry) -> tuple[float, float]:
    """``(lon, lat)``: the point itself, or a point guaranteed to lie inside the area."""
    if isinstance(geometry, Point):
        return (geometry.coordinates[0], geometry.coordinates[1])
    point = to_shapely(geometry).representative_point()
    return (point.x, point.y)
