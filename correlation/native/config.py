"""The native engine's configuration: the same Rules and Districts the Python engine reads,
flattened into plain data (families and groups by index) that the Rust side reads once."""

from __future__ import annotations

from typing import Any

from correlation.rules import Rules
from correlation.spatial import M_PER_DEG, X_SCALE
from ingest.districts import Districts
from ingest.report import FAMILIES, SEVERITIES

Ring = list[tuple[float, float]]


def _polygons(geometry: Any) -> list[list[Ring]]:
    parts = [geometry] if geometry.geom_type == "Polygon" else list(geometry.geoms)
    out = []
    for part in parts:
        rings = [list(part.exterior.coords)] + [list(ring.coords) for ring in part.interiors]
        out.append([[(float(x), float(y)) for x, y, *_ in ring] for ring in rings])
    return out


# Flattening the districts' polygons costs milliseconds; an engine is made per test example
# and per restore, so the result is kept per (rules, districts) pair (both are not changed).
_built: dict[tuple[int, int], tuple[Rules, Districts, dict[str, Any]]] = {}


def config(rules: Rules, districts: Districts, status: str) -> dict[str, Any]:
    """What ``correlation.native._core.Core`` is built from."""
    found = _built.get((id(rules), id(districts)))
    if found is None or found[0] is not rules or found[1] is not districts:
        if len(_built) >= 8:
            _built.clear()
        found = _built[id(rules), id(districts)] = (rules, districts, _config(rules, districts))
    return {**found[2], "status": status}


def _config(rules: Rules, districts: Districts) -> dict[str, Any]:
    districts.prepare()
    grid = districts._grid  # the locator's own grid, so points land in the same district
    fam_index = {f: i for i, f in enumerate(FAMILIES)}
    group_names = [g.name for g in rules.groups]
    gidx = {n: i for i, n in enumerate(group_names)}
    pairs = [
        (fam_index[a], fam_index[b], p.radius_m, p.window_us) for (a, b), p in rules.pairs.items()
    ]
    return {
        "families": list(FAMILIES),
        "severities": list(SEVERITIES),
        "group_names": group_names,
        "group_of": [gidx[rules.group_of[f].name] if f in rules.group_of else -1 for f in FAMILIES],
        "quiet_us": [rules.quiet_us.get(f, 0) for f in FAMILIES],
        "cell_m": [rules.cell_m[n] for n in group_names],
        "scans": [[(gidx[n], r) for n, r in rules.scans.get(f, ())] for f in FAMILIES],
        "pairs": pairs,
        "m_per_deg": M_PER_DEG,
        "x_scale": X_SCALE,
        "allowed_lateness_us": rules.allowed_lateness_us,
        "close_after_us": rules.close_after_us,
        "warning_duration_us": rules.warning_duration_us,
        "move_out_factor": rules.move_out_factor,
        "warning_families": sorted(fam_index[f] for f in rules.warning_families),
        "warning_sources": sorted(rules.warning_sources),
        "warning_formats": sorted(rules.warning_formats),
        "capacity_families": sorted(fam_index[f] for f in rules.capacity_families),
        "escalation": [
            (r.level, [(c.metric, c.op, c.value) for c in r.conditions], r.text)
            for r in rules.escalation
        ],
        "districts": [(d.ags, d.name) for d in districts.all()],
        "polygons": [_polygons(d.geometry) for d in districts.all()],
        "grid": {
            "x0": grid.x0,
            "y0": grid.y0,
            "x1": grid.x1,
            "y1": grid.y1,
            "nx": grid.nx,
            "ny": grid.ny,
            "kx": grid.kx,
            "ky": grid.ky,
            "cells": grid.cells,
            "candidates": {k: list(v) for k, v in grid.candidates.items()},
        },
    }
