"""CAP parser on malformed, hostile and random input: reject clearly, fast, and never crash."""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.errors import FeedInvalid, FeedUnsupported
from ingest.formats.cap import parse_cap
from ingest.formats.result import ParseResult
from ingest.report import Polygon

NEGATIVE = Path(__file__).resolve().parents[4] / "shared" / "data" / "cap" / "negative"


def billion_laughs(levels: int = 10) -> bytes:
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, levels)
    ]
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE alert [\n' + "\n".join(entities) + "\n]>\n"
        '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">'
        f"<identifier>&lol{levels - 1};</identifier></alert>"
    ).encode()


def test_xxe_attack_is_refused_fast(shared_data: Path) -> None:
    data = (shared_data / "cap" / "negative" / "xxe_attack.cap").read_bytes()
    started = time.perf_counter()
    with pytest.raises(FeedInvalid, match="DTD") as caught:
        parse_cap(data)
    assert time.perf_counter() - started < 0.5
    assert caught.value.field == "$"


def test_billion_laughs_is_refused_fast() -> None:
    started = time.perf_counter()
    with pytest.raises(FeedInvalid, match="DTD"):
        parse_cap(billion_laughs())
    assert time.perf_counter() - started < 0.5


def test_external_entity_is_never_fetched() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(0.2)
        port = listener.getsockname()[1]
        payload = (
            f'<?xml version="1.0"?><!DOCTYPE alert SYSTEM "http://127.0.0.1:{port}/a.dtd" ['
            f'<!ENTITY xxe SYSTEM "http://127.0.0.1:{port}/secret">]>'
            '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&xxe;</identifier>'
            "</alert>"
        ).encode()
        with pytest.raises(FeedInvalid):
            parse_cap(payload)
        with pytest.raises(TimeoutError):
            listener.accept()  # nobody connected: nothing was resolved


def test_wrong_namespace_is_unsupported_and_named(shared_data: Path) -> None:
    data = (shared_data / "cap" / "negative" / "invalid_xmlns.cap").read_bytes()
    with pytest.raises(FeedUnsupported, match=re.escape("urn:oasis:names:tc:emergency:alerts:1.2")):
        parse_cap(data)


def test_update_with_empty_references_is_accepted_with_warning(shared_data: Path) -> None:
    result = parse_cap((shared_data / "cap" / "negative" / "canada_errors.cap").read_bytes())
    [report] = result.reports
    assert report.msg_type == "update"
    assert report.source_id == "2.49.0.1.124.6bddbc91.2012"  # its own thread: nothing to join
    assert any("references: empty on an Update" in w for w in result.warnings)


def test_noaa_errors_accepted_naming_each_defect(shared_data: Path) -> None:
    result = parse_cap((shared_data / "cap" / "negative" / "noaa_errors.cap").read_bytes())
    [report] = result.reports
    assert report.category == "flood.flood_warning"
    assert report.severity == "unknown"
    assert report.urgency is None
    assert report.certainty is None
    # "+41.12,-117.61 ... +40.85,-118.09, +40.86,-118.09, +41.12,-117.61"
    assert isinstance(report.geometry, Polygon)
    assert report.geometry.coordinates[0][0] == [-117.61, 41.12]
    text = "\n".join(result.warnings)
    for defect in ("severity: empty", "urgency: empty", "certainty: empty",
                   "empty <polygon>", "not written as 'lat,lon lat,lon'",
                   "empty <references>"):  # fmt: skip
        assert defect in text


def test_invalid_schema_missing_scope_and_area(shared_data: Path) -> None:
    result = parse_cap((shared_data / "cap" / "negative" / "invalid_schema.cap").read_bytes())
    assert result.reports == ()
    [rejection] = result.rejected
    assert rejection.field == "$.info.area"
    assert any("scope: missing" in w for w in result.warnings)


def test_bushfire_invalid_rejects_only_the_empty_alert(shared_data: Path) -> None:
    result = parse_cap((shared_data / "cap" / "negative" / "bushfire_invalid.edxlde").read_bytes())
    assert len(result.reports) == 6
    [rejection] = result.rejected
    assert rejection.index == 1  # the second contentObject: "<!-- Missing content -->"
    assert rejection.field == "$.identifier"
    assert any("urgency: 'Foobar' is not a CAP value" in w for w in result.warnings)
    [foobar] = [r for r in result.reports if r.source_id.endswith(":40394")]
    assert foobar.urgency is None


@pytest.mark.parametrize("name", sorted(p.name for p in NEGATIVE.iterdir()))
def test_each_negative_file_is_rejected_or_warned(shared_data: Path, name: str) -> None:
    data = (shared_data / "cap" / "negative" / name).read_bytes()
    try:
        result = parse_cap(data)
    except FeedInvalid as error:
        assert error.reason
        return
    assert result.warnings or not result.reports
    for rejection in result.rejected:
        assert rejection.field.startswith("$.")
        assert rejection.reason


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "empty payload"),
        (b"   \n ", "empty payload"),
        (b"not xml at all", "not well-formed XML"),
        (b'{"identifier": "x"}', "not well-formed XML"),
        (b"<alert xmlns='urn:oasis:names:tc:emergency:cap:1.2'><identifier>", "not well-formed"),
        (b"<html><body>502 Bad Gateway</body></html>", "neither a CAP <alert>"),
        (b"<alert><identifier>x</identifier></alert>", "(no namespace)"),
        (b"<feed xmlns='http://www.w3.org/2005/Atom'/>", "neither a CAP <alert>"),
        (b"<alerts xmlns='urn:oasis:names:tc:emergency:cap:1.2'/>", "holds no CAP <alert>"),
        (
            b"<EDXLDistribution xmlns='urn:oasis:names:tc:emergency:EDXL:DE:1.0'/>",
            "holds no CAP alert",
        ),
        (b"<EDXLDistribution xmlns='urn:oasis:names:tc:emergency:EDXL:DE:2.0'/>", "EDXL-DE 1.0"),
        (b'<?xml version="1.0" encoding="no-such-codec"?><a/>', "XML"),
    ],
)
def test_unusable_payloads_raise_feed_invalid(payload: bytes, message: str) -> None:
    with pytest.raises(FeedInvalid, match=re.escape(message)):
        parse_cap(payload)


def test_deep_nesting_is_not_a_crash() -> None:
    depth = 50_000
    payload = b"<a>" * depth + b"</a>" * depth
    with pytest.raises(FeedInvalid):
        parse_cap(payload)


# -- property tests ----------------------------------------------------------------------------

SMALL_FILES = [
    (NEGATIVE.parent / name).read_bytes()
    for name in (
        "oasis_spec/example2_thunderstorm.xml",
        "oasis_spec/example3_earthquake_update.xml",
        "international/us_athoc_cancel_no_info.cap",
        "international/is_imo_weather.cap",
        "negative/canada_errors.cap",
        "negative/noaa_errors.cap",
    )
]


def parsed_or_feed_invalid(data: bytes) -> None:
    try:
        result = parse_cap(data)
    except FeedInvalid as error:
        assert error.reason
        return
    assert isinstance(result, ParseResult)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_never_crash(data: bytes) -> None:
    parsed_or_feed_invalid(data)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SMALL_FILES)))
    for _ in range(draw(st.integers(1, 4))):
        start = draw(st.integers(0, len(data)))
        end = draw(st.integers(start, min(len(data), start + 40)))
        action = draw(st.sampled_from(["delete", "replace", "insert", "duplicate"]))
        chunk = draw(st.binary(max_size=12))
        if action == "delete":
            del data[start:end]
        elif action == "replace":
            data[start:end] = chunk
        elif action == "insert":
            data[start:start] = chunk
        else:
            data[start:start] = data[start:end]
    return bytes(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_real_files_never_crash(data: bytes) -> None:
    parsed_or_feed_invalid(data)


XML_TEXT = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff")
    | st.sampled_from(", .-+0123456789T:"),
    max_size=60,
)
# plausible values per CAP field (three times as likely as arbitrary text), so that the fuzzing
# reaches the mapping and geometry code, not only the first rejection
PLAUSIBLE = {
    "identifier": ["KSTO1055887203", "a" * 300, "id with blanks", "x\ty"],
    "sender": ["CAP@dwd.de", "w-nws.webmaster@noaa.gov", ""],
    "sent": ["2003-06-17T14:57:00-07:00", "2019-01-22T20:26:00+01:00", "2003-06-17T14:57:00",
             "1900-01-01T00:00:00+00:00", "9999-12-31T23:59:59-14:00", ""],
    "status": ["Actual", "Exercise", "Test", "System", "Draft", "actual"],
    "msgType": ["Alert", "Update", "Cancel", "Ack", "Error"],
    "references": ["s,i,2003-06-17T14:57:00-07:00", "s,i,t s,,t", "", "a,b,c d,e,f " * 60],
    "language": ["de-DE", "en", "fr", "", "x" * 50],
    "category": ["Met", "Fire", "Geo", "Env", "Health", "CBRNE", "Transport", "Nonsense"],
    "event": ["GLÄTTE", "Flash Flood Watch", "Grassfire", "水庫洩洪", "Earthquake", ""],
    "severity": ["Severe", "Unknown", "Extreme", "Foobar", ""],
    "certainty": ["Very Likely", "Observed", "Unlikely", ""],
    "onset": ["2003-06-17T15:00:00-07:00", "2003-06-17T10:00:00-07:00", "not a time"],
    "expires": ["2003-06-17T16:00:00-07:00", "2003-06-17T12:00:00-07:00", "2101-01-01T00:00:00Z"],
    "polygon": ["38.47,-120.14 38.34,-119.95 38.52,-119.74 38.47,-120.14", "91,0 1,1 2,2",
                "1,1 1,2 2,2 1,1", "0,0 0,0 0,0 0,0", "0,0 1,1 0,1 1,0 0,0",
                "1e308,1e308 1,1 2,2 1e308,1e308", "1,2,3 4,5"],
    "circle": ["38.47,-120.14 0", "50,7 99999", "89.9,10 500", "50,7 25", "50,7 -1", "nan,1 1"],
    "valueName": ["WARNCELLID", "SAME", "EXCLUDE_POLYGON", "Koblenz", "AGS"],
    "value": ["807340057", "107131000", "071310000000", "07131", "006109",
              "38.47,-120.14 38.34,-119.95 38.52,-119.74 38.47,-120.14"],
}  # fmt: skip


def cap_field(name: str) -> st.SearchStrategy[str]:
    good = st.sampled_from(PLAUSIBLE[name])
    return st.one_of(good, good, good, XML_TEXT).map(escape)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.fixed_dictionaries({name: cap_field(name) for name in PLAUSIBLE}), st.integers(1, 3))
def test_structured_cap_with_arbitrary_values_never_crashes(v: dict[str, str], infos: int) -> None:
    info = (
        f"<info><language>{v['language']}</language><category>{v['category']}</category>"
        f"<event>{v['event']}</event><urgency>Immediate</urgency>"
        f"<severity>{v['severity']}</severity><certainty>{v['certainty']}</certainty>"
        f"<onset>{v['onset']}</onset><expires>{v['expires']}</expires>"
        f"<headline>{v['event'] * 50}</headline><area><areaDesc>x</areaDesc>"
        f"<polygon>{v['polygon']}</polygon><circle>{v['circle']}</circle><geocode>"
        f"<valueName>{v['valueName']}</valueName><value>{v['value']}</value></geocode></area></info>"
    )
    payload = (
        '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">'
        f"<identifier>{v['identifier']}</identifier><sender>{v['sender']}</sender>"
        f"<sent>{v['sent']}</sent><status>{v['status']}</status><msgType>{v['msgType']}</msgType>"
        f"<scope>Public</scope><references>{v['references']}</references>{info * infos}</alert>"
    )
    parsed_or_feed_invalid(payload.encode())
