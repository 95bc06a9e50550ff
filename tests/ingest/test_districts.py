"""The bundled RLP districts against the original BKG VG5000 data in shared/data/geo."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, box, shape
from shapely.geometry.base import BaseGeometry

from ingest.districts import District, Districts, rlp_districts


def _features(path: Path) -> list[dict[str, Any]]:
    features: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["features"]
    return features


@pytest.fixture(scope="module")
def districts() -> Districts:
    return rlp_districts()


@pytest.fixture(scope="module")
def original_kreise(shared_data: Path) -> dict[str, BaseGeometry]:
    features = _features(shared_data / "geo" / "rlp_kreise_vg5000_2021.geojson")
    return {f["properties"]["AGS"]: shape(f["geometry"]) for f in features}


@pytest.fixture(scope="module")
def original_gemeinden(shared_data: Path) -> list[dict[str, Any]]:
    return _features(shared_data / "geo" / "rlp_gemeinden_vg5000_2021.geojson")


@pytest.fixture(scope="module")
def land(shared_data: Path) -> BaseGeometry:
    return shape(_features(shared_data / "geo" / "rlp_land_vg5000_2021.geojson")[0]["geometry"])


def test_the_36_districts_match_the_source(
    districts: Districts, original_kreise: dict[str, BaseGeometry], shared_data: Path
) -> None:
    source = _features(shared_data / "geo" / "rlp_kreise_vg5000_2021.geojson")
    expected = sorted((f["properties"]["AGS"], f["properties"]["GEN"], f["properties"]["BEZ"])
                      for f in source)  # fmt: skip
    assert [(d.ags, d.name, d.kind) for d in districts.all()] == expected
    assert len(districts.all()) == 36
    assert sum(d.kind == "Kreisfreie Stadt" for d in districts.all()) == 12
    for district in districts.all():
        original = original_kreise[district.ags]
        difference = district.geometry.symmetric_difference(original).area
        assert difference < 0.02 * original.area, district.name
        assert districts.get(district.ags) is district
    assert districts.get("07999") is None


def test_every_centroid_maps_back_to_its_district(districts: Districts) -> None:
    for district in districts.all():
        assert district.geometry.contains(Point(district.centroid))
        assert districts.at(*district.centroid) == district.ags


@pytest.mark.parametrize(
    ("lon", "lat", "ags", "name"),
    [
        (8.2473, 49.9929, "07315", "Mainz"),
        (7.5886, 50.3569, "07111", "Koblenz"),
        (6.6371, 49.7596, "07211", "Trier"),
        (7.7689, 49.4447, "07312", "Kaiserslautern"),
        (8.4353, 49.4774, "07314", "Ludwigshafen am Rhein"),
        (7.1172, 50.5252, "07131", "Ahrweiler"),  # Bad Neuenahr-Ahrweiler
    ],
)
def test_known_places(districts: Districts, lon: float, lat: float, ags: str, name: str) -> None:
    assert districts.at(lon, lat) == ags
    found = districts.get(ags)
    assert found is not None
    assert found.name == name


@pytest.mark.parametrize(
    ("lon", "lat"),
    [
        (8.6821, 50.1109),  # Frankfurt am Main (Hessen)
        (8.4037, 49.0069),  # Karlsruhe (Baden-Württemberg)
        (6.9603, 50.9375),  # Köln (Nordrhein-Westfalen)
        (0.0, 0.0),
        (float("nan"), 50.0),
        (7.5, float("inf")),
    ],
)
def test_points_outside_rlp(districts: Districts, lon: float, lat: float) -> None:
    assert districts.at(lon, lat) is None


def test_at_agrees_with_polygon_tests(districts: Districts) -> None:
    rng = random.Random(7)
    minx, miny, maxx, maxy = shapely.union_all([d.geometry for d in districts.all()]).bounds
    points = [(rng.uniform(minx - 0.1, maxx + 0.1), rng.uniform(miny - 0.1, maxy + 0.1))
              for _ in range(3000)]  # fmt: skip
    # Vertices lie on borders: the hardest points, and the tie rule (lower AGS) applies.
    points += [tuple(c) for c in shapely.get_coordinates(districts.get("07137").geometry)]  # type: ignore[union-attr]
    for lon, lat in points:
        containing = [d.ags for d in districts.all() if shapely.intersects_xy(d.geometry, lon, lat)]
        assert districts.at(lon, lat) == (containing[0] if containing else None), (lon, lat)


@settings(max_examples=300, deadline=None)
@given(st.floats(5.5, 9.0), st.floats(48.5, 51.5))
def test_at_property(lon: float, lat: float) -> None:
    districts = rlp_districts()
    found = districts.at(lon, lat)
    containing = [d.ags for d in districts.all() if shapely.intersects_xy(d.geometry, lon, lat)]
    assert found == (containing[0] if containing else None)


def test_at_is_fast(districts: Districts) -> None:
    rng = random.Random(3)
    points = [(rng.uniform(6.1, 8.5), rng.uniform(48.96, 50.95)) for _ in range(50_000)]
    districts.at(7.0, 50.0)  # builds the grid
    started = time.perf_counter()
    for lon, lat in points:
        districts.at(lon, lat)
    per_call = (time.perf_counter() - started) / len(points)
    # Target is < 5 µs; the bound leaves room for a loaded CI machine.
    assert per_call < 20e-6, f"{per_call * 1e6:.1f} µs per call"


def test_simplified_districts_cover_the_state_without_overlaps(
    districts: Districts, land: BaseGeometry
) -> None:
    union = shapely.union_all([d.geometry for d in districts.all()])
    assert union.intersection(land).area >= 0.99 * land.area
    assert union.area <= 1.01 * land.area
    geoms = [d.geometry for d in districts.all()]
    overlap = sum(a.intersection(b).area for i, a in enumerate(geoms) for b in geoms[i + 1 :])
    assert overlap < 1e-6 * land.area


def test_bundled_data_is_small_and_attributed() -> None:
    data = Path(__file__).resolve().parents[2] / "ingest" / "data"
    sizes = {p.name: p.stat().st_size for p in data.glob("*.geojson")}
    assert set(sizes) == {"rlp_kreise.geojson", "rlp_gemeinden.geojson"}
    assert sizes["rlp_kreise.geojson"] < 1_000_000
    assert sum(sizes.values()) < 3_000_000
    for name in sizes:
        doc = json.loads((data / name).read_text(encoding="utf-8"))
        assert doc["attribution"] == "© GeoBasis-DE / BKG 2021 (Daten verändert)"
        assert "dl-de/by-2-0" in doc["license"]
    assert "GeoBasis-DE / BKG" in rlp_districts().attribution


def test_for_codes(districts: Districts) -> None:
    assert districts.for_codes(["071310000000"]) == ("07131",)  # NINA, Kreis Ahrweiler
    assert districts.for_codes(["07131007"]) == ("07131",)  # AGS-8 Bad Neuenahr-Ahrweiler
    assert districts.for_codes(["071310007007"]) == ("07131",)  # its ARS-12
    assert districts.for_codes(["07315", "07111", "07315"]) == ("07111", "07315")
    assert districts.for_codes(["807131007", "107111000"]) == ("07111", "07131")  # DWD cells
    every = tuple(d.ags for d in districts.all())
    assert districts.for_codes(["07"]) == every
    assert districts.for_codes(["070000000000"]) == every
    assert districts.for_codes(["071"]) == tuple(a for a in every if a.startswith("071"))
    unknown = ["06412", "064120000000", "07999", "", "x7131", "7", "07 131", "0"]
    assert districts.for_codes(unknown) == ()
    assert districts.for_codes(["06412000", "07211"]) == ("07211",)


def test_municipality_codes_of_the_source(
    districts: Districts, original_gemeinden: list[dict[str, Any]]
) -> None:
    for feature in original_gemeinden[::37]:
        props = feature["properties"]
        expected = (props["AGS"], props["GEN"])
        assert districts.municipality(props["AGS"]) == expected
        assert districts.municipality(props["ARS"]) == expected
        assert districts.municipality("8" + props["AGS"]) == expected
        assert districts.for_codes([props["ARS"]]) == (props["AGS"][:5],)
    assert districts.municipality("07131999") is None
    assert districts.municipality("07131") is None
    assert len(districts.municipalities()) == len(original_gemeinden) == 2301


def test_gemeinde_geometry_lies_in_its_kreis(
    districts: Districts, original_gemeinden: list[dict[str, Any]]
) -> None:
    for feature in original_gemeinden[::23]:
        props = feature["properties"]
        original = shape(feature["geometry"])
        for code in (props["AGS"], props["ARS"]):
            area = districts.geometry_for_codes([code])
            assert area is not None
            kreis = districts.get(props["AGS"][:5])
            assert kreis is not None
            if props["AGS"].endswith("000"):  # the Gemeinde of a kreisfreie Stadt is the Kreis
                assert area.equals(kreis.geometry)
                continue
            assert area.difference(kreis.geometry).area < 1e-9
            assert area.symmetric_difference(original).area < 0.05 * original.area + 2e-5
            assert area.area < kreis.geometry.area


def test_geometry_for_codes(districts: Districts, land: BaseGeometry) -> None:
    ahrweiler = districts.get("07131")
    mainz = districts.get("07315")
    assert ahrweiler is not None
    assert mainz is not None
    for code in ("07131", "071310000000", "07131000", "107131000", "07131998"):
        geometry = districts.geometry_for_codes([code])
        assert geometry is not None
        assert geometry.equals(ahrweiler.geometry), code
    state = districts.geometry_for_codes(["07"])
    assert state is not None
    assert state.symmetric_difference(land).area < 0.01 * land.area
    both = districts.geometry_for_codes(["07315", "07131007"])
    assert both is not None
    assert both.geom_type == "MultiPolygon"
    assert districts.intersecting(both) == ("07131", "07315")
    # Verbandsgemeinde Adenau (ARS 071315001000) is the union of its Gemeinden.
    adenau = districts.geometry_for_codes(["071315001000"])
    members = [m for m in districts.municipalities() if m.ars.startswith("071315001")]
    assert len(members) > 10
    assert adenau is not None
    assert adenau.symmetric_difference(shapely.union_all([m.geometry for m in members])).area < 1e-9
    assert districts.geometry_for_codes(["06412", "x", "07999"]) is None
    assert districts.geometry_for_codes([]) is None
    # Cached: the same areas in another order give the same object.
    assert districts.geometry_for_codes(["07131007", "07315"]) is both


def test_intersecting(districts: Districts) -> None:
    koblenz = districts.get("07111")
    assert koblenz is not None
    # A box around Koblenz reaches into the surrounding Mayen-Koblenz.
    around = box(7.55, 50.33, 7.65, 50.38)
    assert districts.intersecting(around) == ("07111", "07137")
    # Koblenz itself only touches its neighbours: touching is not intersecting.
    assert districts.intersecting(koblenz.geometry) == ("07111",)
    # Drawn from another map, the city spills over by ~1 m: the sliver is ignored, a real
    # overlap is not.
    assert districts.intersecting(koblenz.geometry.buffer(0.00001)) == ("07111",)
    assert "07137" in districts.intersecting(koblenz.geometry.buffer(0.02))
    assert districts.intersecting(Point(8.2473, 49.9929)) == ("07315",)
    assert districts.intersecting(Point(8.6821, 50.1109)) == ()
    assert districts.intersecting(box(10.0, 52.0, 11.0, 53.0)) == ()
    assert districts.intersecting(Point()) == ()
    # A line across the Rhine from Mainz to Wiesbaden (Hessen): only Mainz.
    assert districts.intersecting(shapely.LineString([(8.27, 50.0), (8.24, 50.08)])) == ("07315",)


def test_custom_districts_without_municipalities() -> None:
    one = District("07999", "Test", "Landkreis", box(7.0, 50.0, 7.1, 50.1), (7.05, 50.05))
    districts = Districts([one])
    assert districts.at(7.05, 50.05) == "07999"
    assert districts.at(7.2, 50.05) is None
    assert districts.for_codes(["079990000000"]) == ("07999",)
    assert districts.municipality("07999001") is None
    area = districts.geometry_for_codes(["07999001"])  # unknown Gemeinde: its Kreis
    assert area is not None
    assert area.equals(one.geometry)


def test_bundled_data_is_what_the_build_script_derives(shared_data: Path, tmp_path: Path) -> None:
    from ops.build_districts import OUTPUT, build

    build(shared_data / "geo", tmp_path)
    for name in ("rlp_kreise.geojson", "rlp_gemeinden.geojson"):
        assert (tmp_path / name).read_bytes() == (OUTPUT / name).read_bytes(), name


def test_prepare_builds_the_lookup_indexes_before_the_first_lookup() -> None:
    from ingest.districts import _load

    fresh = _load()  # not the shared instance, whose indexes other tests have built
    assert not {"_grid", "_verbaende"} & set(vars(fresh))
    fresh.prepare()
    assert {"_grid", "_verbaende", "_municipalities"} <= set(vars(fresh))
    assert fresh.at(7.5886, 50.3569) == "07111"  # Koblenz, through the prepared grid
