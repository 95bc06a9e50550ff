"""The situation report as an OASIS EDXL-SitRep 1.0 document.

Root ``sitRep`` (the global element of type SitRepType in ``EDXLSitRep-v1.0.xsd``; public
implementations validated against that schema spell it so) in
``urn:oasis:names:tc:emergency:EDXL:SitRep:1.0`` with the header elements of
the specification's SitRepType in its order (messageID, preparedBy, authorizedBy,
reportPurpose, reportNumber, reportVersion, forTimePeriod, reportTitle, incidentID,
incidentLifecyclePhase, originatingMessageID, urgency, reportConfidence, severity) and one
``report`` of type ``SituationInformationType`` holding the summary figures, one entry per
district and the significant changes of the window. Person and time elements use the EDXL
Common Types (ct) and CIQ name (xnl) namespaces. Times are EDXL dateTimes: seconds and an
explicit offset, never 'Z'.

``reportNumber`` is numeric in the specification, so it is T as ``YYYYMMDDHHMM``; the textual
report number is the ``messageID``. Severity follows the highest district level (3 Extreme,
2 Severe, 1 Moderate, 0 Minor).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final
from xml.etree import ElementTree as ET

from situation_api.reports.i18n import level_name, word
from situation_api.reports.model import SEVERITIES, SituationReport

SITREP_NS: Final = "urn:oasis:names:tc:emergency:EDXL:SitRep:1.0"
CT_NS: Final = "urn:oasis:names:tc:emergency:edxl:ct:1.0"
XNL_NS: Final = "urn:oasis:names:tc:emergency:edxl:ciq:1.0:xnl"
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
    "urgency",
    "reportConfidence",
    "severity",
    "report",
)
_SEVERITY: Final = ("Minor", "Moderate", "Severe", "Extreme")


def edxl_time(value: datetime) -> str:
    return value.astimezone(UTC).replace(microsecond=0).isoformat()


def _q(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


def _add(
    parent: ET.Element, name: str, text: str | int | None = None, ns: str = SITREP_NS
) -> ET.Element:
    element = ET.SubElement(parent, _q(ns, name))
    if text is not None:
        element.text = str(text)
    return element


def _person(parent: ET.Element, name: str, who: str, at: datetime) -> None:
    pair = _add(parent, name)
    details = _add(pair, "personDetails", ns=CT_NS)
    person = _add(details, "personName", ns=XNL_NS)
    _add(person, "nameElement", who, ns=XNL_NS)
    _add(pair, "timeValue", edxl_time(at), ns=CT_NS)


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
    f = t.figures
    summary = (
        f"{word('incidents_total', lang)}: {t.incidents}; {word('open_incidents', lang)}: "
        f"{t.open}; {word('dead', lang)}: {f.dead}; {word('injured', lang)}: {f.injured}; "
        f"{word('missing', lang)}: {f.missing}; {word('evacuated', lang)}: {f.evacuated}; "
        f"{word('active_warnings', lang)}: {t.warnings}; {word('max_level', lang)}: "
        f"{t.max_level} {level_name(t.max_level, lang)}"
    )
    _add(body, "situationSummary", summary)
    totals = _add(body, "situationFigures")
    _add(totals, "incidents", t.incidents)
    _add(totals, "openIncidents", t.open)
    for severity, count in zip(SEVERITIES, t.open_by_severity, strict=True):
        _add(totals, "openIncidentsBySeverity", count).set("severity", severity)
    _add(totals, "resolvedIncidents", t.resolved)
    _add(totals, "activeWarnings", t.warnings)
    casualties = _add(body, "casualtyAndIllnessSummary")
    for name, value in f.as_dict().items():
        _add(casualties, name, value)
    for d in report.districts:
        area = _add(body, "jurisdictionInformation")
        _add(area, "jurisdiction", d.name).set("ags", d.ags)
        _add(area, "escalationLevel", d.level)
        _add(area, "openIncidents", d.open_total)
        _add(area, "dead", d.figures.dead)
        _add(area, "injured", d.figures.injured)
        _add(area, "evacuated", d.figures.evacuated)
        if d.icu_beds_free is not None:
            _add(area, "icuBedsAvailable", d.icu_beds_free)
    for entry in report.timeline:
        event = _add(body, "significantEvent")
        _add(event, "eventDateTime", edxl_time(entry.at))
        _add(event, "eventDescription", entry.text)
    ET.register_namespace("sitrep", SITREP_NS)
    ET.register_namespace("ct", CT_NS)
    ET.register_namespace("xnl", XNL_NS)
    ET.register_namespace("xsi", XSI_NS)
    tree = ET.ElementTree(root)
    ET.indent(tree, space=" ")
    out: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return out
