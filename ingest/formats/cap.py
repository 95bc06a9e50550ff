"""OASIS CAP 1.0/1.1/1.2 → canonical reports. Pure: bytes in, :class:`ParseResult` out.

Decisions the sender should know about:

* XML is read with defusedxml and any DTD is refused outright (no entities, no external
  references, no billion laughs): CAP never needs a DTD. A wrong namespace is
  :class:`FeedUnsupported`; EDXL-DE 1.0 envelopes and SMHI's ``<alerts>`` list are unwrapped.
* Thread: ``source_id`` is the alert identifier; an Update/Cancel joins the thread of the FIRST
  identifier in ``<references>``; ``message_id``/``references`` let the engine follow longer
  chains. ``sequence`` is ``<sent>`` in epoch seconds, so later messages replace earlier ones.
* One report per alert from the primary ``<info>``: the first whose language matches
  ``languages`` (prefix match, in order), else the first info; other languages become
  ``alternates``. Several infos in the primary language (different events or areas) give one
  report each, ``source_id`` suffixed ``#2``, ``#3``… in document order, and the k-th info of
  every other language is the k-th report's alternate.
* A Cancel without ``<info>`` still withdraws its thread: one cancel report with category
  ``other.unspecified``. Ack/Error messages and System/Draft status are rejected, never reports.
* XML signatures (``ds:Signature``) are ignored, not verified: trust comes from the configured
  feed and its transport; an unverified "valid" badge would be worse than none.
* Recoverable defects are accepted with a warning naming the defect (missing ``<sender>``,
  ``<scope>``; missing/invalid ``<sent>`` → the info's effective/onset time; Update/Cancel with
  empty ``<references>``; unknown urgency/certainty dropped, unknown severity → ``unknown``;
  truncated texts; malformed polygons). Missing ``<identifier>``/``<status>`` reject the alert.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, Final
from xml.etree.ElementTree import Element

from ingest.errors import FeedInvalid, ReportInvalid
from ingest.formats.cap_area import AreaInput, AreaResult, build_area, describe_schemes
from ingest.formats.cap_mapping import (
    CATEGORY_TABLE,
    CERTAINTIES,
    MSG_TYPES,
    NOT_A_REPORT_MSG_TYPES,
    NOT_FOR_THE_PICTURE_STATUSES,
    SEVERITIES,
    STATUSES,
    URGENCIES,
    category_of,
    clipped,
    limited_id,
    parse_time,
    printable,
    sequence_of,
    source_of,
)
from ingest.formats.edxl import alerts_in, read_xml
from ingest.formats.result import ParseResult
from ingest.report import Report, Source, report_from_mapping

MAX_ALERTS: Final = 10_000
MAX_REFERENCES: Final = 100
MAX_ALTERNATES: Final = 20
DEFAULT_LANGUAGE: Final = "en-US"  # CAP 1.2 §3.2.2: <language> absent means en-US

Warn = Callable[[str], None]


class _Fields:
    """The children of one CAP element in its namespace, by local name (document order)."""

    __slots__ = ("_by_name",)

    def __init__(self, element: Element, namespace: str) -> None:
        prefix = "{" + namespace + "}"
        self._by_name: dict[str, list[Element]] = {}
        for child in element:
            tag = child.tag
            if isinstance(tag, str) and tag.startswith(prefix):
                self._by_name.setdefault(tag[len(prefix) :], []).append(child)

    def all(self, name: str) -> list[Element]:
        return self._by_name.get(name, [])

    def has(self, name: str) -> bool:
        return name in self._by_name

    def text(self, name: str) -> str | None:
        elements = self._by_name.get(name)
        return _text(elements[0]) if elements else None

    def texts(self, name: str) -> list[str]:
        return [t for t in (_text(e) for e in self._by_name.get(name, [])) if t]


def _text(element: Element) -> str | None:
    text = (element.text or "").strip()
    return text or None


@dataclass(frozen=True, slots=True)
class _Header:
    """What every info of one alert shares."""

    identifier: str
    sender: str | None
    sent: datetime | None
    status: str
    msg_type: str
    references: tuple[str, ...]  # as in the payload (printable), not yet length-limited
    namespace: str


def parse_cap(
    data: bytes, *, source: Source | None = None, languages: Sequence[str] = ("de", "en")
) -> ParseResult:
    """All reports of a CAP payload (one alert, an EDXL-DE envelope or an ``<alerts>`` list).

    Raises :class:`FeedInvalid` (or :class:`FeedUnsupported`) when the payload as a whole is
    unusable; a bad alert or info lands in ``rejected`` with its alert index.
    """
    root = read_xml(data)
    alerts, warnings = alerts_in(root)
    if len(alerts) > MAX_ALERTS:
        raise FeedInvalid(f"{len(alerts)} alerts in one payload; at most {MAX_ALERTS} allowed")
    wanted = tuple(lang.lower() for lang in languages if lang)
    reports: list[Report] = []
    rejected: list[ReportInvalid] = []
    for index, (element, namespace) in enumerate(alerts):
        for outcome in _alert(element, namespace, source, wanted, warnings):
            if isinstance(outcome, Report):
                reports.append(outcome)
            else:
                rejected.append(outcome.at_index(index))
    return ParseResult(tuple(reports), tuple(rejected), tuple(warnings))


def _alert(
    element: Element,
    namespace: str,
    source: Source | None,
    languages: tuple[str, ...],
    warnings: list[str],
) -> list[Report | ReportInvalid]:
    fields = _Fields(element, namespace)
    try:
        header = _header(fields, namespace, warnings)
    except ReportInvalid as error:
        return [error]
    label = f"alert {header.identifier[:80]}"

    def warn(message: str) -> None:
        warnings.append(f"{label}: {message}")

    infos = [_Fields(info, namespace) for info in fields.all("info")]
    if not infos:
        if header.msg_type != "cancel":
            return [ReportInvalid("$.info", "no <info> block: nothing to report "
                                  "(only a Cancel may omit it)")]  # fmt: skip
        return [_guarded(partial(_bare_cancel, header, source, warn))]

    groups: dict[str, list[_Fields]] = {}
    for info in infos:
        language = (info.text("language") or DEFAULT_LANGUAGE)[:35]
        groups.setdefault(language.lower(), []).append(info)
    primary = _primary_language(list(groups), languages)
    outcomes: list[Report | ReportInvalid] = []
    for k, info in enumerate(groups[primary]):
        others = [
            infos_[k] for lang, infos_ in groups.items() if lang != primary and k < len(infos_)
        ]
        suffix = f"#{k + 1}" if k else ""
        outcomes.append(_guarded(partial(_info_report, header, info, others, suffix, source, warn)))
    return outcomes


def _guarded(build: Callable[[], Report]) -> Report | ReportInvalid:
    try:
        report = build()
    except ReportInvalid as error:
        return error
    return report


def _primary_language(available: list[str], wanted: tuple[str, ...]) -> str:
    for preference in wanted:
        for language in available:
            if language == preference or language.startswith(preference + "-"):
                return language
    return available[0]


def _header(fields: _Fields, namespace: str, warnings: list[str]) -> _Header:
    raw_identifier = fields.text("identifier")
    if raw_identifier is None:
        raise ReportInvalid("$.identifier", "is required: <identifier> missing or empty")
    identifier = printable(raw_identifier)
    label = f"alert {identifier[:80]}"

    def warn(message: str) -> None:
        warnings.append(f"{label}: {message}")

    if identifier != raw_identifier:
        warn("identifier: white space or control characters replaced by '_'")
    status_text = fields.text("status")
    if status_text is None:
        raise ReportInvalid("$.status", "is required: <status> missing (Actual, Exercise, Test)")
    status = STATUSES.get(status_text.lower())
    if status is None:
        if status_text.lower() in NOT_FOR_THE_PICTURE_STATUSES:
            reason = f"'{status_text}' messages are not situation reports (only Actual, " \
                     "Exercise and Test are accepted)"  # fmt: skip
        else:
            reason = f"'{status_text[:40]}' is not a CAP status (Actual, Exercise, Test)"
        raise ReportInvalid("$.status", reason)
    type_text = fields.text("msgType")
    if type_text is None:
        warn("msgType: missing (required by CAP); treated as Alert")
        msg_type = "alert"
    elif type_text.lower() in NOT_A_REPORT_MSG_TYPES:
        raise ReportInvalid("$.msgType", f"'{type_text}' acknowledges or reports an error about "
                            "other messages; it is not a situation report")  # fmt: skip
    elif type_text.lower() in MSG_TYPES:
        msg_type = MSG_TYPES[type_text.lower()]
    else:
        raise ReportInvalid("$.msgType", f"'{type_text[:40]}' is not a CAP msgType "
                            "(Alert, Update, Cancel)")  # fmt: skip
    sender = fields.text("sender")
    if sender is None:
        warn("sender: missing (required by CAP); agency taken from senderName")
    sent_text = fields.text("sent")
    sent = parse_time(sent_text)
    if sent is None:
        problem = (
            "missing" if sent_text is None else f"'{sent_text[:40]}' is no date-time with offset"
        )
        warn(f"sent: {problem}; the info's effective/onset time is used instead")
    if not fields.has("scope"):
        warn("scope: missing (required by CAP); ignored")
    references = _references(fields, msg_type, warn)
    return _Header(identifier, sender, sent, status, msg_type, references, namespace)


def _references(fields: _Fields, msg_type: str, warn: Warn) -> tuple[str, ...]:
    text = fields.text("references") or ""
    identifiers: dict[str, None] = {}
    for entry in text.split():
        parts = entry.split(",")
        if len(parts) == 3 and parts[1].strip():
            identifiers[printable(parts[1].strip())] = None
        else:
            warn(f"references: '{entry[:60]}' is not 'sender,identifier,sent'; skipped")
    result = tuple(identifiers)
    if len(result) > MAX_REFERENCES:
        warn(f"references: {len(result)} entries, kept the first {MAX_REFERENCES}")
        result = result[:MAX_REFERENCES]
    if not result and msg_type in ("update", "cancel"):
        state = "empty" if fields.has("references") else "missing"
        warn(f"references: {state} on an {msg_type.title()}; it cannot join the thread it "
             "updates and starts its own")  # fmt: skip
    elif not text and fields.has("references"):
        warn("references: empty <references> element ignored")
    return result


def _thread(header: _Header, suffix: str) -> str:
    base = header.identifier
    if header.msg_type in ("update", "cancel") and header.references:
        base = header.references[0]
    return limited_id(base, 128 - len(suffix)) + suffix


def _common(header: _Header, source: Source, suffix: str, observed: datetime) -> dict[str, Any]:
    return {
        "source": source,
        "source_id": _thread(header, suffix),
        "sequence": sequence_of(header.sent or observed),
        "msg_type": header.msg_type,
        "status": header.status,
        "observed_at": observed,
        "message_id": limited_id(header.identifier, 256),
        "references": [limited_id(r, 256) for r in header.references],
        "feed_format": "cap",
    }


def _bare_cancel(header: _Header, source: Source | None, warn: Warn) -> Report:
    if header.sent is None:
        raise ReportInvalid("$.sent", "a Cancel without <info> needs a valid <sent> time")
    chosen = source or source_of(None, header.sender)
    if source is None:
        warn(f"info: none on this Cancel; source guessed as '{chosen}' (pass the feed's source "
             "so the cancel meets the thread it withdraws)")  # fmt: skip
    mapping = _common(header, chosen, "", header.sent)
    mapping["category"] = "other.unspecified"
    if header.sender:
        mapping["agency"] = clipped(header.sender, 200)[0]
    return report_from_mapping(mapping)


def _enum(
    info: _Fields, name: str, allowed: Mapping[str, str], warn: Warn, fallback: str | None = None
) -> str | None:
    """The lower-case CAP value; absent or unknown values fall back with a warning."""
    text = info.text(name)
    outcome = "treated as unknown" if fallback else "left out"
    if text is None:
        warn(f"{name}: {'empty' if info.has(name) else 'missing'} (required by CAP); {outcome}")
        return fallback
    value = allowed.get(" ".join(text.lower().split()))
    if value is None:
        warn(f"{name}: '{text[:40]}' is not a CAP value; {outcome}")
        return fallback
    return value


def _time(info: _Fields, name: str, warn: Warn) -> datetime | None:
    text = info.text(name)
    value = parse_time(text)
    if text is not None and value is None:
        warn(f"{name}: '{text[:40]}' is no date-time with offset; ignored")
    return value


def _clip(text: str | None, limit: int, name: str, warn: Warn) -> str | None:
    value, truncated = clipped(text, limit)
    if truncated:
        warn(f"{name}: {len((text or '').strip())} characters truncated to {limit}")
    return value


def _info_report(
    header: _Header,
    info: _Fields,
    others: list[_Fields],
    suffix: str,
    source: Source | None,
    warn: Warn,
) -> Report:
    categories = info.texts("category")
    known = [c for c in categories if c.lower() in CATEGORY_TABLE]
    if not known:
        what = f"'{categories[0][:40]}' is not a CAP category" if categories else "missing"
        warn(f"category: {what}; treated as Other")
    cap_category = known[0] if known else None
    event = info.text("event")
    if event is None:
        warn("event: missing (required by CAP)")
    codes = [
        t for code in info.all("eventCode") for t in _Fields(code, header.namespace).texts("value")
    ]
    onset = _time(info, "onset", warn)
    effective = _time(info, "effective", warn)
    expires = _time(info, "expires", warn)
    observed = onset or effective or header.sent
    if observed is None:
        raise ReportInvalid("$.sent", "no usable time: <sent> missing or invalid and the info "
                            "has neither <onset> nor <effective>")  # fmt: skip
    if expires is not None and expires < observed:
        warn(f"expires: {expires.isoformat()} is before {observed.isoformat()}; dropped")
        expires = None
    area = _area(info, header.namespace)
    for message in area.warnings:
        warn(message)
    if area.geometry is None and not area.area_codes and header.msg_type != "cancel":
        if not area.geocodes:
            raise ReportInvalid("$.info.area", "no polygon, circle or geocode")
        # Kept as a report so nothing is lost, but it cannot be placed on the RLP map.
        warn(f"area: only geocodes {describe_schemes(area.foreign_schemes)}, which are not "
             "German ARS/AGS; the alert cannot be located")  # fmt: skip
    mapping = _common(header, source or source_of(cap_category, header.sender), suffix, observed)
    mapping.update({
        "category": category_of(cap_category, event, codes),
        "severity": _enum(info, "severity", SEVERITIES, warn, "unknown"),
        "urgency": _enum(info, "urgency", URGENCIES, warn),
        "certainty": _enum(info, "certainty", CERTAINTIES, warn),
        "onset_at": onset,
        "expires_at": expires,
        "geometry": area.geometry,
        "area_codes": area.area_codes,
        "geocodes": area.geocodes,
        "headline": _clip(info.text("headline"), 200, "headline", warn),
        "description": _clip(info.text("description"), 5000, "description", warn),
        "event": _clip(event, 200, "event", warn),
        "language": (info.text("language") or DEFAULT_LANGUAGE)[:35],
        "agency": _clip(info.text("senderName") or header.sender, 200, "senderName", warn),
        "alternates": _alternates(others, warn),
    })  # fmt: skip
    return report_from_mapping({key: value for key, value in mapping.items() if value is not None})


def _area(info: _Fields, namespace: str) -> AreaResult:
    raw = AreaInput()
    for element in info.all("area"):
        area = _Fields(element, namespace)
        raw.polygons.extend(_text(e) or "" for e in area.all("polygon"))
        raw.circles.extend(area.texts("circle"))
        for geocode in area.all("geocode"):
            pair = _Fields(geocode, namespace)
            raw.geocodes.append((pair.text("valueName") or "", pair.text("value") or ""))
    return build_area(raw)


def _alternates(others: list[_Fields], warn: Warn) -> list[dict[str, str]]:
    if len(others) > MAX_ALTERNATES:
        warn(f"info: {len(others)} other languages, kept the first {MAX_ALTERNATES}")
        others = others[:MAX_ALTERNATES]
    result = []
    for other in others:
        alternate = {"language": (other.text("language") or DEFAULT_LANGUAGE)[:35]}
        for name, limit in (("headline", 200), ("description", 5000)):
            value = _clip(other.text(name), limit, f"{alternate['language']} {name}", warn)
            if value is not None:
                alternate[name] = value
        result.append(alternate)
    return result
