"""CAP ``<area>`` → GeoJSON geometry and German area codes.

CAP writes positions as ``lat,lon``; GeoJSON wants ``[lon, lat]``: the swap happens here and only
here. Polygons of one info are united (DWD sends adjacent cells sharing edges, NWS overlapping
polygons), DWD ``EXCLUDE_POLYGON`` geocodes are cut out as holes, and circles become 32-gons.
A circle of radius 0 (earthquakes, RFS incidents) is a Point: inflating it to an invented radius
would claim an extent nobody reported.

Geocodes: German ARS/AGS are kept as given; DWD ``WARNCELLID`` ``8`` + AGS-8 (Gemeinde) and
``1`` + AGS-5 + ``000`` (Kreis) are turned into AGS; all other schemes (SAME, FIPS6, UGC, EMMA_ID,
CAP-CP, …) are not resolvable by us and only named when nothing else locates the message.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import shapely
from shapely.geometry import MultiPolygon as ShapelyMultiPolygon
from shapely.geometry import Polygon as ShapelyPolygon
from shapely.geometry.base import BaseGeometry

CIRCLE_VERTICES: Final = 32
MAX_RADIUS_KM: Final = 5_000.0
MAX_AREA_CODES: Final = 5_000
_METRES_PER_DEGREE: Final = 111_320.0  # at the equator; longitude shrinks with cos(lat)

GERMAN_CODE_NAMES: Final = frozenset({
    "ars", "ags", "rs", "shn", "gemeindeschluessel", "gemeindeschlüssel", "kreisschluessel",
    "kreisschlüssel", "regionalschluessel", "regionalschlüssel",
})  # fmt: skip
_GERMAN_LENGTHS: Final = frozenset({2, 3, 5, 8, 9, 12})
_LAENDER: Final = frozenset(f"{n:02d}" for n in range(1, 17))
_DIGITS: Final = re.compile(r"^[0-9]+$")

_NUM: Final = r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]{1,3})?"
_NUMBER: Final = re.compile(_NUM)
_SEPARATORS: Final = re.compile(r"[\s,]*")
_CANONICAL: Final = re.compile(rf"^\s*{_NUM},{_NUM}(?:\s+{_NUM},{_NUM})*\s*$")

Ring = list[tuple[float, float]]  # (lon, lat) positions, GeoJSON order


@dataclass(slots=True)
class AreaInput:
    """The raw text of all ``<area>`` blocks of one info."""

    polygons: list[str] = field(default_factory=list)
    circles: list[str] = field(default_factory=list)
    geocodes: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class AreaResult:
    geometry: dict[str, Any] | None
    area_codes: tuple[str, ...]
    foreign_schemes: tuple[str, ...]  # geocode valueNames we could not turn into AGS
    geocodes: tuple[str, ...]  # those geocodes as "SCHEME:value", kept for the record
    warnings: tuple[str, ...]


def german_code(name: str, value: str) -> str | None:
    """The ARS/AGS a geocode names, or None if it is no German code we can resolve."""
    key = name.strip().lower()
    value = value.strip()
    if not _DIGITS.match(value):
        return None
    if key == "warncellid":
        if len(value) == 9 and value[0] == "8" and value[1:3] in _LAENDER:
            return value[1:]
        if len(value) == 9 and value[0] == "1" and value[1:3] in _LAENDER:
            return value[1:6]
        return None
    if key in GERMAN_CODE_NAMES:
        return value if len(value) in _GERMAN_LENGTHS and value[:2] in _LAENDER else None
    # BBK/MoWaS name the geocode after the district ("Koblenz") and give the 12-digit ARS.
    if len(value) == 12 and value[:2] in _LAENDER:
        return value
    return None


def _positions(text: str, what: str, warnings: list[str]) -> Ring | None:
    """``lat,lon lat,lon …`` as ``(lon, lat)`` pairs, or None (with a warning) if unreadable.

    Real feeds add stray commas (``+40.85,-118.09, +40.86,-118.09``) or a blank after the comma;
    the numbers still pair up unambiguously, so we read them with a warning."""
    if not _SEPARATORS.fullmatch(_NUMBER.sub(" ", text)):
        warnings.append(f"{what}: characters other than numbers, commas and blanks; ignored")
        return None
    numbers = _NUMBER.findall(text)
    if len(numbers) % 2:
        warnings.append(f"{what}: odd count of numbers ({len(numbers)}), not 'lat,lon' pairs;"
                        " ignored")  # fmt: skip
        return None
    if not _CANONICAL.match(text):
        warnings.append(f"{what}: positions not written as 'lat,lon lat,lon'; read pairwise")
    points: Ring = []
    for i in range(0, len(numbers), 2):
        lat, lon = float(numbers[i]), float(numbers[i + 1])
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            warnings.append(f"{what}: position {lat},{lon} outside WGS84 lat/lon; ignored")
            return None
        points.append((lon, lat))
    return points


def _ring(text: str, what: str, warnings: list[str]) -> Ring | None:
    points = _positions(text, what, warnings)
    if points is None:
        return None
    if len(set(points)) < 3:
        warnings.append(f"{what}: fewer than 3 distinct positions; {what} ignored")
        return None
    if points[0] != points[-1]:
        warnings.append(f"{what}: ring not closed (first != last position); closed it")
        points.append(points[0])
    return points


def _circle(text: str, warnings: list[str]) -> tuple[float, float, float] | None:
    """``(lon, lat, radius_km)`` of ``"lat,lon radius"``."""
    parts = re.sub(r"\s*,\s*", ",", text.strip()).split()
    if len(parts) != 2:
        warnings.append(f"circle: '{text.strip()[:60]}' is not 'lat,lon radius'; ignored")
        return None
    centre = _positions(parts[0], "circle", warnings)
    if not centre or len(centre) != 1:
        return None
    try:
        radius = float(parts[1])
    except ValueError:
        radius = math.nan
    if not (math.isfinite(radius) and 0 <= radius <= MAX_RADIUS_KM):
        warnings.append(f"circle: radius '{parts[1][:20]}' not within 0..{MAX_RADIUS_KM:g} km;"
                        " ignored")  # fmt: skip
        return None
    return (centre[0][0], centre[0][1], radius)


def circle_ring(lon: float, lat: float, radius_km: float) -> Ring:
    """A closed counter-clockwise 32-gon around the centre in a local metres-per-degree
    projection (good to well under 1 % for the radii warnings use, far from the poles)."""
    metres = radius_km * 1000.0
    per_lon = max(_METRES_PER_DEGREE * math.cos(math.radians(lat)), 1.0)
    ring = []
    for i in range(CIRCLE_VERTICES):
        angle = 2 * math.pi * i / CIRCLE_VERTICES
        x = lon + metres * math.cos(angle) / per_lon
        y = lat + metres * math.sin(angle) / _METRES_PER_DEGREE
        ring.append((min(180.0, max(-180.0, x)), min(90.0, max(-90.0, y))))
    ring.append(ring[0])
    return ring


def _polygonal(geom: BaseGeometry) -> list[ShapelyPolygon]:
    if isinstance(geom, ShapelyPolygon):
        return [] if geom.is_empty else [geom]
    parts: list[ShapelyPolygon] = []
    for part in getattr(geom, "geoms", ()):
        parts.extend(_polygonal(part))
    return parts


def _shape(ring: Ring) -> list[ShapelyPolygon]:
    polygon = ShapelyPolygon(ring)
    return [polygon] if polygon.is_valid else _polygonal(shapely.make_valid(polygon))


def _geometry(
    rings: list[Ring], excludes: list[Ring], warnings: list[str]
) -> dict[str, Any] | None:
    if len(rings) == 1 and not excludes and ShapelyPolygon(rings[0]).is_valid:
        return {"type": "Polygon", "coordinates": [[list(p) for p in rings[0]]]}
    try:
        shapes = [part for ring in rings for part in _shape(ring)]
        merged = shapely.union_all(shapes) if shapes else ShapelyPolygon()
        holes = [part for ring in excludes for part in _shape(ring)]
        if holes and not merged.is_empty:
            merged = merged.difference(shapely.union_all(holes))
        parts = _polygonal(merged)
    except shapely.errors.ShapelyError as error:
        warnings.append(f"polygon: geometry could not be combined ({error}); ignored")
        return None
    if not parts:
        warnings.append("polygon: nothing left after repair and EXCLUDE_POLYGON; geometry ignored")
        return None
    shape = parts[0] if len(parts) == 1 else ShapelyMultiPolygon(parts)
    result: dict[str, Any] = shapely.geometry.mapping(shape)
    return result


def build_area(area: AreaInput) -> AreaResult:
    warnings: list[str] = []
    rings: list[Ring] = []
    points: list[tuple[float, float]] = []
    for text in area.polygons:
        if not text.strip():
            warnings.append("polygon: empty <polygon> element ignored")
            continue
        ring = _ring(text, "polygon", warnings)
        if ring is not None:
            rings.append(ring)
    for text in area.circles:
        circle = _circle(text, warnings)
        if circle is None:
            continue
        lon, lat, radius = circle
        if radius > 0:
            rings.append(circle_ring(lon, lat, radius))
        else:
            points.append((lon, lat))
    excludes: list[Ring] = []
    codes: dict[str, None] = {}
    foreign: dict[str, None] = {}
    other_codes: dict[str, None] = {}
    for name, value in area.geocodes:
        if name.strip().upper() == "EXCLUDE_POLYGON":
            ring = _ring(value, "EXCLUDE_POLYGON", warnings)
            if ring is not None:
                excludes.append(ring)
            continue
        code = german_code(name, value)
        if code is not None:
            codes[code] = None
        elif value.strip():
            scheme = name.strip()[:60] or "(unnamed)"
            foreign[scheme] = None
            other_codes[f"{scheme}:{value.strip()}"[:128]] = None
    geometry = _geometry(rings, excludes, warnings) if rings else None
    if geometry is None and points:
        if len(points) > 1:
            warnings.append(f"circle: {len(points)} circles of radius 0; kept the first as Point")
        geometry = {"type": "Point", "coordinates": list(points[0])}
    area_codes = tuple(codes)
    if len(area_codes) > MAX_AREA_CODES:
        warnings.append(f"geocode: {len(area_codes)} area codes, kept the first {MAX_AREA_CODES}")
        area_codes = area_codes[:MAX_AREA_CODES]
    geocodes = tuple(other_codes)[:MAX_AREA_CODES]
    return AreaResult(geometry, area_codes, tuple(foreign), geocodes, tuple(warnings))


def describe_schemes(schemes: Sequence[str]) -> str:
    return ", ".join(schemes[:5]) + (f" and {len(schemes) - 5} more" if len(schemes) > 5 else "")
