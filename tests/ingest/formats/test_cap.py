"""CAP parser against the real alerts in shared/data/cap (OASIS examples, DWD, international)."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import shapely
from shapely.geometry import Point as ShapelyPoint

from ingest.formats.cap import parse_cap
from ingest.formats.result import ParseResult
from ingest.geometry import to_shapely
from ingest.report import MultiPolygon, Point, Polygon, Report

DWD_A1 = "2.49.0.1.276.0.DWD.PVW.1548185160000.1e80fd68-1d6a-4a12-90a0-f534dd2ea7fb.DEU"
DWD_U1 = "2.49.0.1.276.0.DWD.PVW.1548216540000.7a0bd0e9-05c9-4376-a220-fad5580d6212.DEU"
DWD_U2 = "2.49.0.1.276.0.DWD.PVW.1548219660000.14f787fa-b31e-4990-ae14-57b0a7a5640e.DEU"
DWD_U3 = "2.49.0.1.276.0.DWD.PVW.1548227760000.37675b39-40cd-441f-a5ce-f1f3b7df81a1.DEU"
CET = timezone(timedelta(hours=1))
CEST = timezone(timedelta(hours=2))
PDT = timezone(timedelta(hours=-7))
IDENTIFIER = re.compile(r"<(?:cap:)?identifier>\s*([^<]+?)\s*</")


def parse(shared_data: Path, name: str) -> ParseResult:
    return parse_cap((shared_data / "cap" / name).read_bytes())


def only(result: ParseResult) -> Report:
    assert len(result.reports) == 1, (result.reports, result.rejected)
    return result.reports[0]


def positive_files() -> list[str]:
    root = Path(__file__).resolve().parents[4] / "shared" / "data" / "cap"
    return sorted(
        str(p.relative_to(root))
        for folder in ("oasis_spec", "dwd", "international", "signed")
        for p in (root / folder).iterdir()
    )


@pytest.mark.parametrize("name", positive_files())
def test_every_real_file_parses_and_accounts_for_each_alert(shared_data: Path, name: str) -> None:
    data = (shared_data / "cap" / name).read_bytes()
    result = parse_cap(data)
    identifiers = set(IDENTIFIER.findall(data.decode("latin-1")))
    reported = {r.message_id for r in result.reports}
    assert reported <= identifiers
    # every alert without a report is accounted for by a rejection naming field and reason
    assert len(identifiers - reported) <= len({r.index for r in result.rejected})
    for report in result.reports:
        assert report.feed_format == "cap"
        assert report.sequence >= 1
        located = report.geometry is not None or report.area_codes or report.geocodes
        assert located or report.msg_type == "cancel"
    for rejection in result.rejected:
        assert rejection.field.startswith("$.")
        assert rejection.reason


# -- OASIS specification examples ------------------------------------------------------------


def test_oasis_thunderstorm_polygon_is_swapped_to_lon_lat(shared_data: Path) -> None:
    report = only(parse(shared_data, "oasis_spec/example2_thunderstorm.xml"))
    assert report.source == "weather"
    assert report.source_id == "KSTO1055887203"
    assert (report.msg_type, report.status, report.severity) == ("alert", "actual", "severe")
    assert (report.urgency, report.certainty) == ("immediate", "observed")
    assert report.category == "weather.severe_thunderstorm"
    assert report.language == "en-US"  # CAP default when <language> is absent
    assert report.observed_at == datetime(2003, 6, 17, 14, 57, tzinfo=PDT)  # no onset: <sent>
    assert report.expires_at == datetime(2003, 6, 17, 16, 0, tzinfo=PDT)
    assert isinstance(report.geometry, Polygon)
    # <polygon>38.47,-120.14 38.34,-119.95 38.52,-119.74 38.62,-119.89 38.47,-120.14</polygon>
    assert report.geometry.coordinates[0] == [
        [-120.14, 38.47], [-119.95, 38.34], [-119.74, 38.52], [-119.89, 38.62], [-120.14, 38.47],
    ]  # fmt: skip
    assert report.area_codes == ()  # SAME county codes are not German
    assert report.agency == "NATIONAL WEATHER SERVICE SACRAMENTO CA"
    assert report.sequence == int(datetime(2003, 6, 17, 21, 57, tzinfo=UTC).timestamp())


def test_oasis_earthquake_update_joins_the_referenced_thread(shared_data: Path) -> None:
    report = only(parse(shared_data, "oasis_spec/example3_earthquake_update.xml"))
    assert report.msg_type == "update"
    assert report.source_id == "TRI13970876.1"
    assert report.message_id == "TRI13970876.2"
    assert report.references == ("TRI13970876.1",)
    assert report.category == "other.earthquake"
    assert report.source == "civil_protection"
    # <circle>32.9525,-115.5527 0</circle>: radius 0 is the epicentre itself
    assert report.geometry == Point(coordinates=[-115.5527, 32.9525])


def test_oasis_alert_without_any_area_is_rejected(shared_data: Path) -> None:
    result = parse(shared_data, "oasis_spec/example1_homeland_security.xml")
    assert result.reports == ()
    [rejection] = result.rejected
    assert (rejection.field, rejection.index) == ("$.info.area", 0)
    assert "no polygon, circle or geocode" in rejection.reason


@pytest.mark.parametrize(
    "name", ["oasis_spec/example4_amber_alert.xml", "oasis_spec/amber_alert_cap11_namespace.cap"]
)
def test_oasis_amber_alert_keeps_its_same_code_and_says_it_cannot_be_located(
    shared_data: Path, name: str
) -> None:
    report = only(parse(shared_data, name))
    assert report.source_id == "KAR0-0306112239-SW"
    assert report.geometry is None
    assert report.area_codes == ()
    # <geocode><valueName>SAME</valueName><value>006037</value></geocode>
    assert report.geocodes == ("SAME:006037",)
    warnings = parse(shared_data, name).warnings
    assert any("SAME" in w and "cannot be located" in w for w in warnings)


# -- DWD ---------------------------------------------------------------------------------------


def test_dwd_glaette_alert_fields(shared_data: Path) -> None:
    report = only(parse(shared_data, "dwd/dwd_2019_alert_1.xml"))
    assert report.source == "weather"
    assert report.source_id == DWD_A1
    assert report.category == "weather.glaette"
    assert report.event == "GLÄTTE"
    assert (report.msg_type, report.status, report.severity) == ("alert", "actual", "minor")
    assert report.language == "de-DE"
    assert report.observed_at == datetime(2019, 1, 23, 0, 0, tzinfo=CET)  # <onset>
    assert report.onset_at == report.observed_at
    assert report.expires_at == datetime(2019, 1, 23, 12, 0, tzinfo=CET)
    assert report.sequence == 1548185160  # <sent>2019-01-22T20:26:00+01:00
    assert report.agency == "DWD / Nationales Warnzentrum Offenbach"
    # WARNCELLID 807340057 (Gemeinde Wilgartswiesen) -> AGS 07340057
    assert "07340057" in report.area_codes
    assert all(len(code) == 8 for code in report.area_codes)
    rlp = [code for code in report.area_codes if code.startswith("07")]
    assert len(rlp) > 700  # "about 750 of the cells are in Rheinland-Pfalz"


def test_dwd_exclude_polygons_become_holes(shared_data: Path) -> None:
    report = only(parse(shared_data, "dwd/dwd_2019_alert_1.xml"))
    assert report.geometry is not None
    shape = to_shapely(report.geometry)
    # first vertex of <polygon>: 49.194591,7.202089 -> on the outline, so within a metre
    assert shape.distance(ShapelyPoint(7.202089, 49.194591)) < 1e-6
    # EXCLUDE_POLYGON "50.504387,7.712319 50.493696,7.720746 50.498029,7.727957 ..."
    excluded = shapely.Polygon([(7.712319, 50.504387), (7.720746, 50.493696),
                                (7.727957, 50.498029)])  # fmt: skip
    assert not shape.contains(excluded.centroid)
    assert isinstance(report.geometry, Polygon)
    assert len(report.geometry.coordinates) == 3


def test_dwd_glaette_updates_chain_onto_the_original_thread(shared_data: Path) -> None:
    names = ["", "_update_1", "_update_2", "_update_3"]
    reports = [only(parse(shared_data, f"dwd/dwd_2019_alert_1{n}.xml")) for n in names]
    assert [r.message_id for r in reports] == [DWD_A1, DWD_U1, DWD_U2, DWD_U3]
    assert [r.msg_type for r in reports] == ["alert", "update", "update", "update"]
    assert [r.references for r in reports] == [(), (DWD_A1,), (DWD_U1,), (DWD_U2,)]
    assert reports[1].source_id == DWD_A1  # update_1 references the alert directly
    assert reports[2].source_id == DWD_U1  # the engine resolves U1 -> A1 via message_id
    # what the engine does: follow references through message ids to the thread root
    root_of: dict[str, str] = {}
    for report in reports:
        assert report.message_id is not None
        first = report.references[0] if report.references else report.message_id
        root_of[report.message_id] = root_of.get(first, first)
    assert set(root_of.values()) == {DWD_A1}
    sequences = [r.sequence for r in reports]
    assert sequences == sorted(sequences)
    assert len(set(sequences)) == 4


def test_dwd_schneefall_update_adds_rlp_cells(shared_data: Path) -> None:
    alert = only(parse(shared_data, "dwd/dwd_2019_alert_2_discjunct_regions.xml"))
    update = only(parse(shared_data, "dwd/dwd_2019_alert_2_update_1.xml"))
    assert alert.category == update.category == "weather.schneefall"
    assert alert.severity == "moderate"
    assert update.source_id == alert.source_id == alert.message_id
    assert isinstance(alert.geometry, MultiPolygon)
    assert len(alert.geometry.coordinates) == 7
    assert not any(code.startswith("07") for code in alert.area_codes)
    assert any(code.startswith("07") for code in update.area_codes)


def test_dwd_eight_language_file_picks_german_and_keeps_seven_alternates(
    shared_data: Path,
) -> None:
    name = "dwd/2.49.0.0.276.0.DWD.PVW.1687470000000.fe90b61b-3755-4efb-8eda-b161251da9f7.MUL.xml"
    report = only(parse(shared_data, name))
    assert report.language == "de-DE"
    assert report.event == "WINDBÖEN"
    assert report.category == "weather.windboeen"
    assert report.severity == "minor"
    assert [a.language for a in report.alternates] == ["en", "fr", "es", "ar", "ru", "tr", "pl"]
    assert report.alternates[0].headline is not None
    assert report.observed_at == datetime(2023, 6, 23, 8, 0, tzinfo=CEST)
    assert "03159007" in report.area_codes  # WARNCELLID 803159007
    english = only(parse_cap((shared_data / "cap" / name).read_bytes(), languages=("en",)))
    assert english.language == "en"
    assert english.category == "weather.wind_gusts"
    assert len(english.alternates) == 7
    assert english.alternates[0].language == "de-DE"


def test_dwd_update_with_exclude_polygons_has_holes(shared_data: Path) -> None:
    name = "dwd/2.49.0.0.276.0.DWD.PVW.1687514160000.20999218-5d5e-4761-b271-6c243f695568.MUL.xml"
    report = only(parse(shared_data, name))
    assert report.msg_type == "update"
    assert report.category == "weather.starkregen"
    assert report.source_id == (
        "2.49.0.0.276.0.DWD.PVW.1687483260000.e335908e-7419-4d5f-8376-422c14b4f25c.MUL"
    )
    assert isinstance(report.geometry, MultiPolygon)
    assert max(len(rings) for rings in report.geometry.coordinates) > 1  # holes cut out


def test_dwd_files_parse_fast(shared_data: Path) -> None:
    for path in sorted((shared_data / "cap" / "dwd").iterdir()):
        data = path.read_bytes()
        started = time.perf_counter()
        parse_cap(data)
        assert time.perf_counter() - started < 0.5, path.name


# -- international -----------------------------------------------------------------------------


def test_earthquake_iso8859_1_is_decoded(shared_data: Path) -> None:
    report = only(parse(shared_data, "international/us_usgs_earthquake_iso8859-1.cap"))
    assert report.headline is not None
    assert "Usulután" in report.headline
    assert report.observed_at == datetime(2012, 10, 14, 22, 40, 56, tzinfo=UTC)  # <onset>
    assert report.expires_at == datetime(2012, 10, 21, 22, 53, 4, tzinfo=UTC)
    assert report.geometry == Point(coordinates=[-88.783, 12.747])


def test_circle_with_radius_becomes_a_polygon_around_the_centre(shared_data: Path) -> None:
    result = parse(shared_data, "international/au_nsw_rfs_bushfire.cap")
    # two en-AU infos (different geocodes) -> two reports, the second suffixed "#2"
    assert [r.source_id for r in result.reports] == [
        "tag:www.rfs.nsw.gov.au2011-10-06:40184",
        "tag:www.rfs.nsw.gov.au2011-10-06:40184#2",
    ]
    report = result.reports[0]
    assert report.source == "fire"
    assert report.family == "fire"
    assert isinstance(report.geometry, Polygon)
    ring = report.geometry.coordinates[0]
    assert len(ring) == 33
    assert ring[0] == ring[-1]
    shape = to_shapely(report.geometry)
    # <cap:circle>-35.3888,147.0598 25.0</cap:circle>
    centroid = shape.centroid
    assert abs(centroid.x - 147.0598) < 1e-3
    assert abs(centroid.y - (-35.3888)) < 1e-3
    north = max(lat for _, lat in ring)
    assert abs((north - (-35.3888)) * 111.32 - 25.0) < 0.5  # 25 km north of the centre


def test_edxl_envelope_yields_every_embedded_alert(shared_data: Path) -> None:
    result = parse(shared_data, "international/au_bushfire_edxlde_wrapped.edxlde")
    assert len(result.reports) == 7
    assert result.rejected == ()
    first = result.reports[0]
    assert first.source_id == "tag:www.rfs.nsw.gov.au2011-10-18:40500"
    assert first.geometry == Point(coordinates=[151.9576, -30.546])
    assert result.reports[1].category == "fire.wildfire"  # <cap:event>Grassfire</cap:event>


def test_nsw_rfs_edxl_with_georss_namespace_is_read(shared_data: Path) -> None:
    report = only(parse(shared_data, "international/au_nsw_rfs_edxlde.xml"))
    assert report.source_id == "2014-05-08T10:31:00-00:00:160068"
    assert report.category.startswith("other.")
    assert report.severity == "minor"
    assert report.geometry == Point(coordinates=[151.558, -33.1347])


def test_smhi_alerts_wrapper_gives_one_outcome_per_alert(shared_data: Path) -> None:
    result = parse(shared_data, "international/se_smhi_alerts_collection.xml")
    # 17 sv-SE alerts whose areas are only SMHI region numbers ("002"): nothing to locate
    assert result.reports == ()
    assert sorted(r.index for r in result.rejected if r.index is not None) == list(range(17))
    assert {r.field for r in result.rejected} == {"$.info.area"}


def test_pagasa_test_status(shared_data: Path) -> None:
    report = only(parse(shared_data, "international/ph_pagasa_test.cap"))
    assert report.status == "test"
    assert report.source == "weather"
    assert report.category == "weather.tropical_cyclone_alert"
    assert isinstance(report.geometry, Polygon)
    assert report.geometry.coordinates[0][0] == [120.0, 21.0]  # "21,120"


def test_athoc_cancel_without_info_is_a_cancel_report(shared_data: Path) -> None:
    result = parse(shared_data, "international/us_athoc_cancel_no_info.cap")
    report = only(result)
    assert report.msg_type == "cancel"
    assert report.geometry is None
    assert report.source_id == "1017033100951096-517189320160225203219800"
    assert report.message_id == "1017033100951096-517189320160225203219800_Cancel"
    assert report.observed_at == datetime(
        2016, 2, 25, 12, 47, 9, tzinfo=timezone(-timedelta(hours=8))
    )
    assert any("source guessed" in w for w in result.warnings)
    fixed = parse_cap((shared_data / "cap/international/us_athoc_cancel_no_info.cap").read_bytes(),
                      source="police")  # fmt: skip
    assert only(fixed).source == "police"
    assert fixed.warnings == ()


def test_canadian_update_keeps_both_references_and_french_alternate(shared_data: Path) -> None:
    report = only(parse(shared_data, "international/ca_ec_weather_update.cap"))
    assert report.msg_type == "update"
    assert report.source_id == "2.49.0.1.124.a3f342a4.2012"
    assert report.references == ("2.49.0.1.124.a3f342a4.2012", "2.49.0.1.124.60f31a3a.2012")
    assert report.language == "en-CA"
    assert [a.language for a in report.alternates] == ["fr-CA"]
    assert report.alternates[0].headline == "veille d'orages violents"
    assert report.category == "weather.thunderstorm"
    assert report.urgency == "past"


def test_iceland_picks_english_over_icelandic(shared_data: Path) -> None:
    report = only(parse(shared_data, "international/is_imo_weather.cap"))
    assert report.language == "en-US"
    assert report.headline == "Southeast gales"
    assert [a.language for a in report.alternates] == ["is-IS"]
    assert report.onset_at == datetime(2021, 9, 12, 18, 0, tzinfo=UTC)
    icelandic = only(parse_cap((shared_data / "cap/international/is_imo_weather.cap").read_bytes(),
                               languages=("is",)))  # fmt: skip
    assert icelandic.category == "weather.vedurvidvoerun_vindur"


def test_nws_multiple_polygons_become_one_area(shared_data: Path) -> None:
    report = only(parse(shared_data, "international/us_nws_multiple_polygons_update.xml"))
    assert report.msg_type == "update"
    assert report.severity == "extreme"
    assert report.source_id == "NWS-IDP-PROD-4410291-3675936"
    assert len(report.references) > 1
    assert report.geometry is not None
    assert to_shapely(report.geometry).intersects(ShapelyPoint(-92.62, 30.12))


@pytest.mark.parametrize(
    ("name", "scheme"),
    [
        ("international/au_bom_weather.cap", "AMOC-AreaCode"),
        ("international/tw_wra_reservoir.cap", "Taiwan_Geocode_100"),
        ("international/us_nws_flashfloodwatch_cap11.cap", "UGC"),
        ("international/us_wcatwc_tsunami_update.cap", "UGC"),
        ("international/us_nws_wind_advisory_cap11.cap", "FIPS6"),
    ],
)
def test_foreign_geocodes_only_are_kept_and_the_warning_names_the_scheme(
    shared_data: Path, name: str, scheme: str
) -> None:
    result = parse(shared_data, name)
    assert result.reports, "a located-elsewhere alert is still a report"
    for report in result.reports:
        assert report.geometry is None
        assert report.area_codes == ()
        assert any(code.startswith(f"{scheme}:") for code in report.geocodes)
    assert any(scheme in w and "cannot be located" in w for w in result.warnings)


def test_cap11_without_info_is_rejected(shared_data: Path) -> None:
    result = parse(shared_data, "international/us_usgs_no_optional_fields_cap11.cap")
    [rejection] = result.rejected
    assert rejection.field == "$.info"
    assert "no <info>" in rejection.reason


def test_mexican_update_and_togo_french(shared_data: Path) -> None:
    mexico = only(parse(shared_data, "international/mx_smn_tropical_cyclone_update.xml"))
    assert mexico.source_id == "avisossmn-ciclontropical-4061"
    assert mexico.language == "es-419"
    assert mexico.severity == "unknown"
    assert mexico.urgency == "unknown"
    togo = only(parse(shared_data, "international/tg_anamet_rain_fr.xml"))
    assert togo.language == "fr"
    assert togo.severity == "severe"
    assert togo.observed_at == datetime(2024, 6, 6, 17, 15, tzinfo=UTC)  # onset wins
    assert togo.source_id == "86d1b8c2-135b-4472-b1d7-8278d2997ce5"


# -- signed ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "signed/sc_meteo_strong_winds_signed.xml",
        "signed/sc_meteo_strong_winds_invalid_signature.xml",
        "signed/sc_meteo_strong_winds_invalid_digest.xml",
    ],
)
def test_signatures_are_ignored_not_verified(shared_data: Path, name: str) -> None:
    report = only(parse(shared_data, name))
    assert report.source_id == "urn:oid:2.49.0.0.690.0.2024.5.19.13.18.0"
    assert report.category == "weather.strong_winds"
    assert report.language == "en"


def test_signed_cap11_earthquake(shared_data: Path) -> None:
    report = only(parse(shared_data, "signed/us_usgs_earthquake_signed_cap11.cap"))
    assert report.geometry == Point(coordinates=[-122.812, 38.82])
    assert report.category == "other.earthquake"
