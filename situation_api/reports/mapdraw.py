"""The situation map without internet: district outlines coloured by escalation level, warning
polygons and incident symbols, from the bundled district geometry only (no tiles).

:func:`scene` projects everything once into a device-independent :class:`Scene` (y grows
downwards, units of the target: points for PDF, pixels for SVG); :func:`to_svg` writes it as
SVG text and :mod:`situation_api.reports.pdf` draws the same scene on its canvas, so the PDF
and the HTML show the same map.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final
from xml.sax.saxutils import escape, quoteattr

import shapely
from shapely.geometry import Polygon as ShapelyPolygon
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from ingest.districts import rlp_districts
from situation_api.reports.model import SituationReport

LEVEL_FILL: Final = ("#f2f2f2", "#ffe680", "#ffa64d", "#e34a33")
SEVERITY_FILL: Final = {
    "extreme": "#67000d",
    "severe": "#d7301f",
    "moderate": "#fc8d59",
    "minor": "#fdd49e",
    "unknown": "#969696",
}
WARNING_FILL: Final = "#3182bd"
WARNING_STROKE: Final = "#08519c"
_MARGIN: Final = 0.04  # share of the extent added around the shown districts

Ring = tuple[tuple[float, float], ...]


@dataclass(frozen=True, slots=True)
class Area:
    rings: tuple[Ring, ...]  # exterior and holes, drawn with the even-odd rule
    fill: str
    label: str
    label_at: tuple[float, float]


@dataclass(frozen=True, slots=True)
class Dot:
    x: float
    y: float
    fill: str
    open: bool


@dataclass(frozen=True, slots=True)
class Scene:
    width: float
    height: float
    districts: tuple[Area, ...]
    warnings: tuple[Area, ...]
    dots: tuple[Dot, ...]
    attribution: str


class _Projection:
    """Equirectangular with the longitude scaled by cos(mid latitude): true enough for one
    German state, and no projection library needed."""

    def __init__(self, bounds: tuple[float, float, float, float], width: float, height: float):
        minx, miny, maxx, maxy = bounds
        self.kx = math.cos(math.radians((miny + maxy) / 2))
        span_x = max((maxx - minx) * self.kx, 1e-9)
        span_y = max(maxy - miny, 1e-9)
        self.scale = min(width / span_x, height / span_y)
        self.width = span_x * self.scale
        self.height = span_y * self.scale
        self.minx, self.maxy = minx, maxy

    def xy(self, lon: float, lat: float) -> tuple[float, float]:
        return (
            round((lon - self.minx) * self.kx * self.scale, 1),
            round((self.maxy - lat) * self.scale, 1),
        )

    def rings(self, geom: BaseGeometry) -> tuple[Ring, ...]:
        out: list[Ring] = []
        for polygon in polygons(geom):
            for ring in (polygon.exterior, *polygon.interiors):
                points = tuple(self.xy(x, y) for x, y in ring.coords)
                if len(points) >= 4:
                    out.append(points)
        return tuple(out)


@lru_cache(maxsize=8)
def _district_shapes(
    tolerance: float,
) -> tuple[tuple[str, str, BaseGeometry, tuple[float, float]], ...]:
    return tuple(
        (d.ags, d.name, d.geometry.simplify(tolerance, preserve_topology=True), d.centroid)
        for d in rlp_districts().all()
    )


def scene(report: SituationReport, width: float, height: float) -> Scene:
    """The map of ``report`` fitted into ``width`` x ``height`` (aspect kept)."""
    shown = frozenset(report.region) if report.region else None
    shapes = [s for s in _district_shapes(0.004) if shown is None or s[0] in shown]
    union_bounds = shapely.total_bounds([s[2] for s in shapes])
    minx, miny, maxx, maxy = (float(v) for v in union_bounds)
    dx, dy = (maxx - minx) * _MARGIN, (maxy - miny) * _MARGIN
    bounds = (minx - dx, miny - dy, maxx + dx, maxy + dy)
    proj = _Projection(bounds, width, height)
    levels = {d.ags: d.level for d in report.districts}
    districts = tuple(
        Area(
            rings=proj.rings(geom),
            fill=LEVEL_FILL[max(0, min(levels.get(ags, 0), 3))],
            label=name,
            label_at=proj.xy(*point),
        )
        for ags, name, geom, point in shapes
    )
    warnings = tuple(_warning_areas(report, proj, bounds))
    dots = []
    for row in report.incidents:
        if row.lon is None or row.lat is None:
            continue
        if not (bounds[0] <= row.lon <= bounds[2] and bounds[1] <= row.lat <= bounds[3]):
            continue
        x, y = proj.xy(row.lon, row.lat)
        dots.append(Dot(x, y, SEVERITY_FILL.get(row.severity, "#969696"), row.status == "open"))
    # Open and severe incidents last, so they are drawn on top.
    dots.sort(key=lambda d: (d.open, d.fill == SEVERITY_FILL["severe"], d.fill == "#67000d"))
    return Scene(proj.width, proj.height, districts, warnings, tuple(dots), _attribution())


def _warning_areas(
    report: SituationReport, proj: _Projection, bounds: tuple[float, float, float, float]
) -> list[Area]:
    out = []
    for warning in report.warnings:
        geom = polygonal(warning.geometry)
        if geom is None:
            continue
        clipped = shapely.clip_by_rect(geom, *bounds).simplify(0.003, preserve_topology=True)
        if clipped.is_empty:
            continue
        point = clipped.representative_point()
        out.append(
            Area(proj.rings(clipped), WARNING_FILL, warning.headline, proj.xy(point.x, point.y))
        )
    return out


def polygons(geom: BaseGeometry) -> Iterator[ShapelyPolygon]:
    """The non-empty polygons of a (multi)polygon or collection."""
    for part in getattr(geom, "geoms", (geom,)):
        if isinstance(part, ShapelyPolygon) and not part.is_empty:
            yield part


def polygonal(data: Mapping[str, Any] | None) -> BaseGeometry | None:
    if not data or data.get("type") not in ("Polygon", "MultiPolygon"):
        return None
    try:
        geom = shape(dict(data))
    except (ValueError, TypeError, AttributeError, IndexError):
        return None
    return geom if geom.is_valid else geom.buffer(0)


@lru_cache(maxsize=1)
def _attribution() -> str:
    return rlp_districts().attribution


# -- SVG ----------------------------------------------------------------------------------------


def _path(rings: Sequence[Ring]) -> str:
    parts = []
    for ring in rings:
        head, *rest = ring
        parts.append(f"M{head[0]} {head[1]}L" + " ".join(f"{x} {y}" for x, y in rest) + "Z")
    return "".join(parts)


def to_svg(scene_: Scene, *, title: str = "", labels: bool = True) -> str:
    """The scene as a standalone SVG element (no external references)."""
    w, h = round(scene_.width, 1), round(scene_.height, 1)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h + 14}" '
        f'width="{w}" height="{h + 14}" role="img" aria-label={quoteattr(title)}>',
        "<style>.d{stroke:#555;stroke-width:.6}"
        f".w{{fill:{WARNING_FILL};fill-opacity:.18;stroke:{WARNING_STROKE};"
        "stroke-width:.8;stroke-dasharray:3 2}.o{stroke:#222;stroke-width:.4}"
        ".r{fill-opacity:.45}.l{font:7px sans-serif;fill:#333;text-anchor:middle}"
        ".a{font:6px sans-serif;fill:#666}</style>",
    ]
    for area in scene_.districts:
        out.append(
            f'<path class="d" fill-rule="evenodd" fill="{area.fill}" d="{_path(area.rings)}"/>'
        )
    for area in scene_.warnings:
        out.append(
            f'<path class="w" fill-rule="evenodd" d="{_path(area.rings)}">'
            f"<title>{escape(area.label)}</title></path>"
        )
    for dot in scene_.dots:
        cls, r = ("o", 2.6) if dot.open else ("r", 1.6)
        out.append(f'<circle class="{cls}" cx="{dot.x}" cy="{dot.y}" r="{r}" fill="{dot.fill}"/>')
    if labels:
        for area in scene_.districts:
            x, y = area.label_at
            out.append(f'<text class="l" x="{x}" y="{y}">{escape(area.label)}</text>')
    out.append(f'<text class="a" x="2" y="{h + 10}">{escape(scene_.attribution)}</text>')
    out.append("</svg>")
    return "".join(out)
