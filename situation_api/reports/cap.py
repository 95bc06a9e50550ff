"""The warnings and incidents of a situation report as CAP 1.2 alerts.

One ``<alert>`` per warning and per incident in scope, wrapped in one EDXL-DE 1.0 distribution
(the OASIS envelope for several CAP messages in one document; our own CAP parser reads it).
Elements follow the order of the CAP 1.2 schema. The text is written directly with escaping
instead of through an element tree: ten thousand alerts then take a fraction of a second.

Mapping decisions: ``status`` Actual, ``msgType`` Alert (a snapshot, not a thread of updates),
``scope`` Public for an unclassified report, else Restricted with the classification as
``<restriction>``; incidents are ``Observed`` with urgency Immediate (Past once resolved) and a
circle around their centroid (250 m, 2 km for area families); warnings keep their polygons
(holes dropped, as CAP has none) and their onset/expiry. AGS keys go into ``<geocode>``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, Final
from xml.sax.saxutils import escape

from situation_api.reports.i18n import word
from situation_api.reports.mapdraw import polygonal, polygons
from situation_api.reports.model import IncidentRow, SituationReport, WarningRow

CAP_NS: Final = "urn:oasis:names:tc:emergency:cap:1.2"
EDXL_NS: Final = "urn:oasis:names:tc:emergency:EDXL:DE:1.0"
_CATEGORY: Final = {
    "fire": "Fire",
    "flood": "Met",
    "accident": "Transport",
    "rescue": "Rescue",
    "medical": "Health",
    "hazmat": "CBRNE",
    "security": "Security",
    "infrastructure": "Infra",
    "weather": "Met",
    "capacity": "Health",
}
_AREA_FAMILIES: Final = frozenset({"flood", "infrastructure"})
_SEVERITY: Final = {
    "extreme": "Extreme",
    "severe": "Severe",
    "moderate": "Moderate",
    "minor": "Minor",
}
_UNCLASSIFIED: Final = frozenset({"offen", "unclassified", "open", "public"})


def cap_time(value: datetime) -> str:
    """CAP's dateTime: seconds, explicit offset, never 'Z'."""
    return value.astimezone(UTC).replace(microsecond=0).isoformat()


def _id(text: str) -> str:
    # CAP identifiers and sender: no spaces, commas or the XML-reserved < and &.
    return "".join("_" if c in " ,<&" or not c.isprintable() else c for c in text)


def _e(text: str) -> str:
    return escape(text)


def _category(category: str) -> str:
    return _CATEGORY.get(category.partition(".")[0], "Other")


def _header(report: SituationReport, sender: str, ident: str) -> list[str]:
    out = [
        f'<alert xmlns="{CAP_NS}">',
        f"<identifier>{_e(_id(f'{report.number}.{ident}'))}</identifier>",
        f"<sender>{_e(sender)}</sender>",
        f"<sent>{cap_time(report.at)}</sent>",
        "<status>Actual</status><msgType>Alert</msgType>",
    ]
    if report.classification.strip().lower() in _UNCLASSIFIED:
        out.append("<scope>Public</scope>")
    else:
        out.append(
            f"<scope>Restricted</scope><restriction>{_e(report.classification)}</restriction>"
        )
    out.append(f"<note>{_e(word('title', report.lang))} {_e(report.number)}</note>")
    return out


def _language(report: SituationReport) -> str:
    return "de-DE" if report.lang == "de" else "en-US"


def _parameters(values: Mapping[str, Any]) -> str:
    return "".join(
        f"<parameter><valueName>{_e(k)}</valueName><value>{_e(str(v))}</value></parameter>"
        for k, v in values.items()
        if v not in (None, "", 0)
    )


def _incident(report: SituationReport, row: IncidentRow, sender: str) -> str:
    out = _header(report, sender, row.id)
    urgency = "Immediate" if row.status == "open" else "Past"
    description = "; ".join(
        part
        for part in (
            f"{word('col_status', report.lang)}: {row.status}",
            f"{word('col_agencies', report.lang)}: {', '.join(row.agencies)}"
            if row.agencies
            else "",
        )
        if part
    )
    out += [
        f"<info><language>{_language(report)}</language>",
        f"<category>{_category(row.category)}</category>",
        f"<event>{_e(row.category)}</event>",
        f"<urgency>{urgency}</urgency>",
        f"<severity>{_SEVERITY.get(row.severity, 'Unknown')}</severity>",
        "<certainty>Observed</certainty>",
        f"<effective>{cap_time(row.last_seen)}</effective>",
        f"<onset>{cap_time(row.first_seen)}</onset>",
        f"<senderName>{_e(report.prepared_by)}</senderName>",
        f"<headline>{_e(row.title[:160])}</headline>",
        f"<description>{_e(description)}</description>",
        _parameters(
            {
                "lagezentrum:incident": row.id,
                "lagezentrum:status": row.status,
                **{f"lagezentrum:{k}": v for k, v in row.figures.as_dict().items()},
            }
        ),
        f"<area><areaDesc>{_e(row.district_name)}</areaDesc>",
    ]
    if row.lat is not None and row.lon is not None:
        radius = 2.0 if row.category.partition(".")[0] in _AREA_FAMILIES else 0.25
        out.append(f"<circle>{row.lat:.6f},{row.lon:.6f} {radius}</circle>")
    if row.district:
        out.append(f"<geocode><valueName>AGS</valueName><value>{row.district}</value></geocode>")
    out.append("</area></info></alert>")
    return "".join(out)


def _polygons(geometry: Mapping[str, Any] | None) -> Iterator[str]:
    geom = polygonal(geometry)
    if geom is None:
        return
    geom = geom.simplify(0.0005, preserve_topology=True)
    for polygon in polygons(geom):
        coords = list(polygon.exterior.coords)
        if len(coords) >= 4:
            yield " ".join(f"{lat:.5f},{lon:.5f}" for lon, lat in coords)


def _warning(report: SituationReport, row: WarningRow, sender: str) -> str:
    out = _header(report, sender, row.id)
    out += [
        f"<info><language>{_language(report)}</language>",
        f"<category>{_category(row.category)}</category>",
        f"<event>{_e(row.event or row.category)}</event>",
        f"<urgency>{'Expected' if row.status == 'pending' else 'Immediate'}</urgency>",
        f"<severity>{_SEVERITY.get(row.severity, 'Unknown')}</severity>",
        "<certainty>Likely</certainty>",
    ]
    if row.onset is not None:
        out.append(f"<onset>{cap_time(row.onset)}</onset>")
    if row.expires is not None:
        out.append(f"<expires>{cap_time(row.expires)}</expires>")
    if row.agency:
        out.append(f"<senderName>{_e(row.agency)}</senderName>")
    out.append(f"<headline>{_e(row.headline[:160])}</headline>")
    out.append(_parameters({"lagezentrum:warning": row.id}))
    names = [report.names.get(a, a) for a in row.districts]
    out.append(f"<area><areaDesc>{_e(', '.join(names) or row.headline)}</areaDesc>")
    out.extend(f"<polygon>{p}</polygon>" for p in _polygons(row.geometry))
    out.extend(
        f"<geocode><valueName>AGS</valueName><value>{a}</value></geocode>" for a in row.districts
    )
    out.append("</area></info></alert>")
    return "".join(out)


def render_cap(report: SituationReport, *, sender: str = "lagezentrum@rlp") -> bytes:
    sender = _id(sender)
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n',
        f'<EDXLDistribution xmlns="{EDXL_NS}">',
        f"<distributionID>{_e(report.number)}.cap</distributionID>",
        f"<senderID>{_e(sender)}</senderID>",
        f"<dateTimeSent>{cap_time(report.at)}</dateTimeSent>",
        "<distributionStatus>Actual</distributionStatus>",
        "<distributionType>Report</distributionType>",
        f"<combinedConfidentiality>{_e(report.classification)}</combinedConfidentiality>",
        f"<language>{_language(report)}</language>",
    ]
    alerts = [_warning(report, w, sender) for w in report.warnings]
    alerts += [_incident(report, i, sender) for i in report.incidents]
    for alert in alerts:
        parts.append(
            "\n<contentObject><xmlContent><embeddedXMLContent>"
            f"{alert}</embeddedXMLContent></xmlContent></contentObject>"
        )
    parts.append("\n</EDXLDistribution>\n")
    return "".join(parts).encode("utf-8")
