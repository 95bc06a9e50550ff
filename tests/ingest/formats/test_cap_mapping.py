"""CAP mapping rules one at a time: category table, geocodes, circles, threads and defects."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
import shapely

from ingest.formats.cap import parse_cap
from ingest.formats.cap_area import AreaInput, build_area, circle_ring, german_code
from ingest.formats.cap_mapping import category_of, limited_id, slug, source_of
from ingest.formats.result import ParseResult
from ingest.geometry import to_shapely
from ingest.report import Point, Polygon, Report

CAP12 = "urn:oasis:names:tc:emergency:cap:1.2"
SQUARE = "50.0,7.0 50.0,7.1 50.1,7.1 50.1,7.0 50.0,7.0"  # lat,lon near Koblenz

HEADER = {
    "identifier": "TEST-1",
    "sender": "lagezentrum@example.org",
    "sent": "2024-05-01T12:00:00+02:00",
    "status": "Actual",
    "msgType": "Alert",
    "scope": "Public",
    "references": None,
}
INFO = {
    "language": "de-DE",
    "category": "Met",
    "event": "STURMBÖEN",
    "urgency": "Immediate",
    "severity": "Moderate",
    "certainty": "Likely",
    "effective": None,
    "onset": None,
    "expires": "2024-05-01T18:00:00+02:00",
    "senderName": "DWD Offenbach",
    "headline": "Amtliche WARNUNG vor STURMBÖEN",
    "description": "Es treten Sturmböen auf.",
}


def elements(fields: dict[str, str | None]) -> str:
    return "".join(f"<{k}>{v}</{k}>" for k, v in fields.items() if v is not None)


def info(area: str = f"<polygon>{SQUARE}</polygon>", **changes: str | None) -> str:
    return f"<info>{elements({**INFO, **changes})}<area><areaDesc>x</areaDesc>{area}</area></info>"


def alert(*infos: str, namespace: str = CAP12, **changes: str | None) -> bytes:
    body = elements({**HEADER, **changes}) + "".join(infos or (info(),))
    return f'<alert xmlns="{namespace}">{body}</alert>'.encode()


def one(result: ParseResult) -> Report:
    assert result.rejected == (), result.rejected
    assert len(result.reports) == 1
    return result.reports[0]


# -- tables ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cap_category", "event", "codes", "expected"),
    [
        ("Met", "SEVERE THUNDERSTORM", [], "weather.severe_thunderstorm"),
        ("Met", "GLÄTTE", [], "weather.glaette"),
        ("Met", "水庫", ["ReservoirDis"], "weather.reservoirdis"),
        ("Met", "", [], "weather.unspecified"),
        ("Met", "Flash Flood Watch", [], "flood.flash_flood_watch"),
        ("Met", "STURMFLUT", [], "flood.sturmflut"),
        ("Geo", "Storm Surge Warning", [], "flood.storm_surge_warning"),
        ("Other", "Hochwasser an der Mosel", [], "flood.hochwasser_an_der_mosel"),
        ("Fire", "Grassfire", [], "fire.wildfire"),
        ("Fire", "Waldbrand", [], "fire.wildfire"),
        ("Fire", "Structure Fire", [], "fire.structure_fire"),
        ("Geo", "Earthquake", [], "other.earthquake"),
        ("Geo", "Tsunami Warning", [], "other.tsunami"),
        ("Env", "Chemical spill", [], "hazmat.chemical_spill"),
        ("Env", "Ozone", [], "other.ozone"),
        ("Infra", "Stromausfall", [], "infrastructure.stromausfall"),
        ("Transport", "Road closure", [], "accident.road_closure"),
        ("Health", "Heat", [], "medical.heat"),
        ("Security", "Terror", [], "security.terror"),
        ("Rescue", "Child Abduction", [], "rescue.child_abduction"),
        ("CBRNE", "Gas leak", [], "hazmat.gas_leak"),
        ("Safety", "Bombenentschärfung", [], "other.bombenentschaerfung"),
        (None, "News", [], "other.news"),
        ("Nonsense", "x", [], "other.x"),
    ],
)
def test_category_table(
    cap_category: str | None, event: str, codes: list[str], expected: str
) -> None:
    assert category_of(cap_category, event, codes) == expected


@pytest.mark.parametrize(
    ("cap_category", "sender", "expected"),
    [
        ("Health", "CAP@dwd.de", "weather"),  # DWD heat warnings are filed as Health
        ("Met", "someone@example.org", "weather"),
        ("Fire", None, "fire"),
        ("Health", None, "health"),
        ("Security", None, "police"),
        ("Geo", None, "civil_protection"),
        ("Safety", "mowas@bbk.bund.de", "civil_protection"),
        (None, None, "civil_protection"),
    ],
)
def test_source_table(cap_category: str | None, sender: str | None, expected: str) -> None:
    assert source_of(cap_category, sender) == expected


def test_slug_is_ascii_and_bounded() -> None:
    assert slug("GLÄTTE") == "glaette"
    assert slug("Straße gesperrt!") == "strasse_gesperrt"
    assert slug("水庫洩洪") == ""
    long = slug("a very long event name " * 5)
    assert len(long) <= 40
    assert not long.endswith("_")


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("WARNCELLID", "807340057", "07340057"),  # Gemeinde Wilgartswiesen
        ("WARNCELLID", "107131000", "07131"),  # Kreis Ahrweiler
        ("WARNCELLID", "901000000", None),  # not a Gemeinde/Kreis cell
        ("WARNCELLID", "899000000", None),  # no such Land
        ("Koblenz", "071110000000", "071110000000"),  # MoWaS: district name + ARS
        ("AGS", "07131", "07131"),
        ("ARS", "071310000000", "071310000000"),
        ("SAME", "006109", None),
        ("FIPS6", "032013", None),
        ("UGC", "NVC013", None),
        ("profile:CAP-CP:Location:0.3", "3537064", None),
        ("Foreign", "991310000000", None),
    ],
)
def test_german_codes(name: str, value: str, expected: str | None) -> None:
    assert german_code(name, value) == expected


def test_limited_id_is_deterministic_and_distinct() -> None:
    a, b = "x" * 200 + "a", "x" * 200 + "b"
    assert len(limited_id(a, 128)) == 128
    assert limited_id(a, 128) == limited_id(a, 128)
    assert limited_id(a, 128) != limited_id(b, 128)
    assert limited_id("short", 128) == "short"


def test_circle_ring_has_32_vertices_at_the_radius() -> None:
    ring = circle_ring(7.6, 50.35, 10.0)
    assert len(ring) == 33
    assert ring[0] == ring[-1]
    for lon, lat in ring[:-1]:
        dx = (lon - 7.6) * 111.32 * math.cos(math.radians(50.35))
        dy = (lat - 50.35) * 111.32
        assert math.hypot(dx, dy) == pytest.approx(10.0, rel=1e-6)
    assert shapely.Polygon(ring).exterior.is_ccw


def test_area_subtracts_exclude_polygons_and_keeps_codes() -> None:
    hole = "50.04,7.04 50.04,7.06 50.06,7.06 50.06,7.04 50.04,7.04"
    area = build_area(AreaInput([SQUARE], [], [("EXCLUDE_POLYGON", hole),
                                                ("WARNCELLID", "807137003")]))  # fmt: skip
    assert area.area_codes == ("07137003",)
    assert area.geometry is not None
    assert area.geometry["type"] == "Polygon"
    assert len(area.geometry["coordinates"]) == 2  # shell and the hole


def test_area_excluded_entirely_warns() -> None:
    area = build_area(AreaInput([SQUARE], [], [("EXCLUDE_POLYGON", SQUARE)]))
    assert area.geometry is None
    assert any("nothing left" in w for w in area.warnings)


# -- alerts ------------------------------------------------------------------------------------


def test_minimal_synthetic_alert_maps_every_field() -> None:
    report = one(parse_cap(alert()))
    assert report.source == "weather"
    assert report.source_id == "TEST-1"
    assert report.message_id == "TEST-1"
    assert report.category == "weather.sturmboeen"
    assert report.sequence == int(datetime(2024, 5, 1, 10, 0, tzinfo=UTC).timestamp())
    assert report.observed_at == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    assert report.agency == "DWD Offenbach"
    assert isinstance(report.geometry, Polygon)
    assert report.geometry.coordinates[0][1] == [7.1, 50.0]


@pytest.mark.parametrize(("msg_type", "status"), [("Ack", "Actual"), ("Error", "Actual")])
def test_ack_and_error_are_rejected(msg_type: str, status: str) -> None:
    result = parse_cap(alert(msgType=msg_type, status=status))
    [rejection] = result.rejected
    assert rejection.field == "$.msgType"
    assert msg_type in rejection.reason


@pytest.mark.parametrize("status", ["System", "Draft", "Bogus", None])
def test_status_other_than_actual_exercise_test_is_rejected(status: str | None) -> None:
    [rejection] = parse_cap(alert(status=status)).rejected
    assert rejection.field == "$.status"


def test_exercise_status_is_kept() -> None:
    assert one(parse_cap(alert(status="Exercise"))).status == "exercise"


def test_caller_source_wins() -> None:
    assert one(parse_cap(alert(), source="police")).source == "police"


def test_missing_sender_and_sent_recover_with_warnings() -> None:
    result = parse_cap(alert(info(effective="2024-05-01T12:30:00+02:00"), sender=None, sent=None))
    report = one(result)
    assert report.observed_at == datetime(2024, 5, 1, 10, 30, tzinfo=UTC)
    assert report.sequence == int(report.observed_at.timestamp())
    assert any("sender: missing" in w for w in result.warnings)
    assert any("sent: missing" in w for w in result.warnings)


def test_no_time_at_all_is_rejected() -> None:
    [rejection] = parse_cap(alert(sent="yesterday")).rejected
    assert rejection.field == "$.sent"


def test_update_references_and_malformed_entries() -> None:
    refs = "s,ORIG-1,2024-05-01T10:00:00+02:00 garbage s,UPD-2,2024-05-01T11:00:00+02:00"
    result = parse_cap(alert(msgType="Update", references=refs, identifier="UPD-3"))
    report = one(result)
    assert report.source_id == "ORIG-1"
    assert report.references == ("ORIG-1", "UPD-2")
    assert any("'garbage' is not 'sender,identifier,sent'" in w for w in result.warnings)


def test_update_without_references_warns_and_starts_its_own_thread() -> None:
    result = parse_cap(alert(msgType="Update"))
    assert one(result).source_id == "TEST-1"
    assert any("references: missing on an Update" in w for w in result.warnings)


def test_cancel_with_info_but_without_area_is_accepted() -> None:
    refs = "s,ORIG-1,2024-05-01T10:00:00+02:00"
    report = one(parse_cap(alert(info(area=""), msgType="Cancel", references=refs)))
    assert report.msg_type == "cancel"
    assert report.source_id == "ORIG-1"
    assert report.geometry is None


def test_alert_without_area_is_rejected_with_field() -> None:
    [rejection] = parse_cap(alert(info(area=""))).rejected
    assert rejection.field == "$.info.area"
    assert "no polygon, circle or geocode" in rejection.reason


def test_expires_before_observed_is_dropped_with_warning() -> None:
    result = parse_cap(alert(info(onset="2024-05-01T20:00:00+02:00")))
    assert one(result).expires_at is None
    assert any("expires:" in w and "dropped" in w for w in result.warnings)


def test_long_texts_are_truncated_with_warning() -> None:
    result = parse_cap(alert(info(headline="H" * 300, description="D" * 6000)))
    report = one(result)
    assert report.headline == "H" * 199 + "…"
    assert report.description is not None
    assert len(report.description) == 5000
    assert sum("truncated" in w for w in result.warnings) == 2


def test_long_identifier_is_limited_deterministically() -> None:
    ident = "ID-" + "9" * 300
    first = one(parse_cap(alert(identifier=ident)))
    again = one(parse_cap(alert(identifier=ident)))
    assert len(first.source_id) == 128
    assert first.source_id == again.source_id
    assert first.message_id is not None
    assert len(first.message_id) == 256


def test_several_infos_in_one_language_give_suffixed_reports_with_paired_alternates() -> None:
    payload = alert(
        info(event="STURMBÖEN"),
        info(event="GEWITTER", area="<circle>50.3,7.6 5</circle>"),
        info(language="en", event="gusts", headline="gusts"),
        info(language="en", event="thunderstorm", headline="thunderstorm"),
    )
    result = parse_cap(payload)
    assert [r.source_id for r in result.reports] == ["TEST-1", "TEST-1#2"]
    assert [r.category for r in result.reports] == ["weather.sturmboeen", "weather.gewitter"]
    assert [r.alternates[0].headline for r in result.reports] == ["gusts", "thunderstorm"]
    second = result.reports[1].geometry
    assert second is not None
    assert to_shapely(second).contains(shapely.Point(7.6, 50.3))


def test_language_preference_is_a_prefix_match_in_order() -> None:
    payload = alert(info(language="fr-FR", headline="fr"), info(language="en-GB", headline="en"))
    assert one(parse_cap(payload)).language == "en-GB"  # no "de"; "en" matches "en-GB"
    assert one(parse_cap(payload, languages=("fr",))).headline == "fr"
    assert one(parse_cap(payload, languages=("es",))).headline == "fr"  # first info


def test_cap10_namespace_and_very_likely() -> None:
    payload = alert(info(certainty="Very Likely"), namespace="http://www.incident.com/cap/1.0")
    assert one(parse_cap(payload)).certainty == "likely"


def test_mowas_style_geocode_is_an_area_code() -> None:
    area = "<geocode><valueName>Koblenz</valueName><value>071110000000</value></geocode>"
    report = one(parse_cap(alert(info(area=area, category="Safety", event="Bombenfund"))))
    assert report.area_codes == ("071110000000",)
    assert report.geometry is None
    assert report.source == "civil_protection"


def test_bow_tie_polygon_is_repaired() -> None:
    bow_tie = "50.0,7.0 50.1,7.1 50.0,7.1 50.1,7.0 50.0,7.0"
    report = one(parse_cap(alert(info(area=f"<polygon>{bow_tie}</polygon>"))))
    assert report.geometry is not None
    assert to_shapely(report.geometry).is_valid


def test_out_of_range_polygon_and_huge_circle_are_ignored_with_warnings() -> None:
    area = "<polygon>95,7 96,7 96,8 95,7</polygon><circle>50,7 99999</circle>"
    result = parse_cap(alert(info(area=area)))
    [rejection] = result.rejected
    assert rejection.field == "$.info.area"
    assert any("outside WGS84" in w for w in result.warnings)
    assert any("radius" in w for w in result.warnings)


def test_zero_radius_circle_is_a_point() -> None:
    report = one(parse_cap(alert(info(area="<circle>50.35,7.6 0</circle>"))))
    assert report.geometry == Point(coordinates=[7.6, 50.35])
