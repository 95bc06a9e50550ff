"""The districts of Rheinland-Pfalz (36 Kreise and kreisfreie Städte) and their Gemeinden.

The data ships inside the package (``ingest/data/``, derived by ``ops/build_districts.py`` from
BKG VG5000 2021; © GeoBasis-DE / BKG 2021 (Daten verändert), dl-de/by-2-0), so the product
resolves area codes and locates reports without any network access.

German area codes, all prefixes of one another:

* AGS-8 (Amtlicher Gemeindeschlüssel): 2 Land + 1 Regierungsbezirk + 2 Kreis + 3 Gemeinde,
* ARS-12 (Amtlicher Regionalschlüssel): 2 Land + 1 RB + 2 Kreis + 4 Verband + 3 Gemeinde,
* the Kreis key is the first 5 digits of either; "07" is Rheinland-Pfalz.

DWD warn-cell ids (9 digits: ``1`` or ``8`` followed by an AGS-8) are read as the AGS-8.

:meth:`Districts.at` is the engine's hot path (one call per report). A grid of ~1 km cells over
the state answers most points from a list lookup: a cell lying wholly inside one district (or
wholly outside the state) needs no polygon test; only cells crossed by a border test the few
districts that reach into them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache, cached_property, lru_cache
from importlib import resources
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry.base import BaseGeometry
from shapely.strtree import STRtree

KREISE_RESOURCE: Final = "rlp_kreise.geojson"
GEMEINDEN_RESOURCE: Final = "rlp_gemeinden.geojson"
# Grid cell edge in degrees: ≈ 1.1 km north-south, 0.7 km east-west at 50° N.
CELL: Final = 0.01
_OUTSIDE: Final = -1
_MIXED: Final = -2


@dataclass(frozen=True, slots=True)
class District:
    ags: str  # 5-digit AGS, e.g. "07111" (Koblenz)
    name: str
    kind: str  # "Kreisfreie Stadt" / "Landkreis"
    geometry: BaseGeometry  # simplified (Multi)Polygon, WGS84
    centroid: tuple[float, float]  # (lon, lat), a representative point inside the district


@dataclass(frozen=True, slots=True)
class Municipality:
    ags: str  # AGS-8
    ars: str  # ARS-12
    name: str
    kind: str  # "Stadt" / "Gemeinde"
    geometry: BaseGeometry
    point: tuple[float, float]  # (lon, lat), a representative point inside


def _digits(code: str) -> str | None:
    code = code.strip()
    if not code.isascii() or not code.isdigit():
        return None
    if len(code) == 9 and code[0] in "18":  # DWD warn cell: kind digit + AGS-8
        return code[1:]
    return code


def _features(resource: str) -> tuple[dict[str, Any], list[dict[str, Any]], list[BaseGeometry]]:
    text = resources.files("ingest.data").joinpath(resource).read_text(encoding="utf-8")
    doc = json.loads(text)
    features: list[dict[str, Any]] = doc["features"]
    # GEOS reads the whole collection in one C call, features in order; much faster than
    # shapely.geometry.shape per feature.
    geoms = list(shapely.get_parts(shapely.from_geojson(text)))
    if len(geoms) != len(features):
        raise RuntimeError(f"bundled {resource} is damaged: {len(geoms)} of {len(features)} read")
    meta = {k: v for k, v in doc.items() if k != "features"}
    return meta, [f["properties"] for f in features], geoms


class _Grid:
    """Point location by a regular grid; see the module docstring."""

    __slots__ = ("candidates", "cells", "kx", "ky", "nx", "ny", "x0", "x1", "y0", "y1")

    def __init__(self, geoms: list[BaseGeometry]) -> None:
        minx = min(g.bounds[0] for g in geoms)
        miny = min(g.bounds[1] for g in geoms)
        maxx = max(g.bounds[2] for g in geoms)
        maxy = max(g.bounds[3] for g in geoms)
        self.nx = math.ceil((maxx - minx) / CELL) + 1
        self.ny = math.ceil((maxy - miny) / CELL) + 1
        self.x0, self.y0 = minx, miny
        self.x1, self.y1 = minx + self.nx * CELL, miny + self.ny * CELL
        self.kx = self.ky = 1.0 / CELL
        mixed = self._border_cells(geoms)
        cells = np.full(self.nx * self.ny, _OUTSIDE, dtype=np.int64)
        cells[mixed] = _MIXED
        for geom in geoms:
            shapely.prepare(geom)
        # A cell no border crosses lies wholly in one district or wholly outside: its centre says.
        plain = np.flatnonzero(~mixed)
        cx, cy = self._corner(plain)
        cx, cy = cx + CELL / 2, cy + CELL / 2
        for index, geom in enumerate(geoms):
            minx, miny, maxx, maxy = geom.bounds
            near = np.flatnonzero((cx > minx) & (cx < maxx) & (cy > miny) & (cy < maxy))
            inside = near[shapely.contains_xy(geom, cx[near], cy[near])]
            cells[plain[inside]] = index
        self.cells: list[int] = cells.tolist()
        border = np.flatnonzero(mixed)
        bx, by = self._corner(border)
        pad = CELL / 1000  # rounding of the corners must not hide a district that reaches in
        boxes = shapely.box(bx - pad, by - pad, bx + CELL + pad, by + CELL + pad)
        hit_box, hit_geom = STRtree(geoms).query(boxes, "intersects")
        self.candidates: dict[int, tuple[int, ...]] = {}
        # Sorted, so a point on a shared border goes to the district with the lower AGS.
        for box, geom in sorted(zip(border[hit_box].tolist(), hit_geom.tolist(), strict=True)):
            self.candidates[box] = (*self.candidates.get(box, ()), geom)
        for cell in border.tolist():
            if cell not in self.candidates:  # marked conservatively, but no district reaches in
                self.cells[cell] = _OUTSIDE

    def _corner(self, cells: npt.NDArray[np.intp]) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
        return self.x0 + (cells % self.nx) * CELL, self.y0 + (cells // self.nx) * CELL

    def _border_cells(self, geoms: list[BaseGeometry]) -> npt.NDArray[np.bool_]:
        """Cells a district border may cross: every cell in the bounding box of a border segment
        (conservative; segments are ~1-2 cells long, so little is marked needlessly)."""
        mixed = np.zeros((self.ny, self.nx), dtype=np.bool_)
        lines = shapely.get_parts(shapely.boundary(geoms))
        coords, ring = shapely.get_coordinates(lines, return_index=True)
        same = ring[1:] == ring[:-1]  # consecutive vertices of one boundary form a segment
        start, end = coords[:-1][same], coords[1:][same]
        # The same float arithmetic as cell(), so a point on a border maps to a marked cell.
        scale = (self.kx, self.ky)
        lo = np.floor((np.minimum(start, end) - (self.x0, self.y0)) * scale).astype(np.intp)
        hi = np.floor((np.maximum(start, end) - (self.x0, self.y0)) * scale).astype(np.intp)
        for (x0, y0), (x1, y1) in zip(lo.tolist(), hi.tolist(), strict=True):
            mixed[y0 : y1 + 1, x0 : x1 + 1] = True
        return mixed.ravel()

    def cell(self, lon: float, lat: float) -> int:
        """The cell index, or -1 outside the grid (also for NaN)."""
        if not (self.x0 <= lon < self.x1 and self.y0 <= lat < self.y1):
            return -1
        return int((lat - self.y0) * self.ky) * self.nx + int((lon - self.x0) * self.kx)


class Districts:
    """The districts of one state with point location and area-code resolution."""

    def __init__(
        self,
        districts: Iterable[District],
        municipalities: Iterable[Municipality] | Callable[[], Iterable[Municipality]] = (),
        *,
        attribution: str = "",
    ) -> None:
        self._all = tuple(sorted(districts, key=lambda d: d.ags))
        self._by_ags: Mapping[str, District] = {d.ags: d for d in self._all}
        self._geoms = [d.geometry for d in self._all]
        self._tree = STRtree(self._geoms)
        # The Gemeinden may come as a loader: most users only ever locate points.
        if callable(municipalities):
            self._load_municipalities = municipalities
        else:
            given = tuple(municipalities)
            self._load_municipalities = lambda: given
        self.attribution = attribution
        self._union = lru_cache(maxsize=1024)(self._union_uncached)

    # -- lookup ----------------------------------------------------------------------------------

    def all(self) -> tuple[District, ...]:
        return self._all

    def prepare(self) -> None:
        """Build the lookup indexes now; otherwise the first point or code lookup does (tens
        of milliseconds: a server prepares them before reports arrive)."""
        _ = (self._grid, self._verbaende)  # cached properties: built on first read, then kept

    def get(self, ags: str) -> District | None:
        return self._by_ags.get(ags)

    def municipality(self, code: str) -> tuple[str, str] | None:
        """``(ags8, name)`` of the Gemeinde an AGS-8, ARS-12 or warn-cell id names, or None."""
        found = self._municipality(code)
        return (found.ags, found.name) if found else None

    def municipalities(self) -> tuple[Municipality, ...]:
        return tuple(sorted(self._municipalities.values(), key=lambda m: m.ags))

    @cached_property
    def _municipalities(self) -> Mapping[str, Municipality]:
        return {m.ags: m for m in self._load_municipalities()}

    @cached_property
    def _verbaende(self) -> frozenset[str]:
        """ARS-9 prefixes of the Verbandsgemeinden (a verbandsfreie Gemeinde's is its own)."""
        return frozenset(m.ars[:9] for m in self._municipalities.values() if m.ars[5:9] != "0000")

    def _municipality(self, code: str) -> Municipality | None:
        digits = _digits(code)
        if digits is None:
            return None
        if len(digits) == 12:
            digits = digits[:5] + digits[9:]
        return self._municipalities.get(digits) if len(digits) == 8 else None

    # -- point location --------------------------------------------------------------------------

    @cached_property
    def _grid(self) -> _Grid:
        return _Grid(self._geoms)

    def at(self, lon: float, lat: float) -> str | None:
        """AGS of the district containing the point, None outside. A point on a shared border
        belongs to the district with the lower AGS."""
        grid = self._grid
        cell = grid.cell(lon, lat)
        if cell < 0:
            return None
        found = grid.cells[cell]
        if found >= 0:
            return self._all[found].ags
        if found == _OUTSIDE:
            return None
        for index in grid.candidates[cell]:
            if shapely.intersects_xy(self._geoms[index], lon, lat):
                return self._all[index].ags
        return None

    def intersecting(self, geometry: BaseGeometry, *, min_share: float = 0.001) -> tuple[str, ...]:
        """AGS of the districts the geometry intersects, sorted.

        For an area, merely touching a district's border does not count, nor does an overlap
        smaller than ``min_share`` of the smaller of the two areas: a warning polygon drawn from
        a finer map than ours would otherwise spill into every neighbouring district.
        """
        if geometry.is_empty:
            return ()
        hits = self._tree.query(geometry, predicate="intersects")
        if not len(hits):
            return ()
        area = geometry.area
        found: list[str] = []
        for index in sorted(int(i) for i in hits):
            district = self._geoms[index]
            if area > 0.0:
                if shapely.touches(geometry, district):
                    continue
                overlap = shapely.intersection(geometry, district).area
                if overlap <= min_share * min(area, district.area):
                    continue
            found.append(self._all[index].ags)
        return tuple(found)

    # -- area codes ------------------------------------------------------------------------------

    def _coarse_key(self, digits: str) -> tuple[str, str] | None:
        """("prefix", p) for the state or a Regierungsbezirk (every district whose AGS starts
        with p), ("kreis", ags5) for anything inside a known Kreis, else None."""
        if len(digits) < 2 or not self._all or digits[:2] != self._all[0].ags[:2]:
            return None
        if digits[2:].strip("0") == "":
            return ("prefix", digits[:2])
        if len(digits) < 5 or digits[3:5] == "00":  # Regierungsbezirk, e.g. "071", "07100000"
            prefix = digits if len(digits) < 5 else digits[:3]
            known = any(d.ags.startswith(prefix) for d in self._all)
            return ("prefix", prefix) if known else None
        return ("kreis", digits[:5]) if digits[:5] in self._by_ags else None

    def _area_key(self, code: str) -> tuple[str, str] | None:
        """What a code names: the coarse key, refined to ("verband", ars9) or ("gemeinde",
        ags8) where the code names a known Verbandsgemeinde or Gemeinde."""
        digits = _digits(code)
        key = None if digits is None else self._coarse_key(digits)
        if digits is None or key is None or key[0] != "kreis":
            return key
        if len(digits) == 12 and digits[9:] == "000" and digits[5:9] != "0000":
            return ("verband", digits[:9]) if digits[:9] in self._verbaende else key
        if len(digits) in (8, 12) and digits[-3:] != "000":
            municipality = self._municipality(digits)
            if municipality is not None:
                return ("gemeinde", municipality.ags)
        return key

    def for_codes(self, codes: Iterable[str]) -> tuple[str, ...]:
        """The Kreis AGS (5 digits) of every RLP area the codes name; unknown codes are ignored."""
        found: set[str] = set()
        for code in codes:
            digits = _digits(code)
            key = None if digits is None else self._coarse_key(digits)
            if key is None:
                continue
            if key[0] == "prefix":
                found.update(d.ags for d in self._all if d.ags.startswith(key[1]))
            else:
                found.add(key[1])
        return tuple(sorted(found))

    def geometry_for_codes(self, codes: Iterable[str]) -> BaseGeometry | None:
        """The union of the areas the codes name, or None if none is known.

        A known Gemeinde (AGS-8, ARS-12) gives its own polygon, an ARS-12 of a Verbandsgemeinde
        the union of its Gemeinden, a Kreis code (or an unknown Gemeinde of a known Kreis) the
        Kreis, "07" the state.
        """
        keys = {key for code in codes if (key := self._area_key(code)) is not None}
        return self._union(tuple(sorted(keys))) if keys else None

    def _union_uncached(self, keys: tuple[tuple[str, str], ...]) -> BaseGeometry:
        parts: list[BaseGeometry] = []
        for kind, key in keys:
            if kind == "prefix":
                parts.extend(d.geometry for d in self._all if d.ags.startswith(key))
            elif kind == "kreis":
                parts.append(self._by_ags[key].geometry)
            elif kind == "gemeinde":
                parts.append(self._municipalities[key].geometry)
            else:
                parts.extend(m.geometry for m in self._municipalities.values()
                             if m.ars.startswith(key))  # fmt: skip
        if len(parts) == 1:
            return parts[0]
        union = shapely.union_all(parts)
        shapely.prepare(union)
        return union


def _load() -> Districts:
    meta, props, geoms = _features(KREISE_RESOURCE)
    districts = [
        District(p["ags"], p["name"], p["kind"], g, (p["point"][0], p["point"][1]))
        for p, g in zip(props, geoms, strict=True)
    ]
    attribution = f"{meta['attribution']}, {meta['license']}"
    return Districts(districts, _load_municipalities, attribution=attribution)


def _load_municipalities() -> list[Municipality]:
    _, props, geoms = _features(GEMEINDEN_RESOURCE)
    return [
        Municipality(p["ags"], p["ars"], p["name"], p["kind"], g, (p["point"][0], p["point"][1]))
        for p, g in zip(props, geoms, strict=True)
    ]


@cache
def rlp_districts() -> Districts:
    """The bundled Rheinland-Pfalz districts, loaded once."""
    return _load()
