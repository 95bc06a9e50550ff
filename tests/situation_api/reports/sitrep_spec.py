"""A table of the EDXL-SitRep 1.0 structure and a checker of documents against it.

The official XSD is not available here, so the table below is what the sources say:

* EDXLSharp (``1stResponder/em-serializers``, ``EDXL/EMS.EDXL.SitRep``): element names and
  order from its XmlSerializer attributes — SitRepv1_0.cs (header order), Reports/
  SituationInformationReport.cs, IncidentInformationType.cs, SubIncidentInformationType.cs,
  JurisdictionInformationType.cs, GeographicSizeType.cs, IncidentKindDefaultValues.cs;
  ``EDXL/EMS.EDXL.CT`` PersonTimePairType.cs, TimePeriod.cs, ValueList.cs, GeoCodeType.cs.
* ``ContextManagerREST.CEP.SituationReaction.EDXL`` SitRepType / IncidentInformationType:
  multiplicities quoted from the specification (incidentID [1..*], reportTitle [0..1],
  incidentName [1..*], geographicSize [1..1], incidentLocation [1..1], …).
* An implementation validated against the published schema tree (the ResQKit EDXL-SitRep
  adapter): EDXLLocationType is a choice of ct:EDXLGeoPoliticalLocation (ct:geoCode with
  ct:valueListURI and ct:value) and ct:EDXLGeoLocation (gml:point with gml:pos).

Where no source gives a multiplicity (GeographicSizeType, JurisdictionInformationType,
SubIncidentInformationType) the table is strict: at most once, and required what EDXLSharp
always writes (its non-nullable value types).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from xml.etree import ElementTree as ET

from situation_api.reports.sitrep import CT_NS, GML_NS, SITREP_NS, XNL_NS

S, CT, GML = SITREP_NS, CT_NS, GML_NS
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
MANY = None  # maxOccurs="unbounded"
LEAF = "leaf"  # simple content, no child elements
OPAQUE = "opaque"  # a type from another specification (CIQ person), not walked


@dataclass(frozen=True)
class Particle:
    ns: str
    name: str
    min: int
    max: int | None
    type: str = LEAF


SEQUENCES: dict[str, tuple[Particle, ...]] = {
    # EDXLSharp SitRepv1_0.cs order; multiplicities from ContextManagerREST SitRepType.
    "SitRepType": (
        Particle(S, "messageID", 1, 1),
        Particle(S, "preparedBy", 1, 1, "PersonTimePairType"),
        Particle(S, "authorizedBy", 1, 1, "PersonTimePairType"),
        Particle(S, "reportPurpose", 1, 1),
        Particle(S, "reportNumber", 1, 1),
        Particle(S, "reportVersion", 1, 1),
        Particle(S, "forTimePeriod", 1, 1, "TimePeriodType"),
        Particle(S, "reportTitle", 0, 1),
        Particle(S, "incidentID", 1, MANY),
        Particle(S, "incidentLifecyclePhase", 0, MANY),
        Particle(S, "originatingMessageID", 0, 1),
        Particle(S, "precedingMessageID", 0, MANY),
        Particle(S, "urgency", 0, 1),
        Particle(S, "reportConfidence", 1, 1),
        Particle(S, "severity", 1, 1),
        Particle(S, "reportingLocation", 0, 1, "EDXLLocationType"),
        Particle(S, "actionPlan", 0, 1),
        Particle(S, "nextContact", 0, 1),
        Particle(S, "report", 1, 1, "xsi:type"),
    ),
    "PersonTimePairType": (
        Particle(CT, "personDetails", 1, 1, OPAQUE),
        Particle(CT, "timeValue", 1, 1),
    ),
    "TimePeriodType": (Particle(CT, "fromDateTime", 1, 1), Particle(CT, "toDateTime", 1, 1)),
    "SituationInformationType": (
        Particle(S, "primaryIncidentInformation", 0, 1, "IncidentInformationType"),
        Particle(S, "subIncidentInformation", 0, MANY, "SubIncidentInformationType"),
    ),
    "IncidentInformationType": (
        Particle(S, "incidentName", 1, MANY),
        Particle(S, "incidentKind", 0, MANY),
        Particle(S, "incidentComplexity", 0, 1),
        Particle(S, "incidentStartDateTime", 0, 1),  # EDXLSharp: "IncidentStartDateTime"
        Particle(S, "geographicSize", 1, 1, "GeographicSizeType"),
        Particle(S, "disasterInformation", 0, MANY, OPAQUE),
        Particle(S, "incidentLocation", 1, 1, "EDXLLocationType"),
        Particle(S, "jurisdictionInformation", 0, MANY, "JurisdictionInformationType"),
        Particle(S, "incidentStaging", 0, MANY, OPAQUE),
    ),
    "SubIncidentInformationType": (Particle(S, "subIncident", 1, MANY, "IncidentInformationType"),),
    "GeographicSizeType": (
        Particle(S, "size", 1, 1),
        Particle(S, "isEstimate", 1, 1),
        Particle(S, "remarks", 0, 1),
    ),
    "JurisdictionInformationType": (
        Particle(S, "name", 1, 1),
        Particle(S, "geographicSize", 0, 1, "GeographicSizeType"),
        Particle(S, "location", 0, 1, "EDXLLocationType"),
        Particle(S, "description", 0, 1),
    ),
    "EDXLGeoPoliticalLocationType": (Particle(CT, "geoCode", 1, MANY, "ValueListType"),),
    "ValueListType": (Particle(CT, "valueListURI", 1, 1), Particle(CT, "value", 1, MANY)),
    "EDXLGeoLocationType": (Particle(GML, "point", 1, 1, "PointType"),),
    "PointType": (Particle(GML, "pos", 1, 1),),
}
CHOICES: dict[str, tuple[Particle, ...]] = {
    "EDXLLocationType": (
        Particle(CT, "EDXLGeoPoliticalLocation", 1, 1, "EDXLGeoPoliticalLocationType"),
        Particle(CT, "EDXLGeoLocation", 1, 1, "EDXLGeoLocationType"),
    ),
}
# EDXLSharp IncidentKindDefaultValues.cs (its spelling "FireSupressionAndRescue" is never used).
INCIDENT_KINDS = frozenset(
    {
        "Geophysical", "Meteorological", "GeneralEmergency", "Safety", "Security",
        "RescueAndRecovery", "Rescue", "FireSupressionAndRescue", "Fire",
        "MedicalAndPublicHealth", "Health", "PollutionAndEnvironmentalHazards",
        "PublicAndPrivateTransportation", "Transport",
        "UtilityTelecommunicationOtherNonTransportInfrastructure", "CBRNE",
    }
)  # fmt: skip
ENUMS: dict[str, frozenset[str]] = {
    "reportVersion": frozenset({"Initial", "Update", "Final"}),
    "urgency": frozenset({"Immediate", "Expected", "Future", "Past", "Unknown"}),
    "severity": frozenset({"Extreme", "Severe", "Moderate", "Minor", "Unknown"}),
    "reportConfidence": frozenset(
        {"HighlyConfident", "SomewhatConfident", "Unsure", "NoConfidence"}
    ),
    "incidentKind": INCIDENT_KINDS,
    "isEstimate": frozenset({"true", "false"}),
}
EDXL_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d")
TIMES = frozenset({"timeValue", "fromDateTime", "toDateTime", "incidentStartDateTime"})
NAMESPACES = frozenset({S, CT, GML, XNL_NS})


def _split(tag: str) -> tuple[str, str]:
    ns, _, name = tag[1:].partition("}")
    return ns, name


def _leaf(element: ET.Element, path: str, errors: list[str]) -> None:
    if len(element):
        errors.append(f"{path}: simple content expected, has child elements")
    text = (element.text or "").strip()
    if not text:
        errors.append(f"{path}: empty")
    name = _split(element.tag)[1]
    if name in ENUMS and text not in ENUMS[name]:
        errors.append(f"{path}: {text!r} is not a default value")
    if name in TIMES and not EDXL_TIME.fullmatch(text):
        errors.append(f"{path}: {text!r} is not an EDXL dateTime")
    if name in ("size", "reportNumber") and not text.isdigit():
        errors.append(f"{path}: {text!r} is not a non-negative integer")


def _check(element: ET.Element, type_name: str, path: str, errors: list[str]) -> None:
    if type_name == LEAF:
        _leaf(element, path, errors)
        return
    if type_name == OPAQUE:
        return
    if type_name == "xsi:type":
        declared = element.get(XSI_TYPE, "")
        prefix, _, local = declared.rpartition(":")
        if prefix != "sitrep" or local not in SEQUENCES:
            errors.append(f"{path}: xsi:type {declared!r}")
            return
        type_name = local
    children = list(element)
    if type_name in CHOICES:
        options = {(p.ns, p.name): p for p in CHOICES[type_name]}
        if len(children) != 1 or _split(children[0].tag) not in options:
            errors.append(f"{path}: exactly one of {sorted(n for _, n in options)} expected")
            return
        chosen = options[_split(children[0].tag)]
        _check(children[0], chosen.type, f"{path}/{chosen.name}", errors)
        return
    particles = SEQUENCES[type_name]
    at = 0
    counts = [0] * len(particles)
    for child in children:
        key = _split(child.tag)
        while at < len(particles) and (particles[at].ns, particles[at].name) != key:
            at += 1
        if at == len(particles):
            errors.append(f"{path}: {key[1]} ({key[0]}) not allowed here in {type_name}")
            return
        particle = particles[at]
        counts[at] += 1
        _check(child, particle.type, f"{path}/{particle.name}", errors)
    for particle, count in zip(particles, counts, strict=True):
        if count < particle.min:
            errors.append(f"{path}: {particle.name} missing (min {particle.min})")
        if particle.max is not None and count > particle.max:
            errors.append(f"{path}: {particle.name} {count} times (max {particle.max})")


def conformance_errors(document: bytes) -> list[str]:
    """Everything in ``document`` that contradicts the table (empty: conforms)."""
    if not document.startswith(b"<?xml version='1.0' encoding='utf-8'?>"):
        return ["no XML declaration naming UTF-8"]
    try:
        root = ET.fromstring(document)  # not well-formed: ParseError
    except ET.ParseError as error:
        return [f"not well-formed: {error}"]
    errors: list[str] = []
    if root.tag != f"{{{S}}}sitRep":
        errors.append(f"root is {root.tag}")
    for element in root.iter():
        if _split(element.tag)[0] not in NAMESPACES:
            errors.append(f"{element.tag}: foreign namespace")
    ids = [p.get(f"{{{GML}}}Id", "") for p in root.iter(f"{{{GML}}}point")]
    if len(set(ids)) != len(ids) or not all(re.fullmatch(r"[A-Za-z_][\w.-]*", i) for i in ids):
        errors.append("gml:Id values not unique NCNames")
    _check(root, "SitRepType", "/sitRep", errors)
    return errors
