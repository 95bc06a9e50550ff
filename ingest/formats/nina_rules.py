"""Mapping rules for NINA alerts: enumerations, references, source, category, areas.

The rules mirror the CAP parser so one warning reads the same whichever feed carried it:
enumerations are CAP values lower-cased; the source is ``weather`` for DWD warnings relayed by
BBK and ``civil_protection`` otherwise (``police`` for the police provider); the category comes
from the BBK event code when it names a specific hazard (``mappings/bbk_event_codes.toml``),
from the LHP flood portal (``flood.river``), or else from the CAP parser's own rule
(:func:`ingest.formats.cap_mapping.category_of` on the first CAP category).

NINA polygons are strings of ``"lon,lat"`` pairs (the reverse of CAP XML). The LHP flood feed
starts a ring with the sentinel ``-1.0,-1.0`` to mark it as a hole of the preceding polygon;
several polygons of one alert are united into one (Multi)Polygon.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any, Final

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import MultiPolygon as ShapelyMultiPolygon
from shapely.geometry import Polygon as ShapelyPolygon
from shapely.geometry.base import BaseGeometry

from ingest.errors import ReportInvalid
from ingest.formats.cap_mapping import category_of as cap_category_of
from ingest.formats.cap_mapping import limited_id, printable
from ingest.report import AREA_CODE_PATTERN, MAX_POLYGONS, Source

SEVERITIES: Final = ("extreme", "severe", "moderate", "minor", "unknown")
URGENCIES: Final = ("immediate", "expected", "future", "past", "unknown")
CERTAINTIES: Final = ("observed", "likely", "possible", "unlikely", "unknown")
_ALIASES: Final = {"very likely": "likely"}  # CAP 1.0 spelling, still sent by some systems

_HOLE: Final = (-1.0, -1.0)
_AREA_CODE: Final = re.compile(AREA_CODE_PATTERN)


def timestamp(value: Any, field: str, *, required: bool = False) -> datetime | None:
    if value is None or value == "":
        if required:
            raise ReportInvalid(field, "is required")
        return None
    if not isinstance(value, str):
        raise ReportInvalid(field, f"expected an RFC 3339 string, got {type(value).__name__}")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ReportInvalid(field, f"not an RFC 3339 timestamp: {value[:40]!r}") from None
    if parsed.tzinfo is None:
        raise ReportInvalid(field, f"timestamp without UTC offset: {value[:40]!r}")
    return parsed


def lower_enum(
    value: Any,
    field: str,
    allowed: tuple[str, ...],
    *,
    default: str | None = None,
    notes: list[str] | None = None,
) -> str | None:
    """A CAP enumeration lower-cased. Unknown values reject the alert, or, where ``notes`` is
    given (optional qualifiers such as urgency), fall back to ``default`` with a note."""
    if value is None or value == "":
        if default is None and notes is None:
            raise ReportInvalid(field, "is required")
        return default
    text = str(value).strip().lower()
    text = _ALIASES.get(text, text)
    if text in allowed:
        return text
    if notes is None:
        raise ReportInvalid(field, f"{str(value)[:40]!r} is not one of {', '.join(allowed)}")
    notes.append(f"{field}: unknown value {str(value)[:40]!r} ignored")
    return default


def references_of(text: str | None, notes: list[str]) -> list[str]:
    """Identifiers from CAP ``references`` ("sender,identifier,sent" entries, space-separated).

    Real MoWaS data also carries (a) triples whose ``sent`` is malformed (``33--T00:00:00``):
    the identifier is kept with a note; (b) a nested form where earlier reference lists were
    pasted into the fields, ``"id id sender,id id id,sent"``: the identifiers of the middle
    field are kept (newest first, as sent) with a note.
    """
    if not text or not text.strip():
        return []
    tokens = text.split()
    if all(token.count(",") == 2 for token in tokens):
        triples = [token.split(",") for token in tokens]
    else:
        parts = text.split(",")
        if len(parts) != 3:
            notes.append(f"references: unreadable, ignored: {text[:80]!r}")
            return []
        notes.append("references: irregular format (lists inside fields), identifiers recovered")
        triples = [[parts[0], ident, parts[2]] for ident in parts[1].split()]
    identifiers: list[str] = []
    malformed: list[str] = []
    for _sender, identifier, sent in triples:
        try:
            datetime.fromisoformat(sent)
        except ValueError:
            if sent not in malformed:
                malformed.append(sent)
        if identifier and identifier not in identifiers:
            identifiers.append(limited_id(printable(identifier), 256))
    if malformed:
        notes.append(f"references: malformed sent {malformed[0][:40]!r}, identifiers kept")
    return identifiers


def source_of(sender: str, identifier: str, feed_source: str) -> Source:
    """MoWaS is the civil-protection system whatever the CAP category (the CAP parser's
    Health → health or Security → police rules do not apply to it); DWD relays are weather."""
    text = f"{sender} {identifier} {feed_source}".lower()
    if "dwd" in text:
        return "weather"
    if identifier.lower().startswith("pol.") or feed_source.lower() == "police":
        return "police"
    return "civil_protection"


@cache
def event_codes() -> Mapping[str, str]:
    """BBK event code → category, shipped as data."""
    text = resources.files("ingest.formats").joinpath("mappings/bbk_event_codes.toml")
    codes: dict[str, str] = tomllib.loads(text.read_text(encoding="utf-8"))["codes"]
    return codes


def category_of(info: Mapping[str, Any], sender: str, identifier: str, feed_source: str) -> str:
    """BBK event code first, then the LHP portal, then exactly the CAP parser's rule."""
    if feed_source.upper() == "LHP" or "hochwasserzentralen" in sender.lower():
        return "flood.river"
    codes = info.get("eventCode") or []
    values = [
        str(code["value"])
        for code in (codes if isinstance(codes, list) else [])
        if isinstance(code, dict) and code.get("value") is not None
    ]
    for value in values:
        if value in event_codes():
            return event_codes()[value]
    categories = info.get("category") or []
    first = categories[0] if isinstance(categories, list) and categories else categories
    event = info.get("event")
    return cap_category_of(str(first) if first else None, str(event) if event else None, values)


def _ring(text: str, field: str) -> NDArray[np.float64]:
    """An (n, 2) array of lon, lat; vectorised because real areas have 100k+ vertices."""
    tokens = text.split()
    if text.count(",") == len(tokens):
        try:
            return np.array(text.replace(",", " ").split(), dtype=np.float64).reshape(-1, 2)
        except ValueError:
            pass
    for token in tokens:  # slow path only to name the offending pair
        parts = token.split(",")
        try:
            float(parts[0]), float(parts[1])
            if len(parts) != 2:
                raise ValueError
        except (ValueError, IndexError):
            raise ReportInvalid(field, f"{token[:40]!r} is not 'lon,lat'") from None
    raise ReportInvalid(field, "not a list of 'lon,lat' pairs")  # pragma: no cover


def geometry_of(areas: list[Any], field: str, notes: list[str]) -> dict[str, Any] | None:
    """The union of all area polygons as a GeoJSON dict, or None when there are none."""
    polygons: list[list[NDArray[np.float64]]] = []  # each: [shell, *holes]
    unclosed = 0
    for a, area in enumerate(areas):
        texts = area.get("polygon") if isinstance(area, dict) else None
        if isinstance(texts, str):
            texts = [texts]
        for p, text in enumerate(texts if isinstance(texts, list) else []):
            where = f"{field}[{a}].polygon[{p}]"
            if not isinstance(text, str):
                raise ReportInvalid(where, "expected a string of 'lon,lat' pairs")
            ring = _ring(text, where)
            hole = len(ring) > 0 and tuple(ring[0]) == _HOLE
            ring = ring[1:] if hole else ring
            if len(ring) and not np.array_equal(ring[0], ring[-1]):
                ring = np.vstack([ring, ring[:1]])
                unclosed += 1
            if len(ring) < 4:
                notes.append(f"{where}: fewer than 3 distinct points, ignored")
            elif hole and polygons:
                polygons[-1].append(ring)
            else:
                polygons.append([ring])
        if isinstance(area, dict) and area.get("circle"):
            notes.append(f"{field}[{a}].circle: circles are not read, polygons/geocodes used")
    if unclosed:
        notes.append(f"{field}: closed {unclosed} open polygon ring(s)")
    if not polygons:
        return None
    if len(polygons) > MAX_POLYGONS:
        raise ReportInvalid(field, f"more than {MAX_POLYGONS} polygons")
    if len(polygons) == 1:
        return {"type": "Polygon", "coordinates": [ring.tolist() for ring in polygons[0]]}
    shapes = [ShapelyPolygon(rings[0], rings[1:]) for rings in polygons]
    merged: BaseGeometry = ShapelyMultiPolygon(shapes)
    if not merged.is_valid:  # overlapping parts: the warned area is their union
        merged = _polygonal(shapely.unary_union([shapely.make_valid(s) for s in shapes]))
    mapping: dict[str, Any] = shapely.geometry.mapping(merged)
    return mapping


def _polygonal(geom: BaseGeometry) -> BaseGeometry:
    """Only the areas of a union (repairs may leave stray lines or points)."""
    if isinstance(geom, ShapelyPolygon | ShapelyMultiPolygon):
        return geom
    parts: list[ShapelyPolygon] = []
    for part in getattr(geom, "geoms", ()):
        if isinstance(part, ShapelyPolygon):
            parts.append(part)
        elif isinstance(part, ShapelyMultiPolygon):
            parts.extend(part.geoms)
    return ShapelyMultiPolygon(parts)


def area_codes(areas: list[Any], notes: list[str]) -> list[str]:
    """ARS/AGS geocode values as given (12-digit ARS stay 12 digits), de-duplicated in order."""
    codes: list[str] = []
    skipped: list[str] = []
    for area in areas:
        geocodes = area.get("geocode") if isinstance(area, dict) else None
        for geocode in geocodes if isinstance(geocodes, list) else []:
            value = str(geocode.get("value", "")).strip() if isinstance(geocode, dict) else ""
            if _AREA_CODE.match(value):
                if value not in codes:
                    codes.append(value)
            elif value:
                skipped.append(value[:20])
    if skipped:
        notes.append(f"geocode: {len(skipped)} value(s) not ARS/AGS ignored, e.g. {skipped[0]!r}")
    if len(codes) > 5_000:
        notes.append(f"geocode: {len(codes)} area codes, kept the first 5000")
    return codes[:5_000]
