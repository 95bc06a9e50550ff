"""``process_line``: one log entry as a canonical JSON line. The native engine reads the line
itself (correlation/native/src/reader.rs) and leaves what it cannot vouch for to
``decode_report``; over the equivalence scenario, written as lines with and without the
server's fields and with bad lines among them, it must do exactly what the Python engine does
with ``decode_report`` — the same encoded changes, the same refusals, the same state."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from correlation.changes import EncodedChange
from correlation.engine import Engine
from correlation.native import NativeEngine
from correlation.native._core import parse
from correlation.rules import Rules
from ingest.districts import Districts
from ingest.errors import ReportInvalid
from ingest.report import Report, encode_report, with_server_fields
from tests.correlation.helpers import T0, report
from tests.correlation.native.test_equivalence import _operators, _same_state, _stream

# Each is refused by decode_report; process_line must refuse it alike and change nothing.
BAD_LINES = [
    b"",
    b"{",
    b'{"source": "fire"}',
    b'{"source":"fire","source_id":"x","category":"fire.x","observed_at":"2026-11-29T10:00:00Z"}',
    b'{"source":"fire","source_id":"x","category":"fire.x","observed_at":"2026-11-29T10:00:00",'
    b'"geometry":{"type":"Point","coordinates":[7.6,50.4]}}',
    b'{"source":"fire","source_id":"x","category":"fire.x","observed_at":"2026-11-29T10:00:00Z",'
    b'"geometry":{"type":"Point","coordinates":[7.6,95.0]}}',
    b'{"source":"fire","source_id":"x","category":"fire.x","observed_at":"2026-11-29T10:00:00Z",'
    b'"geometry":{"type":"Point","coordinates":[7.6,50.4]},"colour":"red"}',
]


def _lines(rng: random.Random, reports: list[Report]) -> list[bytes]:
    """The reports as log lines: a share with the server's fields (the runtime's log entries,
    whose receipt time advances the clock first), and now and then a bad line."""
    lines: list[bytes] = []
    for offset, r in enumerate(reports, 1):
        if rng.random() < 0.3:
            received = r.observed_at + timedelta(seconds=rng.uniform(0, 30))
            r = with_server_fields(r, received_at=received.astimezone(UTC), offset=offset)
        lines.append(encode_report(r))
        if rng.random() < 0.002:
            lines.append(rng.choice(BAD_LINES))
    return lines


def _outcome(engine: Engine | NativeEngine, line: bytes) -> list[EncodedChange] | tuple[str, str]:
    try:
        return engine.process_line(line)
    except ReportInvalid as error:
        return error.field, error.reason


def test_lines_give_the_python_engines_changes(rules: Rules, districts: Districts) -> None:
    rng = random.Random(5)
    python = Engine(rules, districts)
    native = NativeEngine(rules, districts)
    lines = _lines(rng, _stream(rng, 12_000))
    refused = vouched = 0
    for i, line in enumerate(lines):
        seq = native.seq
        outcome = _outcome(native, line)
        assert outcome == _outcome(python, line), line
        if isinstance(outcome, tuple):
            refused += 1
            assert native.seq == seq
        vouched += parse(line) is not None
        _operators(rng, python, native, i, python.watermark or datetime.now(UTC), 450)
    _same_state(python, native)
    assert refused >= 10
    # the reader leaves polygons and the bad lines to Python, and little else
    assert vouched >= 0.97 * len(lines)


def test_lines_and_entries_mix_on_one_engine(rules: Rules, districts: Districts) -> None:
    """``process_entry`` (the runtime's way, a Report) and ``process_line`` are one step."""
    rng = random.Random(9)
    python = Engine(rules, districts)
    native = NativeEngine(rules, districts)
    for offset, r in enumerate(_stream(rng, 3_000), 1):
        if rng.random() < 0.3:
            received = r.observed_at + timedelta(seconds=rng.uniform(0, 30))
            r = with_server_fields(r, received_at=received.astimezone(UTC), offset=offset)
        if rng.random() < 0.5:
            assert native.process_line(encode_report(r)) == python.process_entry(r)
        else:
            assert native.process_entry(r) == python.process_line(encode_report(r))
    _same_state(python, native)


def test_area_codes_without_a_point_are_decoded_when_the_engine_needs_them(
    engine_type: type[Engine],
) -> None:
    """The reader vouches for an area-code report, but its place (a representative point of
    the district) comes from shapely: the line is decoded by ingest.report on demand."""
    engine = engine_type()
    line = encode_report(report("fire", "f1", point=None, area_codes=("07111000",)))
    assert parse(line) is not None
    (opened,) = [c for c in engine.process_line(line) if c.kind == "IncidentOpened"]
    view = msgspec.json.decode(opened.payload)["view"]
    assert view["district"] == "07111"
    assert view["centroid"] == [7.580773, 50.34259]  # inside Koblenz, from shapely


def test_receipt_time_advances_the_clock_first(engine_type: type[Engine]) -> None:
    engine = engine_type()
    engine.process_line(encode_report(report("fire", "f1")))
    # received four hours later: the incident of f1 resolves on the clock before p1 applies
    later = with_server_fields(
        report("police", "p1", "security.x", minutes=240),
        received_at=T0 + timedelta(hours=4),
        offset=2,
    )
    kinds = [c.kind for c in engine.process_line(encode_report(later))]
    assert kinds.index("IncidentResolved") < kinds.index("IncidentOpened")
    assert engine.as_of == "2026-11-29T14:00:00Z"


@pytest.mark.parametrize("line", BAD_LINES)
def test_a_bad_line_is_refused_naming_the_field(engine_type: type[Engine], line: bytes) -> None:
    engine = engine_type()
    with pytest.raises(ReportInvalid) as refused:
        engine.process_line(line)
    assert refused.value.field.startswith("$")
    assert engine.seq == 0
    assert engine.as_of is None


def test_another_status_only_advances_the_clock(engine_type: type[Engine]) -> None:
    engine = engine_type()
    drill = report("fire", "f1", status="exercise")
    assert engine.process_line(encode_report(drill)) == []
    received = with_server_fields(drill, received_at=T0 + timedelta(minutes=1), offset=1)
    engine.process_line(encode_report(received))
    assert not engine.picture().incidents
    assert engine.as_of == "2026-11-29T10:01:00Z"
