"""Every parser under hostile input (issue 7, hardening): the only outcomes are a ParseResult
whose rejections name a ``$``-field, or FeedInvalid; accepted reports are storable (no U+0000,
which PostgreSQL's jsonb refuses; they survive an encode/decode round trip); absurd times are
refused naming the field; giant payloads are refused or read within a stated memory bound.

Figures of the giant cases (tracemalloc peaks) are recorded in docs/SECURITY.md.
"""

from __future__ import annotations

import copy
import json
import math
import tracemalloc
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Final

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.errors import FeedInvalid
from ingest.formats import FORMATS, detect_format, parse
from ingest.formats.canonical import parse_canonical
from ingest.formats.cap import parse_cap
from ingest.formats.geojson import parse_geojson
from ingest.formats.nina import parse_nina
from ingest.formats.result import ParseResult
from ingest.formats.table import load_mapping, parse_csv
from ingest.report import EARLIEST, LATEST, decode_report, encode_report
from tests.conftest import SHARED_DATA

Parser = Callable[[bytes], ParseResult]

_CSV_MAPPING: Final = load_mapping("canonical")
PARSERS: Final[dict[str, Parser]] = {
    "canonical": parse_canonical,
    "cap": parse_cap,
    "nina": parse_nina,
    "geojson": parse_geojson,
    "csv": lambda data: parse_csv(data, _CSV_MAPPING),
    "registry": lambda data: parse(data, detect_format("", data)),
}


def _registry(fmt: str) -> Parser:
    return lambda data: parse(data, fmt)


PARSERS.update({f"registry:{name}": _registry(name) for name in FORMATS})

BASE: Final[dict[str, Any]] = {
    "source": "fire",
    "source_id": "fz-1",
    "category": "fire.building",
    "observed_at": "2024-05-01T10:00:00+02:00",
    "geometry": {"type": "Point", "coordinates": [7.5886, 50.3569]},
}

# Unicode that has broken real systems: NUL, lone surrogates (only expressible escaped in JSON),
# bidi overrides, BOM, line separators, non-characters, 4-byte emoji, combining marks.
EDGE_TEXT: Final = (
    "\x00", "a\x00b", "\ud800", "x\udfff", "\u202eevil\u202c", "\u200f\u200e", "\ufeff",
    "\u2028\u2029", "\uffff", "😀" * 60, "🏳️‍🌈", "e\u0301" * 3, "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", " ", "", "\t\n",
)  # fmt: skip


def outcome(parser: Parser, data: bytes) -> ParseResult | FeedInvalid:
    """The parser's answer; any exception but FeedInvalid fails the test."""
    try:
        result = parser(data)
    except FeedInvalid as error:
        assert error.reason
        assert error.field.startswith("$")
        return error
    assert isinstance(result, ParseResult)
    for rejected in result.rejected:
        assert rejected.field.startswith("$"), rejected
        assert rejected.reason
    for report in result.reports:
        encoded = encode_report(report)
        assert b"\\u0000" not in encoded, "PostgreSQL jsonb cannot store U+0000"
        assert decode_report(encoded) == report
    return result


# -- arbitrary bytes into every entry point ------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(sorted(PARSERS)), st.binary(max_size=600))
def test_arbitrary_bytes_give_a_result_or_feed_invalid(name: str, data: bytes) -> None:
    outcome(PARSERS[name], data)


JSON_KEYS: Final = (*BASE, "type", "features", "properties", "info", "identifier", "sent",
                    "payload", "coordinates", "area_codes", "x")  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(sorted(PARSERS)),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(
                st.sampled_from(JSON_KEYS),
                inner,
                max_size=6,
            )
        ),
        max_leaves=25,
    ),
)
def test_arbitrary_json_documents_give_a_result_or_feed_invalid(name: str, doc: Any) -> None:
    outcome(PARSERS[name], json.dumps(doc).encode())


# -- unicode edge cases in every string field -----------------------------------------------------

CANONICAL_TEXT: Final = ("source_id", "category", "headline", "description", "agency", "event",
                         "message_id", "language", "source", "severity")  # fmt: skip
CANONICAL_LISTS: Final = ("references", "geocodes", "area_codes")
edge_text = (
    st.sampled_from(EDGE_TEXT)
    | st.text(max_size=30)
    | st.text(st.characters(codec="utf-8"), min_size=1, max_size=5).map(lambda t: t + "\x00")
)


def _canonical_with(field: str, value: str) -> dict[str, Any]:
    doc = copy.deepcopy(BASE)
    if field in CANONICAL_LISTS:
        doc[field] = [value]
    elif field == "alternates":
        doc[field] = [{"language": "en", "headline": value}]
    elif field == "metrics":
        doc[field] = {value: 1}
    else:
        doc[field] = value
    return doc


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from((*CANONICAL_TEXT, *CANONICAL_LISTS, "alternates", "metrics")),
    edge_text,
    st.sampled_from(("canonical", "geojson")),
)
def test_unicode_edge_cases_in_every_canonical_field(field: str, value: str, fmt: str) -> None:
    doc = _canonical_with(field, value)
    if fmt == "geojson":
        geometry = doc.pop("geometry")
        doc = {"type": "Feature", "geometry": geometry, "properties": doc}
    # ensure_ascii: a lone surrogate travels as its JSON escape, as a hostile sender would send it
    result = outcome(PARSERS[fmt], json.dumps(doc, ensure_ascii=True).encode())
    if isinstance(result, FeedInvalid):
        assert any(0xD800 <= ord(c) <= 0xDFFF for c in value), result  # only surrogates
        return
    assert len(result.reports) + len(result.rejected) == 1
    if "\x00" in value and field not in ("source", "severity", "category", "area_codes"):
        # NUL is never stored; the rejection names the field it was in
        assert not result.reports
        assert field in result.rejected[0].field, result.rejected[0]


def _nina_template() -> dict[str, Any]:
    # a real MoWaS alert (polygon and geocodes) that parses into one report as it is
    path = SHARED_DATA / "nina/mowas_legacy_2022/gefahrendurchsagen_2022-02-17_morning.json"
    alert: dict[str, Any] = json.loads(path.read_bytes())[2]
    return alert


def _cap_template() -> bytes:
    return (SHARED_DATA / "cap/oasis_spec/example2_thunderstorm.xml").read_bytes()


NINA_FIELDS: Final = ("identifier", "sender", "references", "info.headline", "info.description",
                      "info.event", "info.language", "info.instruction", "info.senderName",
                      "area.areaDesc")  # fmt: skip
CAP_FIELDS: Final = ("identifier", "sender", "references", "headline", "description", "event",
                     "senderName", "areaDesc", "instruction", "language", "value")  # fmt: skip
CSV_FIELDS: Final = ("source_id", "category", "headline", "description", "agency", "event",
                     "language", "area_codes", "source")  # fmt: skip


@settings(max_examples=60, deadline=None)  # each example repairs the alert's real polygon
@given(st.sampled_from(NINA_FIELDS), edge_text)
def test_unicode_edge_cases_in_nina_fields(field: str, value: str) -> None:
    alert = _nina_template()
    where, _, key = field.rpartition(".")
    target = alert
    if where == "info":
        target = alert["info"][0]
    elif where == "area":
        target = alert["info"][0]["area"][0]
    target[key] = value
    result = outcome(parse_nina, json.dumps(alert, ensure_ascii=True).encode())
    if isinstance(result, ParseResult):
        assert len(result.reports) + len(result.rejected) == 1


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(CAP_FIELDS), edge_text)
def test_unicode_edge_cases_in_cap_fields(field: str, value: str) -> None:
    ns = "{urn:oasis:names:tc:emergency:cap:1.2}"
    root = ET.fromstring(_cap_template())
    element = root.find(f".//{ns}{field}")
    if element is None:
        element = ET.SubElement(root, f"{ns}{field}")
    element.text = value
    # ElementTree writes NUL and surrogates as they are: not well-formed XML, as a sender would
    data = ET.tostring(root, encoding="unicode").encode("utf-8", "surrogatepass")
    outcome(parse_cap, data)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(CSV_FIELDS), edge_text)
def test_unicode_edge_cases_in_csv_columns(field: str, value: str) -> None:
    row = {**{k: v for k, v in BASE.items() if k != "geometry"}, "lon": "7.5886", "lat": "50.3569"}
    row[field] = '"' + value.replace('"', '""') + '"'
    text = ",".join(row) + "\n" + ",".join(str(v) for v in row.values()) + "\n"
    result = outcome(PARSERS["csv"], text.encode("utf-8", "surrogatepass"))
    if isinstance(result, ParseResult) and "\x00" in value and field not in ("source", "category"):
        assert not result.reports or "\x00" not in value.strip()


# -- timestamps far in the past and future ------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=14)),
                                   timezone(timedelta(hours=-12))]),
    ),
    st.sampled_from(("observed_at", "expires_at", "onset_at")),
)  # fmt: skip
def test_canonical_times_outside_1990_2100_are_rejected_naming_the_field(
    moment: datetime, field: str
) -> None:
    doc = copy.deepcopy(BASE)
    if field == "observed_at":
        doc[field] = moment.isoformat()
    else:  # keep expires_at >= observed_at so only the range can be the reason
        doc["observed_at"] = min(max(moment, EARLIEST), LATEST - timedelta(days=1)).isoformat()
        doc[field] = moment.isoformat()
    result = outcome(parse_canonical, json.dumps(doc).encode())
    assert isinstance(result, ParseResult)
    if EARLIEST <= moment < LATEST:
        assert len(result.reports) == 1
    else:
        assert not result.reports
        assert result.rejected[0].field == f"$.{field}"
        assert "1990" in result.rejected[0].reason


@pytest.mark.parametrize("year", [1, 1000, 1989, 2100, 9999])
def test_far_times_in_every_format_are_rejected_naming_the_field(year: int) -> None:
    stamp = f"{year:04d}-06-01T12:00:00+00:00"
    canonical = json.dumps({**BASE, "observed_at": stamp}).encode()
    geojson = json.dumps({"type": "Feature", "geometry": BASE["geometry"],
                          "properties": {**BASE, "observed_at": stamp}}).encode()  # fmt: skip
    csv = (
        "source,source_id,category,observed_at,lon,lat\n"
        f"fire,fz-1,fire.building,{stamp},7.5886,50.3569\n"
    ).encode()
    nina_alert = _nina_template()
    nina_alert["sent"] = stamp
    for info in nina_alert["info"]:
        for key in ("onset", "effective", "expires"):
            info.pop(key, None)
    cap = _cap_template().replace(b"2003-06-17T14:57:00-07:00", stamp.encode())
    cap = cap.replace(b"<expires>2003-06-17T16:00:00-07:00</expires>", b"")
    for name, data, fields in (
        ("canonical", canonical, ("$.observed_at",)),
        ("geojson", geojson, ("$.properties.observed_at",)),
        ("csv", csv, ("$[0].observed_at",)),
        ("nina", json.dumps(nina_alert).encode(), ("$.sent", "$.observed_at")),
        ("cap", cap, ("$.sent", "$.observed_at")),
    ):
        result = outcome(PARSERS[name], data)
        assert isinstance(result, ParseResult), (name, result)
        assert not result.reports, name
        assert result.rejected[0].field in fields, (name, result.rejected[0])
        assert str(year) in result.rejected[0].reason or "1990" in result.rejected[0].reason


# -- giant inputs, memory bounded -----------------------------------------------------------------

MB: Final = 1024 * 1024


def _polygon(vertices: int) -> dict[str, Any]:
    ring = [
        [round(7.5 + 0.5 * math.cos(2 * math.pi * i / vertices), 6),
         round(50.0 + 0.3 * math.sin(2 * math.pi * i / vertices), 6)]
        for i in range(vertices)
    ]  # fmt: skip
    ring.append(ring[0])
    return {"type": "Polygon", "coordinates": [ring]}


def _compact(doc: Any) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


def _giant(case: str) -> bytes:
    deep_array = b"[" * 1_000_000 + b"]" * 1_000_000
    deep_object = b'{"a":' * 1_000_000 + b"1" + b"}" * 1_000_000
    if case == "10MB canonical batch":
        items = [{**BASE, "source_id": f"big-{i}", "description": "x" * 4000} for i in range(2600)]
        return _compact(items)
    if case == "10MB string field":
        return _compact({**BASE, "description": "ü" * 5_000_000})
    if case in ("10^6-deep arrays", "10^6-deep arrays nina", "10^6-deep arrays geojson"):
        return deep_array
    if case in ("10^6-deep objects", "10^6-deep objects nina", "10^6-deep objects geojson"):
        return deep_object
    if case == "10^6-deep XML":
        return b"<alert>" * 1_000_000 + b"</alert>" * 1_000_000
    if case == "10MB CAP description":
        return _cap_template().replace(b"<description>", b"<description>" + b"y" * 10 * MB)
    if case == "10MB NINA description":
        alert = _nina_template()
        alert["info"][0]["description"] = "z" * 10 * MB
        return _compact(alert)
    if case == "10MB CSV cell":
        head = b"source,source_id,category,observed_at,lon,lat,description\n"
        return head + b"fire,a,fire.building,2024-05-01T10:00:00Z,7.5,50.1," + b"d" * 10 * MB
    if case == "1M-vertex polygon":
        return _compact({**BASE, "geometry": _polygon(1_000_000)})
    if case == "400k-vertex polygon geojson":  # 1M under tracemalloc would take ~20 s more
        props = {k: v for k, v in BASE.items() if k != "geometry"}
        return _compact({"type": "Feature", "geometry": _polygon(400_000), "properties": props})
    raise AssertionError(case)


# case → (parser, tracemalloc peak bound in MB, expected: "feed" | "rejected:<field>" | "ok")
GIANT: Final[dict[str, tuple[str, int, str]]] = {
    "10MB canonical batch": ("canonical", 64, "ok"),
    "10MB string field": ("canonical", 48, "rejected:$.description"),
    "10^6-deep arrays": ("canonical", 16, "feed"),
    "10^6-deep objects": ("canonical", 16, "feed"),
    "10^6-deep arrays nina": ("nina", 32, "feed"),
    "10^6-deep objects nina": ("nina", 16, "feed"),
    "10^6-deep arrays geojson": ("geojson", 16, "feed"),
    "10^6-deep objects geojson": ("geojson", 16, "feed"),
    "10^6-deep XML": ("cap", 32, "feed"),
    "10MB CAP description": ("cap", 96, "ok"),
    "10MB NINA description": ("nina", 96, "ok"),
    "10MB CSV cell": ("csv", 96, "feed"),
    "1M-vertex polygon": ("canonical", 256, "rejected:$.geometry.coordinates"),
    "400k-vertex polygon geojson": ("geojson", 128, "rejected:$.geometry.coordinates"),
}


@pytest.mark.parametrize("case", list(GIANT))
def test_giant_payloads_are_refused_or_read_within_a_memory_bound(case: str) -> None:
    name, bound_mb, expected = GIANT[case]
    data = _giant(case)
    tracemalloc.start()
    try:
        result = outcome(PARSERS[name], data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    print(f"{case}: {len(data) / MB:.1f} MB in, peak {peak / MB:.1f} MB, {result!r:.100}")
    assert peak < bound_mb * MB, f"{case}: peak {peak / MB:.0f} MB over {bound_mb} MB"
    if expected == "feed":
        assert isinstance(result, FeedInvalid)
    elif expected == "ok":
        assert isinstance(result, ParseResult)
        assert result.reports
        assert not result.rejected
    else:
        assert isinstance(result, ParseResult)
        assert not result.reports
        assert result.rejected[0].field.endswith(expected.removeprefix("rejected:"))


def test_real_files_still_parse(shared_data: Path) -> None:
    # the XML depth limit must not refuse any real feed (EDXL-DE envelopes are the deepest)
    for path in sorted((shared_data / "cap").rglob("*")):
        if path.is_file() and "negative" not in path.parts:
            result = outcome(parse_cap, path.read_bytes())
            assert not (isinstance(result, FeedInvalid) and "deeper" in result.reason), path


@pytest.mark.parametrize(
    ("field", "path"),
    [("headline", "$.headline"), ("description", "$.description"), ("agency", "$.agency"),
     ("event", "$.event"), ("message_id", "$.message_id"), ("language", "$.language"),
     ("references", "$.references"), ("geocodes", "$.geocodes"),
     ("alternates", "$.alternates[0].headline")],
)  # fmt: skip
def test_nul_in_a_text_field_is_rejected_naming_it(field: str, path: str) -> None:
    # regression: such a report was acknowledged by nobody: PostgreSQL refused every write of it
    # (jsonb has no U+0000) and the client got 503 "retry later" forever
    value = "AB:\x00" if field == "geocodes" else "a\x00b"
    result = outcome(parse_canonical, json.dumps(_canonical_with(field, value)).encode())
    assert isinstance(result, ParseResult)
    assert not result.reports
    assert result.rejected[0].field == path
    assert "NUL" in result.rejected[0].reason
