"""Derive the bundled RLP geography (``ingest/data/``) from the BKG VG5000 files in shared/data.

Run ``python -m ops.build_districts [GEO_DIR]`` after the source data changes; the output is
committed, so the product never needs the source files at run time. The result is a pure
function of the input: same files in, same bytes out.

Why this shape:

* VG5000 is already generalised for 1:5,000,000 (median vertex spacing ≈ 1.6 km), so the
  simplification removes little; its real job is to be *coverage-preserving*. Simplifying every
  polygon on its own (``simplify(preserve_topology=True)``) moves each copy of a shared border
  differently and leaves slivers and overlaps between neighbours; ``shapely.coverage_simplify``
  simplifies every shared edge once, so neighbours still meet exactly.
* The Gemeinden are simplified as one coverage and every Kreis is the exact union of its
  simplified Gemeinden, so a Gemeinde lies inside its Kreis and the two layers draw the same
  borders on the map. (In the source, every Kreis is exactly the union of its Gemeinden.)
* Coordinates are rounded to 1e-5° (≈ 1 m), far below the accuracy of VG5000.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
import shapely
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry

REPO: Final = Path(__file__).resolve().parents[1]
DEFAULT_GEO: Final = REPO.parent / "shared" / "data" / "geo"
OUTPUT: Final = REPO / "ingest" / "data"

GEMEINDEN_FILE: Final = "rlp_gemeinden_vg5000_2021.geojson"
KREISE_FILE: Final = "rlp_kreise_vg5000_2021.geojson"
TOLERANCE: Final = 0.002  # degrees; see the module docstring
DIGITS: Final = 5
ATTRIBUTION: Final = "© GeoBasis-DE / BKG 2021 (Daten verändert)"
LICENSE: Final = "dl-de/by-2-0 (Datenlizenz Deutschland – Namensnennung – Version 2.0)"
SOURCE: Final = (
    "BKG VG5000 Stand 01.01.2021 (Ebenen KRS, GEM), reprojected EPSG:31467 -> EPSG:4326, "
    f"filtered to Rheinland-Pfalz, coverage-simplified ({TOLERANCE} deg), rounded to 1e-{DIGITS}"
)


def _rounded(coords: Any) -> Any:
    if isinstance(coords, float | int):
        return round(float(coords), DIGITS)
    return [_rounded(c) for c in coords]


def _geojson(geom: BaseGeometry) -> dict[str, Any]:
    data = mapping(geom)
    return {"type": data["type"], "coordinates": _rounded(data["coordinates"])}


def _point(geom: BaseGeometry) -> list[float]:
    point = geom.representative_point()
    return [round(point.x, DIGITS), round(point.y, DIGITS)]


def _collection(features: list[dict[str, Any]], name: str) -> str:
    doc = {
        "type": "FeatureCollection",
        "name": name,
        "attribution": ATTRIBUTION,
        "license": LICENSE,
        "source": SOURCE,
        "features": features,
    }
    # One feature per line: small diffs when the data changes, still compact.
    head = json.dumps({k: v for k, v in doc.items() if k != "features"}, ensure_ascii=False)
    lines = [json.dumps(f, ensure_ascii=False, separators=(",", ":")) for f in features]
    return head[:-1] + ', "features": [\n' + ",\n".join(lines) + "\n]}\n"


def _simplified(geoms: Sequence[BaseGeometry]) -> list[BaseGeometry]:
    simple = shapely.coverage_simplify(np.array(geoms, dtype=object), TOLERANCE)
    simple = shapely.set_precision(simple, 10.0**-DIGITS)
    result: list[BaseGeometry] = list(simple)
    bad = [i for i, g in enumerate(result) if not g.is_valid or g.is_empty]
    if bad:
        raise SystemExit(f"simplification broke {len(bad)} polygons, e.g. index {bad[0]}")
    return result


def build(geo_dir: Path, output: Path) -> dict[str, int]:
    gem_doc = json.loads((geo_dir / GEMEINDEN_FILE).read_text(encoding="utf-8"))
    krs_doc = json.loads((geo_dir / KREISE_FILE).read_text(encoding="utf-8"))
    gem_props = [f["properties"] for f in gem_doc["features"]]
    gem_geoms = _simplified([shape(f["geometry"]) for f in gem_doc["features"]])

    gemeinden: list[dict[str, Any]] = []
    by_kreis: dict[str, list[BaseGeometry]] = defaultdict(list)
    for props, geom in sorted(zip(gem_props, gem_geoms, strict=True), key=lambda p: p[0]["AGS"]):
        ags, ars = props["AGS"], props["ARS"]
        if len(ags) != 8 or len(ars) != 12 or ars[:5] + ars[9:] != ags:
            raise SystemExit(f"unexpected AGS/ARS pair {ags}/{ars}")
        by_kreis[ags[:5]].append(geom)
        gemeinden.append({
            "type": "Feature",
            "properties": {"ags": ags, "ars": ars, "name": props["GEN"], "kind": props["BEZ"],
                           "point": _point(geom)},
            "geometry": _geojson(geom),
        })  # fmt: skip

    kreise: list[dict[str, Any]] = []
    for feature in sorted(krs_doc["features"], key=lambda f: f["properties"]["AGS"]):
        props = feature["properties"]
        parts = by_kreis.pop(props["AGS"])
        geom = shapely.coverage_union_all(np.array(parts, dtype=object))
        if not geom.is_valid or geom.geom_type not in {"Polygon", "MultiPolygon"}:
            raise SystemExit(f"union of the Gemeinden of {props['AGS']} is not a valid polygon")
        kreise.append({
            "type": "Feature",
            "properties": {"ags": props["AGS"], "name": props["GEN"], "kind": props["BEZ"],
                           "point": _point(geom)},
            "geometry": _geojson(geom),
        })  # fmt: skip
    if by_kreis:
        raise SystemExit(f"Gemeinden without a Kreis: {sorted(by_kreis)}")

    output.mkdir(parents=True, exist_ok=True)
    sizes: dict[str, int] = {}
    for name, features in (("rlp_kreise", kreise), ("rlp_gemeinden", gemeinden)):
        text = _collection(features, name)
        (output / f"{name}.geojson").write_text(text, encoding="utf-8")
        sizes[name] = len(text.encode())
    return sizes


def main(argv: Sequence[str] = ()) -> None:
    geo_dir = Path(argv[0]) if argv else DEFAULT_GEO
    sizes = build(geo_dir, OUTPUT)
    for name, size in sizes.items():
        print(f"{OUTPUT / name}.geojson: {size / 1024:.0f} KiB")


if __name__ == "__main__":
    main(sys.argv[1:])
