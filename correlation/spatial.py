"""Distances and the grid index that keeps clustering O(1) per report.

Distances are equirectangular at the pair's mean latitude: for the few hundred metres to few
kilometres the rules compare, the error against the great-circle distance is far below a
metre, and it costs one cosine.

The grid hashes positions into square-ish cells (``cell_m`` north-south). East-west the cell is
``cell_m / X_SCALE`` wide in "equator metres", i.e. at least ``cell_m`` real metres wherever
cos(latitude) >= X_SCALE (|lat| <= 60°), so a search with radius <= cell_m looks at the 3x3
neighbourhood only; further north it widens the search instead of missing anything. Cells hold
insertion-ordered id sets (dicts); callers pick the nearest by a total order, so iteration
order never shows in results. The antimeridian is not handled (Germany is far from it).
"""

from __future__ import annotations

import math
from typing import Final

M_PER_DEG: Final = 6_371_008.8 * math.pi / 180.0
X_SCALE: Final = 0.5  # cos(60°)
_RAD: Final = math.pi / 180.0
_FAST_LAT: Final = 60.0  # up to here cos(lat) >= X_SCALE: one cell each way is enough
# Rows of the grid are 2**32 keys apart; |cy| stays far below 2**31 for cells of 1 m or more.
_ROW: Final = 1 << 32
_NEIGHBOURS: Final = tuple(dx * _ROW + dy for dx in (-1, 0, 1) for dy in (-1, 0, 1))


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    k = math.cos((lat1 + lat2) * (0.5 * _RAD))
    return math.hypot((lon2 - lon1) * k, lat2 - lat1) * M_PER_DEG


class Grid:
    """A hash grid of ids at points; see the module docstring. A cell's key is one int,
    ``cx * 2**32 + cy``, so the 3x3 neighbourhood is nine additions of fixed offsets."""

    __slots__ = ("_cells", "_inv_x", "_inv_y", "cell_m")

    def __init__(self, cell_m: float) -> None:
        self.cell_m = cell_m
        self._inv_y = M_PER_DEG / cell_m
        self._inv_x = M_PER_DEG * X_SCALE / cell_m
        self._cells: dict[int, dict[str, None]] = {}

    def key(self, lon: float, lat: float) -> int:
        return math.floor(lon * self._inv_x) * _ROW + math.floor(lat * self._inv_y)

    def add(self, key: int, ident: str) -> None:
        cell = self._cells.get(key)
        if cell is None:
            self._cells[key] = {ident: None}
        else:
            cell[ident] = None

    def remove(self, key: int, ident: str) -> None:
        cell = self._cells.get(key)
        if cell is not None:
            cell.pop(ident, None)
            if not cell:
                del self._cells[key]

    def near(self, lon: float, lat: float, radius_m: float) -> list[str]:
        """Every id in cells that may hold a point within ``radius_m`` (a superset)."""
        cells = self._cells
        if not cells:
            return []
        found: list[str] = []
        if radius_m <= self.cell_m and abs(lat) + radius_m / M_PER_DEG <= _FAST_LAT:
            base = math.floor(lon * self._inv_x) * _ROW + math.floor(lat * self._inv_y)
            for offset in _NEIGHBOURS:  # the common case: the 3x3 neighbourhood
                cell = cells.get(base + offset)
                if cell:
                    found.extend(cell)
            return found
        cx = math.floor(lon * self._inv_x)
        cy = math.floor(lat * self._inv_y)
        ky = math.ceil(radius_m / self.cell_m)
        north = min(89.9, abs(lat) + radius_m / M_PER_DEG)
        kx = math.ceil(radius_m * X_SCALE / (self.cell_m * math.cos(north * _RAD)))
        for x in range(cx - kx, cx + kx + 1):
            for y in range(cy - ky, cy + ky + 1):
                cell = cells.get(x * _ROW + y)
                if cell:
                    found.extend(cell)
        return found

    def __len__(self) -> int:
        return sum(len(c) for c in self._cells.values())
