"""Feed formats: detection by name and content, and one ``parse`` entry point.

Parsers are imported lazily so that reading one format never pays for the others (the CAP
parser pulls in XML machinery). Every parser is pure: ``bytes -> ParseResult`` or FeedInvalid.
"""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import Any, Final

from ingest.errors import FeedUnsupported
from ingest.formats.result import ParseResult

FORMATS: Final = ("canonical", "jsonl", "json", "cap", "nina", "geojson", "csv")
_ALIASES: Final = {"jsonl": "canonical", "json": "canonical", "ndjson": "canonical"}
_BY_SUFFIX: Final = {
    ".jsonl": "canonical", ".ndjson": "canonical", ".json": "canonical",
    ".xml": "cap", ".cap": "cap", ".edxlde": "cap", ".geojson": "geojson", ".csv": "csv",
}  # fmt: skip
_SNIFF: Final = 64 * 1024  # enough to see the first keys even after a long first polygon
_GEOJSON: Final = re.compile(rb'"type"\s*:\s*"(FeatureCollection|Feature)"')
_NINA_ALERT: Final = re.compile(rb'"identifier"\s*:')
_NINA_DASHBOARD: Final = re.compile(rb'"payload"\s*:\s*\{')


def _json_kind(head: bytes) -> str:
    """Canonical unless the JSON looks like NINA (alerts with identifier and info, or dashboard
    summaries) or GeoJSON. Only the head is inspected: payloads can be many megabytes."""
    if _GEOJSON.search(head):
        return "geojson"
    if (_NINA_ALERT.search(head) and b'"info"' in head) or _NINA_DASHBOARD.search(head):
        return "nina"
    return "canonical"


def detect_format(name: str, data: bytes) -> str:
    """The format of a payload, from its file name (or content type suffix) and first bytes."""
    head = data[:_SNIFF].lstrip(b"\xef\xbb\xbf \t\r\n")
    suffix = PurePath(name.lower()).suffix if name else ""
    kind = _BY_SUFFIX.get(suffix)
    if kind == "canonical":
        return _json_kind(head)
    if kind is not None:
        return kind
    if head[:1] in (b"{", b"["):
        return _json_kind(head)
    if head[:1] == b"<":
        return "cap"
    first_line = head.split(b"\n", 1)[0]
    if b"," in first_line or b";" in first_line:
        return "csv"
    raise FeedUnsupported(f"cannot tell the format of {name or 'the payload'!r}")


def parse(data: bytes, format: str, **options: Any) -> ParseResult:
    """Parse ``data`` in ``format`` (one of :data:`FORMATS`); ``options`` go to the parser:
    ``source``/``languages`` for cap, ``source``/``ars`` for nina, ``defaults`` for geojson,
    ``mapping`` (a CsvMapping or the name of a shipped one) for csv."""
    kind = _ALIASES.get(format, format)
    if kind == "canonical":
        from ingest.formats.canonical import parse_canonical

        _no_options(kind, options)
        return parse_canonical(data)
    if kind == "cap":
        from ingest.formats.cap import parse_cap

        return parse_cap(data, **options)
    if kind == "nina":
        from ingest.formats.nina import parse_nina

        return parse_nina(data, **options)
    if kind == "geojson":
        from ingest.formats.geojson import parse_geojson

        return parse_geojson(data, **options)
    if kind == "csv":
        from ingest.formats.table import CsvMapping, load_mapping, parse_csv

        mapping = options.pop("mapping", "canonical")
        _no_options(kind, options)
        if not isinstance(mapping, CsvMapping):
            mapping = load_mapping(mapping)
        return parse_csv(data, mapping)
    raise FeedUnsupported(f"unknown format {format!r}; known: {', '.join(FORMATS)}")


def _no_options(kind: str, options: dict[str, Any]) -> None:
    if options:
        raise TypeError(f"{kind} takes no options, got {', '.join(sorted(options))}")


__all__ = ["FORMATS", "ParseResult", "detect_format", "parse"]
