"""Canonical reports (contract 1) as one JSON object, a JSON array of objects, or JSON Lines.

Items are decoded straight into :class:`ingest.report.Report` (validation in C); a bad item is
rejected with its position (array index, or 0-based line number for JSON Lines) and never stops
the others. Only a payload that is not any of the three shapes raises :class:`FeedInvalid`.
"""

from __future__ import annotations

from typing import Final

import msgspec

from ingest.errors import FeedInvalid, ReportInvalid
from ingest.formats.common import check_count, strip_bom
from ingest.formats.result import ParseResult
from ingest.report import Report, decode_report

_ARRAY: Final = msgspec.json.Decoder(list[msgspec.Raw])
_ONE: Final = msgspec.json.Decoder(msgspec.Raw)


def _item(raw: bytes, index: int) -> Report | ReportInvalid:
    try:
        return decode_report(raw)
    except ReportInvalid as error:
        return error.at_index(index)
    except RecursionError:  # defensive: Report's typed fields bound the depth msgspec walks
        return ReportInvalid("$", "JSON nested too deeply", index=index)


def _collect(items: list[Report | ReportInvalid]) -> ParseResult:
    reports = tuple(i for i in items if isinstance(i, Report))
    rejected = tuple(i for i in items if isinstance(i, ReportInvalid))
    return ParseResult(reports=reports, rejected=rejected)


def _array(data: bytes) -> ParseResult:
    try:
        raws = _ARRAY.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        raise FeedInvalid(f"not a valid JSON array: {error}") from None
    except RecursionError:
        raise FeedInvalid("JSON nested too deeply") from None
    check_count(len(raws), "reports")
    return _collect([_item(bytes(raw), i) for i, raw in enumerate(raws)])


def _lines(data: bytes) -> ParseResult:
    lines = data.split(b"\n")
    check_count(sum(1 for line in lines if line.strip()), "lines")
    items = [_item(line, i) for i, line in enumerate(lines) if line.strip()]
    if all(isinstance(i, ReportInvalid) and i.reason.startswith("not valid JSON") for i in items):
        first = items[0]
        assert isinstance(first, ReportInvalid)
        raise FeedInvalid(f"neither a JSON object, a JSON array nor JSON Lines: {first.reason}")
    return _collect(items)


def parse_canonical(data: bytes) -> ParseResult:
    """Parse canonical reports; see the module docstring for the accepted shapes."""
    data = strip_bom(data)
    body = data.strip()
    if not body:
        raise FeedInvalid("empty payload")
    if body[:1] == b"[":
        return _array(body)
    if body[:1] != b"{":
        raise FeedInvalid("expected a JSON object, a JSON array of objects or JSON Lines")
    try:
        _ONE.decode(body)
    except msgspec.DecodeError as error:
        if b"\n" not in body:
            raise FeedInvalid(
                f"not valid JSON: {error} (one line, so not JSON Lines either)"
            ) from None
        return _lines(data)
    except RecursionError:
        raise FeedInvalid("JSON nested too deeply") from None
    return _collect([_item(body, 0)])
