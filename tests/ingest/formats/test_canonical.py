"""Canonical JSON / JSON array / JSON Lines parser, on reports derived from real NINA data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.errors import FeedInvalid
from ingest.formats.canonical import parse_canonical
from ingest.formats.common import MAX_ITEMS
from ingest.formats.nina import parse_nina
from ingest.report import Report, encode_jsonl, encode_report, report_to_builtins


@pytest.fixture(scope="module")
def real_reports(shared_data: Path) -> tuple[Report, ...]:
    path = shared_data / "nina/mowas_legacy_2022/unwetter_dwd_2022-02-17.json"
    return parse_nina(path.read_bytes()).reports


def test_jsonl_round_trip_keeps_every_real_report(real_reports: tuple[Report, ...]) -> None:
    result = parse_canonical(encode_jsonl(real_reports))
    assert len(real_reports) == 34
    assert result.reports == real_reports
    assert result.rejected == ()


def test_array_and_single_object_read_like_jsonl(real_reports: tuple[Report, ...]) -> None:
    array = b"[" + b",\n".join(encode_report(r) for r in real_reports) + b"]"
    assert parse_canonical(array).reports == real_reports
    single = parse_canonical(b"\xef\xbb\xbf  " + encode_report(real_reports[3]) + b"\n")
    assert single.reports == (real_reports[3],)


def test_pretty_printed_single_object_is_one_report(real_reports: tuple[Report, ...]) -> None:
    pretty = json.dumps(report_to_builtins(real_reports[0]), indent=2).encode()
    assert parse_canonical(pretty).reports == (real_reports[0],)


def test_bad_items_are_rejected_with_their_index_and_do_not_stop_others(
    real_reports: tuple[Report, ...],
) -> None:
    good = [report_to_builtins(r) for r in real_reports[:3]]
    broken_severity = {**good[1], "severity": "catastrophic"}
    no_category = {k: v for k, v in good[2].items() if k != "category"}
    items: list[Any] = [good[0], broken_severity, 17, no_category, good[0]]
    result = parse_canonical(msgspec.json.encode(items))
    assert [r.source_id for r in result.reports] == [real_reports[0].source_id] * 2
    assert [(r.index, r.field) for r in result.rejected] == [
        (1, "$.severity"),
        (2, "$"),
        (3, "$.category"),
    ]


def test_jsonl_rejections_carry_the_line_index(real_reports: tuple[Report, ...]) -> None:
    lines = [encode_report(real_reports[0]), b"", b"{not json", encode_report(real_reports[1])]
    result = parse_canonical(b"\n".join(lines))
    assert len(result.reports) == 2
    assert [(r.index, r.field) for r in result.rejected] == [(2, "$")]
    assert "not valid JSON" in result.rejected[0].reason


@pytest.mark.parametrize(
    "payload",
    [b"", b"  \n ", b"42", b'"text"', b"null", b"[1, 2", b"{broken", b"garbage\nmore garbage",
     b"<alert/>", b"\xff\xfe\x00"],
)  # fmt: skip
def test_top_level_garbage_is_feed_invalid(payload: bytes) -> None:
    with pytest.raises(FeedInvalid) as caught:
        parse_canonical(payload)
    assert caught.value.field == "$"
    assert caught.value.reason


def test_too_many_items_is_refused_before_validation() -> None:
    payload = b"[" + b",".join([b"{}"] * (MAX_ITEMS + 1)) + b"]"
    with pytest.raises(FeedInvalid, match="at most 10000"):
        parse_canonical(payload)
    lines = b"\n".join([b"{}"] * (MAX_ITEMS + 1))
    with pytest.raises(FeedInvalid, match="at most 10000"):
        parse_canonical(lines)


def test_hundred_thousand_nested_arrays_do_not_crash() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(FeedInvalid, match="nested too deeply"):
        parse_canonical(deep)
    with pytest.raises(FeedInvalid, match="nested too deeply"):
        parse_canonical(b"[" + deep + b"]")


def test_deep_nesting_inside_a_field_rejects_only_that_item(
    real_reports: tuple[Report, ...],
) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    line = b'{"source": "fire", "metrics": ' + deep + b"}"
    result = parse_canonical(encode_report(real_reports[0]) + b"\n" + line)
    assert len(result.reports) == 1
    assert result.rejected[0].index == 1
    assert result.rejected[0].field.startswith("$")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_give_a_result_or_feed_invalid(data: bytes) -> None:
    try:
        result = parse_canonical(data)
    except FeedInvalid as error:
        assert error.field.startswith("$")
        return
    assert len(result.reports) + len(result.rejected) >= 0


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                  max_size=4),
    max_leaves=12,
)  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_real_reports_are_accepted_or_rejected_with_a_path(
    real_reports: tuple[Report, ...], data: st.DataObject
) -> None:
    base = report_to_builtins(data.draw(st.sampled_from(real_reports[:5])))
    key = data.draw(st.sampled_from([*base, "unknown_key", "geometry", "metrics"]))
    mutated = {**base}
    if data.draw(st.booleans()):
        mutated.pop(key, None)
    else:
        mutated[key] = data.draw(_JSON)
    result = parse_canonical(msgspec.json.encode(mutated))
    assert len(result.reports) + len(result.rejected) == 1
    for rejection in result.rejected:
        assert rejection.field.startswith("$")
        assert rejection.index == 0
