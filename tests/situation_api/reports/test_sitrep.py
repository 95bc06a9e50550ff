"""The EDXL-SitRep document checked against the specification's structure (sitrep_spec.py)."""

from __future__ import annotations

import re
from datetime import timedelta
from xml.etree import ElementTree as ET

import pytest

from correlation import Engine
from situation_api.reports import ReportOptions, SituationReport, build_report
from situation_api.reports.sitrep import render_sitrep
from tests.situation_api.reports.conftest import AT, HOSTILE, START, Day
from tests.situation_api.reports.sitrep_spec import CT, GML, S, conformance_errors


def _body(document: bytes) -> ET.Element:
    body = ET.fromstring(document).find(f"{{{S}}}report")
    assert body is not None
    return body


def _texts(element: ET.Element, path: str) -> list[str]:
    return [e.text or "" for e in element.findall(path, {"s": S, "ct": CT, "gml": GML})]


# -- the checker itself -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def document(report: SituationReport) -> bytes:
    return render_sitrep(report)


def test_checker_finds_each_kind_of_violation(document: bytes) -> None:
    assert conformance_errors(document) == []
    text = document.decode("utf-8")
    reordered = text.replace(
        "<sitrep:reportConfidence>HighlyConfident</sitrep:reportConfidence>", ""
    ).replace(
        "</sitrep:report>", "</sitrep:report><sitrep:reportConfidence>x</sitrep:reportConfidence>"
    )
    assert any("not allowed here" in e for e in conformance_errors(reordered.encode()))
    invented = text.replace(
        "<sitrep:geographicSize>",
        "<sitrep:casualties>1</sitrep:casualties><sitrep:geographicSize>",
        1,
    )
    assert any("casualties" in e for e in conformance_errors(invented.encode()))
    no_location = re.sub(
        r"<sitrep:incidentLocation>.*?</sitrep:incidentLocation>", "", text, count=1, flags=re.S
    )
    assert any("incidentLocation missing" in e for e in conformance_errors(no_location.encode()))
    twice = text.replace(
        "<sitrep:severity>", "<sitrep:severity>Minor</sitrep:severity><sitrep:severity>", 1
    )
    assert any("severity 2 times" in e for e in conformance_errors(twice.encode()))
    bad_kind = text.replace(">Fire</sitrep:incidentKind>", ">Feuer</sitrep:incidentKind>", 1)
    assert any("Feuer" in e for e in conformance_errors(bad_kind.encode()))
    foreign = text.replace("ct:fromDateTime>", "gml:fromDateTime>")
    assert conformance_errors(foreign.encode())
    assert conformance_errors(document[:-40])[0].startswith("not well-formed")
    zulu = text.replace("2024-06-01T02:00:00+00:00", "2024-06-01T02:00:00Z")
    assert any("EDXL dateTime" in e for e in conformance_errors(zulu.encode()))


# -- the rendered documents ---------------------------------------------------------------------


def test_full_report_conforms_and_carries_the_situation(
    report: SituationReport, document: bytes
) -> None:
    assert conformance_errors(document) == []
    body = _body(document)
    primary = body.find(f"{{{S}}}primaryIncidentInformation")
    assert primary is not None
    assert report.region_label in _texts(primary, "s:incidentName")[0]
    open_ = [i for i in report.incidents if i.status == "open"]
    assert len(open_) == report.totals.open > 5
    assert _texts(primary, "s:incidentStartDateTime") == [
        min(i.first_seen for i in open_).isoformat()
    ]
    families = {i.category.partition(".")[0] for i in open_}
    kinds = _texts(primary, "s:incidentKind")
    assert len(kinds) == len(set(kinds)) >= 3
    assert ("Fire" in kinds) == ("fire" in families)
    assert ("Transport" in kinds) == ("accident" in families)
    codes = _texts(primary, "s:incidentLocation/ct:EDXLGeoPoliticalLocation/ct:geoCode/ct:value")
    assert codes == [d.ags for d in report.districts]
    # Rheinland-Pfalz has 19,858 km² (Statistisches Landesamt); the outlines are simplified.
    assert abs(int(_texts(primary, "s:geographicSize/s:size")[0]) - 19_858) < 200
    jurisdictions = primary.findall(f"{{{S}}}jurisdictionInformation")
    assert len(jurisdictions) == len(report.districts) == 36
    for info, district in zip(jurisdictions, report.districts, strict=True):
        assert _texts(info, "s:name") == [f"{district.name} ({district.ags})"]
        assert _texts(info, "s:location/ct:EDXLGeoPoliticalLocation/ct:geoCode/ct:value") == [
            district.ags
        ]
    subs = body.findall(f"{{{S}}}subIncidentInformation/{{{S}}}subIncident")
    assert len(subs) == len(open_)
    for sub, row in zip(subs, open_, strict=True):
        assert _texts(sub, "s:incidentName") == [f"{row.title} [{row.id}]"]
        assert _texts(sub, "s:incidentStartDateTime") == [row.first_seen.isoformat()]
        pos = _texts(sub, "s:incidentLocation/ct:EDXLGeoLocation/gml:point/gml:pos")
        if row.lon is not None and row.lat is not None:
            lat, lon = (float(v) for v in pos[0].split())
            assert (round(lat, 5), round(lon, 5)) == (round(row.lat, 5), round(row.lon, 5))
        else:
            assert pos == []
    hostile = [s for s in subs if HOSTILE in _texts(s, "s:incidentName")[0]]
    assert len(hostile) == 1  # escaped by the serialiser, read back verbatim


def test_empty_report_conforms() -> None:
    base = Engine().picture()
    empty = build_report(base, [], ReportOptions(at=AT, start=START, lang="en"))
    document = render_sitrep(empty)
    assert conformance_errors(document) == []
    body = _body(document)
    assert body.find(f"{{{S}}}subIncidentInformation") is None
    primary = body.find(f"{{{S}}}primaryIncidentInformation")
    assert primary is not None
    assert _texts(primary, "s:incidentKind") == []
    assert _texts(primary, "s:incidentStartDateTime") == []
    assert len(primary.findall(f"{{{S}}}jurisdictionInformation")) == 36
    root = ET.fromstring(document)
    assert root.findtext(f"{{{S}}}incidentLifecyclePhase") == "Recovery"
    assert root.findtext(f"{{{S}}}severity") == "Minor"


def test_region_report_names_only_its_districts(day: Day) -> None:
    region = ("07111", "07137")  # Koblenz, Mayen-Koblenz
    options = ReportOptions(at=AT, start=AT - timedelta(hours=6), districts=region, version=2)
    part = build_report(day.base, day.changes, options)
    document = render_sitrep(part)
    assert conformance_errors(document) == []
    root = ET.fromstring(document)
    assert root.findtext(f"{{{S}}}reportVersion") == "Update"
    primary = _body(document).find(f"{{{S}}}primaryIncidentInformation")
    assert primary is not None
    assert _texts(primary, "s:incidentLocation//ct:value") == list(region)
    names = _texts(primary, "s:jurisdictionInformation/s:name")
    assert [n[-6:-1] for n in names] == list(region)
    subs = _body(document).findall(f"{{{S}}}subIncidentInformation/{{{S}}}subIncident")
    assert len(subs) == part.totals.open
