"""The situation report as an OASIS EDXL-SitRep 1.0 document.

The official schema (``EDXLSitRep-v1.0.xsd``) was not available while this was written. Element
names, order and multiplicities were taken from public implementations instead: EDXLSharp
(``1stResponder/em-serializers``, C# namespace ``EMS.EDXL.SitRep``; the order of its
XmlSerializer attributes), the multiplicity comments quoting the specification in
``ContextManagerREST.CEP.SituationReaction.EDXL`` and, for the location types, an
implementation whose documents were validated against the published schema tree (SitRep, CT,
GSF, GML 3.2). ``tests/situation_api/reports/test_sitrep.py`` holds the resulting table.

Root ``sitRep`` in ``urn:oasis:names:tc:emergency:EDXL:SitRep:1.0`` with the header of
SitRepType in its order (messageID, preparedBy, authorizedBy, reportPurpose, reportNumber,
reportVersion, forTimePeriod, reportTitle, incidentID, incidentLifecyclePhase, urgency,
reportConfidence, severity; the optional originatingMessageID, precedingMessageID,
reportingLocation, actionPlan and nextContact are not used) and one ``report`` of
``xsi:type`` SituationInformationType. Its body holds only elements of that type:

* ``primaryIncidentInformation`` — the whole situation in the report's region: name (title and
  region), the incident kinds of the open incidents (mapped to IncidentKindDefaultValues),
  the start of the earliest open incident, the region's area as geographicSize, the region as
  a geopolitical location (the AGS codes), and per district a ``jurisdictionInformation`` whose
  free-text ``description`` carries the district's level and figures as text;
* ``subIncidentInformation`` — one ``subIncident`` per open incident: name, kind, start,
  geographicSize (its extent is not reported, so 0, marked an estimate) and location (a GML
  point, else its district).

Figures the specification has no element for (totals, casualties, ICU beds, warnings, the
timeline) are in the other formats only; no element is invented in the SitRep namespace.
Times are EDXL dateTimes: seconds and an explicit offset, never 'Z'. ``reportNumber`` is
numeric in the specification, so it is T as ``YYYYMMDDHHMM``; the textual report number is the
``messageID``. Severity follows the highest district level (3 Extreme, 2 Severe, 1 Moderate,
0 Minor).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Final
from xml.etree import ElementTree as ET

from ingest.districts import rlp_districts
from situation_api.reports.i18n import Lang, level_name, word
from situation_api.reports.model import DistrictRow, IncidentRow, SituationReport

SITREP_NS: Final = "urn:oasis:names:tc:emergency:EDXL:SitRep:1.0"
CT_NS: Final = "urn:oasis:names:tc:emergency:edxl:ct:1.0"
XNL_NS: Final = "urn:oasis:names:tc:emergency:edxl:ciq:1.0:xnl"
GML_NS: Final = "http://www.opengis.net/gml/3.2"
XSI_NS: Final = "http://www.w3.org/2001/XMLSchema-instance"
HEADER: Final = (
    "messageID",
    "preparedBy",
    "authorizedBy",
    "reportPurpose",
    "reportNumber",
    "reportVersion",
    "forTimePeriod",
    "reportTitle",
    "incidentID",
    "incidentLifecyclePhase",
    "originatingMessageID",
    "precedingMessageID",
    "urgency",
    "reportConfidence",
    "severity",
    "reportingLocation",
    "actionPlan",
    "nextContact",
    "report",
)
# ct:ValueListType wants the URI of the list its values come from. No URN is registered for
# the German official municipality key, so this names the list itself (Gemeindeverzeichnis).
AGS_LIST: Final = (
    "https://www.destatis.de/DE/Themen/Laender-Regionen/Regionales/Gemeindeverzeichnis/_inhalt.html"
)
WGS84: Final = "urn:ogc:def:crs:EPSG::4326"  # axis order latitude, longitude
# Our incident families → IncidentKindDefaultValues. Where the list has a short and a long
# form (Fire / FireSupressionAndRescue, Health / MedicalAndPublicHealth) the short one, which
# also matches CAP's categories (flood is CAP's "Met" as well); infrastructure has only the
# long form. Families not listed get no incidentKind (it is optional).
INCIDENT_KIND: Final = {
    "fire": "Fire",
    "flood": "Meteorological",
    "weather": "Meteorological",
    "accident": "Transport",
    "rescue": "Rescue",
    "medical": "Health",
    "capacity": "Health",
    "hazmat": "CBRNE",
    "security": "Security",
    "infrastructure": "UtilityTelecommunicationOtherNonTransportInfrastructure",
}
_KIND_ORDER: Final = tuple(dict.fromkeys(INCIDENT_KIND.values()))
_SEVERITY: Final = ("Minor", "Moderate", "Severe", "Extreme")
# Characters XML 1.0 cannot carry at all; a title holding one would make the document unreadable.
_NOT_XML: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_NOT_NAME: Final = re.compile(r"[^A-Za-z0-9_.-]")


def edxl_time(value: datetime) -> str:
    return value.astimezone(UTC).replace(microsecond=0).isoformat()


def incident_kind(category: str) -> str | None:
    return INCIDENT_KIND.get(category.partition(".")[0])


@cache
def district_area_km2(ags: str) -> float:
    """Area of the bundled (simplified) district outline, on a local equirectangular plane."""
    district = rlp_districts().get(ags)
    if district is None:
        return 0.0
    scale = math.cos(math.radians(district.centroid[1]))
    degree_km = 111.32  # km per degree of latitude, and of longitude at the equator
    return float(district.geometry.area) * scale * degree_km * degree_km


def _q(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


def _add(
    parent: ET.Element, name: str, text: str | int | None = None, ns: str = SITREP_NS
) -> ET.Element:
    element = ET.SubElement(parent, _q(ns, name))
    if text is not None:
        element.text = _NOT_XML.sub("", str(text))
    return element


def _person(parent: ET.Element, name: str, who: str, at: datetime) -> None:
    pair = _add(parent, name)
    details = _add(pair, "personDetails", ns=CT_NS)
    person = _add(details, "personName", ns=XNL_NS)
    _add(person, "nameElement", who, ns=XNL_NS)
    _add(pair, "timeValue", edxl_time(at), ns=CT_NS)


def _size(parent: ET.Element, km2: float, estimate: bool, remarks: str) -> None:
    size = _add(parent, "geographicSize")
    _add(size, "size", round(km2))
    _add(size, "isEstimate", "true" if estimate else "false")
    _add(size, "remarks", remarks)


def _geopolitical(parent: ET.Element, name: str, codes: Sequence[str]) -> None:
    # EDXLLocationType is a choice of a geopolitical and a geospatial location, and the
    # element wrapping the choice is declared in ct (the validated implementation found its
    # namespace to be ct, not that of its content).
    location = _add(parent, name)
    political = _add(location, "EDXLGeoPoliticalLocation", ns=CT_NS)
    code = _add(political, "geoCode", ns=CT_NS)
    _add(code, "valueListURI", AGS_LIST, ns=CT_NS)
    for ags in codes:
        _add(code, "value", ags, ns=CT_NS)


def _point(parent: ET.Element, name: str, ident: str, lon: float, lat: float) -> None:
    # EDXL's GML simple-features profile: lowercase ``point`` with a ``gml:Id`` and an
    # unprefixed ``SrsName`` (EDXLSharp and the validated implementation agree on ``point``;
    # EDXLSharp puts SrsName on ``pos``, the validated one on ``point``, which is followed).
    location = _add(parent, name)
    geo = _add(location, "EDXLGeoLocation", ns=CT_NS)
    point = _add(geo, "point", ns=GML_NS)
    point.set(_q(GML_NS, "Id"), ident)
    point.set("SrsName", WGS84)
    _add(point, "pos", f"{lat:.6f} {lon:.6f}", ns=GML_NS)


def _kinds(categories: Iterable[str]) -> list[str]:
    found = {k for c in categories if (k := incident_kind(c)) is not None}
    return [k for k in _KIND_ORDER if k in found]


def _district_text(d: DistrictRow, lang: Lang) -> str:
    f = d.figures
    return (
        f"{word('col_level', lang)} {d.level} {level_name(d.level, lang)}; "
        f"{word('open_incidents', lang)}: {d.open_total}; {word('dead', lang)}: {f.dead}; "
        f"{word('injured', lang)}: {f.injured}; {word('missing', lang)}: {f.missing}; "
        f"{word('evacuated', lang)}: {f.evacuated}"
    )


def _primary(body: ET.Element, report: SituationReport, open_: Sequence[IncidentRow]) -> None:
    lang = report.lang
    codes = [d.ags for d in report.districts] or list(report.region)
    primary = _add(body, "primaryIncidentInformation")
    _add(primary, "incidentName", f"{word('title', lang)}: {report.region_label}")
    for kind in _kinds(i.category for i in open_):
        _add(primary, "incidentKind", kind)
    started = [i.first_seen for i in open_ if i.first_seen.year > 1]
    if started:
        # The specification's elements are lowerCamelCase; EDXLSharp's "IncidentStartDateTime"
        # is the only capitalised one there and disagrees with the quoted multiplicity table.
        _add(primary, "incidentStartDateTime", edxl_time(min(started)))
    area = sum(district_area_km2(a) for a in codes)
    _size(primary, area, False, f"km², {word('region', lang)}")
    _geopolitical(primary, "incidentLocation", codes)
    for d in report.districts:
        info = _add(primary, "jurisdictionInformation")
        _add(info, "name", f"{d.name} ({d.ags})")
        _size(info, district_area_km2(d.ags), False, "km²")
        _geopolitical(info, "location", [d.ags])
        _add(info, "description", _district_text(d, lang))


def _sub_incidents(body: ET.Element, open_: Sequence[IncidentRow], codes: Sequence[str]) -> None:
    if not open_:
        return
    wrapper = _add(body, "subIncidentInformation")
    for n, row in enumerate(open_, 1):
        sub = _add(wrapper, "subIncident")
        _add(sub, "incidentName", f"{row.title} [{row.id}]")
        kind = incident_kind(row.category)
        if kind is not None:
            _add(sub, "incidentKind", kind)
        if row.first_seen.year > 1:
            _add(sub, "incidentStartDateTime", edxl_time(row.first_seen))
        _size(sub, 0.0, True, "extent not reported")
        if row.lon is not None and row.lat is not None:
            _point(sub, "incidentLocation", f"i{n}-{_NOT_NAME.sub('_', row.id)}", row.lon, row.lat)
        else:
            _geopolitical(sub, "incidentLocation", [row.district] if row.district else codes)


def render_sitrep(report: SituationReport) -> bytes:
    lang = report.lang
    t = report.totals
    root = ET.Element(_q(SITREP_NS, "sitRep"))
    _add(root, "messageID", report.number)
    _person(root, "preparedBy", report.prepared_by, report.generated_at)
    _person(root, "authorizedBy", report.prepared_by, report.generated_at)
    _add(root, "reportPurpose", f"{word('title', lang)} – {word('subtitle', lang)}")
    _add(root, "reportNumber", report.at.astimezone(UTC).strftime("%Y%m%d%H%M"))
    _add(root, "reportVersion", "Initial" if report.version <= 1 else "Update")
    period = _add(root, "forTimePeriod")
    _add(period, "fromDateTime", edxl_time(report.start), ns=CT_NS)
    _add(period, "toDateTime", edxl_time(report.at), ns=CT_NS)
    _add(root, "reportTitle", f"{word('title', lang)} {report.number}: {report.region_label}")
    _add(root, "incidentID", f"lagezentrum:{'-'.join(report.region) or 'RLP'}")
    _add(root, "incidentLifecyclePhase", "Response" if t.open else "Recovery")
    _add(root, "urgency", "Immediate" if t.max_level >= 2 else "Expected")
    _add(root, "reportConfidence", "HighlyConfident")
    _add(root, "severity", _SEVERITY[max(0, min(t.max_level, 3))])
    body = _add(root, "report")
    body.set(_q(XSI_NS, "type"), "sitrep:SituationInformationType")
    open_ = [i for i in report.incidents if i.status == "open"]
    _primary(body, report, open_)
    _sub_incidents(body, open_, [d.ags for d in report.districts] or list(report.region))
    ET.register_namespace("sitrep", SITREP_NS)
    ET.register_namespace("ct", CT_NS)
    ET.register_namespace("xnl", XNL_NS)
    ET.register_namespace("gml", GML_NS)
    ET.register_namespace("xsi", XSI_NS)
    tree = ET.ElementTree(root)
    ET.indent(tree, space=" ")
    out: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return out
