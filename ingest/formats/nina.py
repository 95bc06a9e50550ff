"""NINA / warnung.bund.de JSON (BBK): CAP-as-JSON alerts and api31 dashboard summaries.

Shapes read: the legacy feeds (``gefahrendurchsagen.json``, ``unwetter.json``, ...: a JSON array
of alerts), api31 ``/warnings/{id}.json`` (one alert), an object mapping ids to alerts, and api31
``/dashboard/{ARS}.json`` (a list of summaries). Alerts map to reports by the same rules as the
CAP parser (lower-cased enumerations, thread from ``identifier``/``references``); see
:mod:`ingest.formats.nina_rules` for the category and source rules and the polygon syntax.

Dashboard summaries carry no geometry. With ``ars=`` (the ARS the dashboard was requested for)
each summary becomes a report whose ``area_codes`` is that ARS; without it every summary is
rejected naming ``$.payload.data.area``: guessing an area would put warnings on the wrong map.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from ingest.errors import FeedInvalid, ReportInvalid
from ingest.formats.cap_mapping import limited_id, printable, sequence_of
from ingest.formats.common import (
    MAX_DESCRIPTION,
    MAX_EVENT,
    MAX_HEADLINE,
    check_count,
    clipped,
    decode_json,
)
from ingest.formats.nina_rules import (
    CERTAINTIES,
    SEVERITIES,
    URGENCIES,
    area_codes,
    category_of,
    event_codes,
    geometry_of,
    lower_enum,
    references_of,
    source_of,
    timestamp,
)
from ingest.formats.result import ParseResult
from ingest.report import Report, Source, report_from_mapping

_ARS_DIGITS: Final = 12


def parse_nina(data: bytes, *, source: Source | None = None, ars: str | None = None) -> ParseResult:
    """Parse a NINA payload; ``source`` overrides the derived source, ``ars`` places
    dashboard summaries (see the module docstring)."""
    if ars is not None and not (ars.isascii() and ars.isdigit() and 2 <= len(ars) <= 12):
        raise ValueError(f"ars must be 2 to {_ARS_DIGITS} digits, got {ars!r}")
    doc = decode_json(data)
    items = _items(doc)
    check_count(len(items), "warnings")
    reports: list[Report] = []
    rejected: list[ReportInvalid] = []
    warnings: list[str] = []
    for index, item in enumerate(items):
        notes: list[str] = []
        try:
            if not isinstance(item, dict):
                raise ReportInvalid("$", f"expected an object, got {type(item).__name__}")
            if "payload" in item and "info" not in item:
                fields = _summary(item, source, ars, notes)
            else:
                fields = _alert(item, source, notes)
            reports.append(report_from_mapping(fields))
        except ReportInvalid as error:
            rejected.append(error.at_index(index))
        label = item.get("identifier") or item.get("id") if isinstance(item, dict) else None
        warnings.extend(f"item {index} ({label}): {note}" for note in notes)
    return ParseResult(tuple(reports), tuple(rejected), tuple(warnings))


def _items(doc: Any) -> list[Any]:
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict):
        if "identifier" in doc or "info" in doc:
            return [doc]  # api31 /warnings/{id}.json
        if doc and all(isinstance(v, dict) and "identifier" in v for v in doc.values()):
            return list(doc.values())  # id -> alert, as clients cache /warnings/ responses
    raise FeedInvalid("not a NINA warning, list of warnings or dashboard")


def _text(obj: Mapping[str, Any], key: str, where: str) -> str | None:
    value = obj.get(key)
    if value is None or isinstance(value, str):
        return value
    raise ReportInvalid(f"{where}.{key}", f"expected a string, got {type(value).__name__}")


def _primary(infos: list[Any]) -> tuple[int, dict[str, Any]] | None:
    """German first (language prefix ``de``), else the first info block."""
    blocks = [(k, i) for k, i in enumerate(infos) if isinstance(i, dict)]
    for k, info in blocks:
        if str(info.get("language") or "de").lower().startswith("de"):
            return k, info
    return blocks[0] if blocks else None


def _alert(alert: dict[str, Any], override: Source | None, notes: list[str]) -> dict[str, Any]:
    identifier = _text(alert, "identifier", "$")
    if not identifier or not identifier.strip():
        raise ReportInvalid("$.identifier", "is required")
    sender = _text(alert, "sender", "$") or ""
    sent = timestamp(alert.get("sent"), "$.sent", required=True)
    assert sent is not None
    msg_type = lower_enum(alert.get("msgType"), "$.msgType", ("alert", "update", "cancel"))
    status = lower_enum(alert.get("status"), "$.status", ("actual", "exercise", "test"))
    references = references_of(_text(alert, "references", "$"), notes)
    identifier = printable(identifier.strip())
    thread = references[0] if references and msg_type != "alert" else identifier
    infos = alert.get("info") or []
    if not isinstance(infos, list):
        raise ReportInvalid("$.info", "expected a list of info blocks")
    chosen = _primary(infos)
    fields: dict[str, Any] = {
        "source": override or source_of(sender, identifier, str(alert.get("source") or "")),
        "source_id": limited_id(thread, 128),
        "message_id": limited_id(identifier, 256),
        "references": references,
        "sequence": sequence_of(sent),
        "msg_type": msg_type,
        "status": status,
        "feed_format": "nina",
        "agency": sender or None,
    }
    if len(references) > 100:
        notes.append(f"references: {len(references)} identifiers, kept the first 100")
        fields["references"] = references[:100]
    if chosen is None:
        if msg_type != "cancel":
            raise ReportInvalid("$.info", "an Alert or Update needs at least one info block")
        notes.append("info: Cancel without info block; category 'other.unspecified'")
        fields.update(category="other.unspecified", observed_at=sent)
        return fields
    k, info = chosen
    fields.update(_info(info, f"$.info[{k}]", sent, notes))
    fields["category"] = category_of(info, sender, identifier, str(alert.get("source") or ""))
    fields["alternates"] = [
        {
            "language": str(other.get("language") or "")[:35],
            "headline": clipped(other.get("headline"), MAX_HEADLINE, "alternate headline", notes),
            "description": clipped(
                other.get("description"), MAX_DESCRIPTION, "alternate description", notes
            ),
        }
        for j, other in enumerate(infos)
        if j != k and isinstance(other, dict)
    ][:20]
    return fields


def _info(info: dict[str, Any], where: str, sent: datetime, notes: list[str]) -> dict[str, Any]:
    onset = timestamp(info.get("onset"), f"{where}.onset")
    effective = timestamp(info.get("effective"), f"{where}.effective")
    expires = timestamp(info.get("expires"), f"{where}.expires")
    fields: dict[str, Any] = {
        "observed_at": onset or effective or sent,
        "onset_at": onset,
        "expires_at": expires,
        "severity": lower_enum(
            info.get("severity"), f"{where}.severity", SEVERITIES, default="unknown", notes=notes
        ),
        "urgency": lower_enum(info.get("urgency"), f"{where}.urgency", URGENCIES, notes=notes),
        "certainty": lower_enum(
            info.get("certainty"), f"{where}.certainty", CERTAINTIES, notes=notes
        ),
        "language": (_text(info, "language", where) or "")[:35] or None,
        "event": clipped(_text(info, "event", where), MAX_EVENT, "event", notes),
        "headline": clipped(_text(info, "headline", where), MAX_HEADLINE, "headline", notes),
        "description": clipped(
            _text(info, "description", where), MAX_DESCRIPTION, "description", notes
        ),
    }
    sender_name = _text(info, "senderName", where)
    if sender_name:
        fields["agency"] = sender_name[:200]
    areas = info.get("area") or []
    if not isinstance(areas, list):
        raise ReportInvalid(f"{where}.area", "expected a list of areas")
    fields["geometry"] = geometry_of(areas, f"{where}.area", notes)
    fields["area_codes"] = area_codes(areas, notes)
    return {key: value for key, value in fields.items() if value is not None}


def _summary(
    item: dict[str, Any], override: Source | None, ars: str | None, notes: list[str]
) -> dict[str, Any]:
    """One api31 dashboard entry (``id``, ``payload.data``, ``sent``, ``onset``, ``expires``)."""
    identifier = _text(item, "id", "$")
    if not identifier or not identifier.strip():
        raise ReportInvalid("$.id", "is required")
    payload = item.get("payload")
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, dict):
        raise ReportInvalid("$.payload.data", "is required")
    if ars is None:
        raise ReportInvalid(
            "$.payload.data.area",
            "dashboard summaries carry no geometry; parse with ars=<ARS of the dashboard>",
        )
    sent = timestamp(item.get("sent"), "$.sent", required=True)
    assert sent is not None
    onset = timestamp(item.get("onset"), "$.onset")
    provider = str(data.get("provider") or "")
    trans_keys = data.get("transKeys")
    code = trans_keys.get("event") if isinstance(trans_keys, dict) else None
    pseudo_info = {"category": [], "event": "", "eventCode": [{"value": code}] if code else []}
    if provider.upper() == "DWD":
        pseudo_info["category"] = ["Met"]
    headline = _text(data, "headline", "$.payload.data")
    identifier = printable(identifier.strip())
    return {
        "source": override or source_of(provider, identifier, provider),
        "source_id": limited_id(identifier, 128),
        "message_id": limited_id(identifier, 256),
        "sequence": sequence_of(sent),
        "msg_type": lower_enum(
            data.get("msgType"), "$.payload.data.msgType", ("alert", "update", "cancel")
        ),
        "status": "actual",
        "severity": lower_enum(
            data.get("severity"),
            "$.payload.data.severity",
            SEVERITIES,
            default="unknown",
            notes=notes,
        ),
        "category": category_of(pseudo_info, provider, identifier, provider),
        "observed_at": onset or sent,
        "onset_at": onset,
        "expires_at": timestamp(item.get("expires"), "$.expires"),
        "area_codes": [ars],
        "headline": clipped(headline, MAX_HEADLINE, "headline", notes),
        "event": code,
        "feed_format": "nina",
    }


__all__ = ["event_codes", "parse_nina"]
