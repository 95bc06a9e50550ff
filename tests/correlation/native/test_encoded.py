"""``NativeEngine.process_encoded``/``advance_encoded`` against the Python engine: the changes
the Rust side writes straight to their wire form are exactly ``EncodedChange.of`` of the Python
engine's changes (payload bytes included), and the encoded and the object-returning calls mix
freely on one engine without changing what it does."""

from __future__ import annotations

import random
from datetime import timedelta

from correlation.changes import Change, EncodedChange
from correlation.engine import Engine
from correlation.native import NativeEngine
from correlation.rules import Rules
from ingest.districts import Districts
from tests.correlation.helpers import KOBLENZ, report
from tests.correlation.native.test_equivalence import _operators, _outcome, _same_state, _stream


def _encoded(changes: list[Change]) -> list[EncodedChange]:
    return [EncodedChange.of(c) for c in changes]


def test_encoded_changes_are_the_python_engines_encoded(rules: Rules, districts: Districts) -> None:
    rng = random.Random(7)
    python = Engine(rules, districts)
    native = NativeEngine(rules, districts)
    kinds: set[str] = set()
    stream = _stream(rng, 12_000)
    for i, r in enumerate(stream):
        got = native.process_encoded(r)
        assert got == _encoded(python.process(r)), r
        kinds.update(c.kind for c in got)
        if i % 700 == 699:
            now = r.observed_at + timedelta(minutes=rng.uniform(0, 120))
            got = native.advance_encoded(now)
            assert got == _encoded(python.advance(now))
            kinds.update(c.kind for c in got)
    later = stream[-1].observed_at + timedelta(days=3)
    got = native.advance_encoded(later)
    assert got == _encoded(python.advance(later))
    kinds.update(c.kind for c in got)
    assert {"IncidentOpened", "IncidentUpdated", "IncidentResolved", "IncidentClosed"} <= kinds
    assert {"WarningIssued", "WarningExpired", "DistrictUpdated"} <= kinds
    assert "DistrictLevelChanged" in kinds
    _same_state(python, native)


def test_strings_are_escaped_as_msgspec_escapes_them(rules: Rules, districts: Districts) -> None:
    python = Engine(rules, districts)
    native = NativeEngine(rules, districts)
    text = 'a "quoted" \\ back\nslash\r\t\x08\x0c\x01\x1f\x7f \u2028 Überflutung ✓ 🚒'
    reports = [
        report("fire", "f1", headline=text, description=text, agency=text),
        # escapes past the first 8 bytes (the writer skips clean 8-byte words)
        report(
            "police",
            "p1",
            "accident.road",
            headline='Lagemeldung Nummer 12: "Zufahrt" gesperrt\x1f',
            agency="Polizeipräsidium Koblenz-Mitte\\Nord",
        ),
        # an escape only in the last, overlapping word; a short string
        report("fire", "f3", minutes=3, headline='x"y', agency="Wache 12\\"),
        report("fire", "f2", minutes=1, point=(KOBLENZ[0] + 1e-9, KOBLENZ[1])),
        report("weather", "w1", "weather.storm", minutes=2, headline=text, area_codes=["07111000"]),
    ]
    for r in reports:
        assert native.process_encoded(r) == _encoded(python.process(r))
    later = reports[-1].observed_at + timedelta(days=2)
    assert native.advance_encoded(later) == _encoded(python.advance(later))


def test_encoded_and_object_calls_interleave(rules: Rules, districts: Districts) -> None:
    rng = random.Random(13)
    python = Engine(rules, districts)
    native = NativeEngine(rules, districts)
    for i, r in enumerate(_stream(rng, 6_000)):
        process = native.process_encoded if rng.random() < 0.5 else native.process
        assert _outcome(process, r) == _outcome(python.process, r)
        _operators(rng, python, native, i, r.observed_at, resolve=300)
        if i % 500 == 499:
            now = r.observed_at + timedelta(minutes=rng.uniform(0, 90))
            advance = native.advance_encoded if rng.random() < 0.5 else native.advance
            assert _outcome(advance, now) == _outcome(python.advance, now)
    _same_state(python, native)
