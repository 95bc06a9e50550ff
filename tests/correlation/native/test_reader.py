"""The Rust reader of one canonical report line (``correlation.native._core.parse``) against
:func:`ingest.report.decode_report`, differentially.

The reader's contract: ``parse(line)`` returns None ("decline": Python decides) whenever it cannot
vouch for the line; when it returns a tuple, ``decode_report(line)`` succeeds and the tuple is
exactly :func:`expected` of the decoded report (floats bit for bit, -0.0 made 0.0, types too).
Declining is always allowed by the contract; what the reader must decline or accept beyond that
is pinned by the table of :func:`test_edge_cases`.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, localcontext
from functools import cache
from typing import Any, Final, TypeAlias

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from correlation.clock import to_us
from correlation.native._core import parse
from ingest.errors import ReportInvalid
from ingest.report import (
    AREA_CODE_PATTERN,
    CATEGORY_PATTERN,
    EARLIEST,
    LATEST,
    METRIC_PATTERN,
    Point,
    Report,
    decode_report,
    encode_jsonl,
    encode_report,
)
from ops.scenario import generate_reports

FIELDS: Final = (
    "source", "source_id", "category", "observed_at", "sequence", "msg_type", "status",
    "severity", "onset_at", "expires_at", "point", "area_codes", "headline", "description",
    "metrics", "agency", "message_id", "references", "event", "feed_format",
)  # fmt: skip
"""The names of the items of the reader's tuple, for the failure messages."""

SETTINGS: Final = settings(
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def expected(report: Report) -> tuple[object, ...]:
    """What the reader must return for a line Python decodes to ``report``."""
    geometry = report.geometry
    point: tuple[float, float] | None = None
    if geometry is not None:
        assert isinstance(geometry, Point), f"the reader took a {type(geometry).__name__}"
        point = (geometry.coordinates[0], geometry.coordinates[1])

    def opt(value: datetime | None) -> int | None:
        return None if value is None else to_us(value)

    return (
        report.source, report.source_id, report.category, to_us(report.observed_at),
        report.sequence, report.msg_type, report.status, report.severity, opt(report.onset_at),
        opt(report.expires_at), point, list(report.area_codes), report.headline,
        report.description, list(report.metrics.items()), report.agency, report.message_id,
        list(report.references), report.event, report.feed_format,
    )  # fmt: skip


def same(got: object, want: object) -> bool:
    """Equal, and of the same types all the way down; floats bit for bit (-0.0 is not 0.0)."""
    if type(got) is not type(want):
        return False
    if isinstance(got, float):
        assert isinstance(want, float)
        return got == want and math.copysign(1.0, got) == math.copysign(1.0, want)
    if isinstance(got, tuple | list):
        assert isinstance(want, tuple | list)
        return len(got) == len(want) and all(same(g, w) for g, w in zip(got, want, strict=True))
    return got == want


def check(line: bytes) -> tuple[object, ...] | None:
    """``parse(line)`` held to the contract; what it returned."""
    got: object = parse(line)
    if got is None:
        return None
    assert isinstance(got, tuple), f"parse returned {got!r} for {line!r}"
    try:
        report: Report | ReportInvalid = decode_report(line)
    except ReportInvalid as error:
        report = error
    if isinstance(report, ReportInvalid):
        pytest.fail(f"the reader took a line Python rejects ({report}): {line!r}")
    want = expected(report)
    if not same(got, want):
        if len(got) != len(want):
            pytest.fail(f"{len(got)} items, not {len(want)}: {got!r} for {line!r}")
        wrong = [
            f"  {name}: got {g!r}, want {w!r}"
            for name, g, w in zip(FIELDS, got, want, strict=True)
            if not same(g, w)
        ]
        pytest.fail(f"the reader misread {line!r}:\n" + "\n".join(wrong))
    return got


@cache
def scenario_lines() -> tuple[bytes, ...]:
    data = encode_jsonl(generate_reports(5_000, seed=3).reports)
    return tuple(data.split(b"\n")[:-1])


# -- 1. the scenario -------------------------------------------------------------------------------


def test_scenario_lines() -> None:
    lines = scenario_lines()
    assert len(lines) == 5_000
    accepted = 0
    for line in lines:
        if check(line) is not None:
            accepted += 1
        elif isinstance(decode_report(line).geometry, Point):
            pytest.fail(f"the reader declined a point report of the scenario: {line!r}")
    # every scenario report has a point or no geometry at all; none has what the reader declines
    assert accepted >= 0.95 * len(lines), f"only {accepted} of {len(lines)} lines accepted"


# -- JSON text spelled as the tests want it --------------------------------------------------------

Json: TypeAlias = Any
"""A JSON value as the line builders hold it: None, bool, int, float, str, list, Raw or Obj."""


@dataclass(frozen=True)
class Raw:
    """JSON text written as is: a number spelled a particular way, a hand-escaped string."""

    text: str


@dataclass
class Obj:
    """A JSON object as its members in order, so that keys can repeat."""

    pairs: list[tuple[str | Raw, Json]] = field(default_factory=list)

    def keys(self) -> list[str]:
        return [key for key, _ in self.pairs if isinstance(key, str)]

    def get(self, key: str, default: Json = None) -> Json:
        return next((value for k, value in self.pairs if k == key), default)

    def set(self, key: str, value: Json) -> None:
        """Replace the first member ``key`` (dropping any later ones), or append it."""
        for i, (k, _) in enumerate(self.pairs):
            if k == key:
                self.pairs[i] = (key, value)
                self.pairs[i + 1 :] = [p for p in self.pairs[i + 1 :] if p[0] != key]
                return
        self.pairs.append((key, value))

    def drop(self, key: str) -> None:
        self.pairs = [p for p in self.pairs if p[0] != key]


def tree(line: bytes) -> Obj:
    obj: Obj = json.loads(line, object_pairs_hook=lambda pairs: Obj(list(pairs)))
    return obj


ESCAPES: Final = ("plain", "ascii", "slash", "unicode", "UNICODE")


@dataclass(frozen=True)
class Style:
    """How :func:`render` spells a value: whitespace in each gap between tokens and the escape
    mode of each string are drawn from ``gaps`` and ``escapes`` (first one if no ``rng``)."""

    gaps: tuple[str, ...] = ("",)
    escapes: tuple[str, ...] = ("plain",)
    rng: random.Random | None = None

    def gap(self) -> str:
        return self.rng.choice(self.gaps) if self.rng and len(self.gaps) > 1 else self.gaps[0]

    def escape(self) -> str:
        if self.rng and len(self.escapes) > 1:
            return self.rng.choice(self.escapes)
        return self.escapes[0]


def _units(text: str) -> list[int]:
    """UTF-16 code units (lone surrogates stay as they are)."""
    units: list[int] = []
    for char in text:
        code = ord(char)
        if code > 0xFFFF:
            code -= 0x10000
            units += [0xD800 + (code >> 10), 0xDC00 + (code & 0x3FF)]
        else:
            units.append(code)
    return units


def string(text: str, mode: str = "plain") -> str:
    """``text`` as a JSON string; ``mode`` one of :data:`ESCAPES`: as ``json.dumps`` writes it
    (raw non-ASCII, or ``ascii`` \\u escapes), with ``\\/`` for ``/``, or every character as a
    ``\\u`` escape in lower or upper case hex. Lone surrogates are written raw in ``plain`` and
    ``slash`` (the line becomes invalid UTF-8), escaped otherwise."""
    if mode in ("unicode", "UNICODE"):
        hexes = "".join(f"\\u{unit:04x}" for unit in _units(text))
        return '"' + (hexes.upper().replace("\\U", "\\u") if mode == "UNICODE" else hexes) + '"'
    spelled = json.dumps(text, ensure_ascii=mode == "ascii")
    return spelled.replace("/", "\\/") if mode == "slash" else spelled


PLAIN: Final = Style()


def render(value: Json, style: Style = PLAIN) -> str:
    if isinstance(value, Raw):
        return value.text
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        assert math.isfinite(value)
        return repr(value)
    if isinstance(value, str):
        return string(value, style.escape())
    g = style.gap
    if isinstance(value, list):
        items = [g() + render(item, style) + g() for item in value]
        return "[" + (",".join(items) if items else g()) + "]"
    assert isinstance(value, Obj), value
    members = [
        g()
        + (key.text if isinstance(key, Raw) else string(key, style.escape()))
        + g()
        + ":"
        + g()
        + render(item, style)
        + g()
        for key, item in value.pairs
    ]
    return "{" + (",".join(members) if members else g()) + "}"


def encoded(value: Json, style: Style = PLAIN) -> bytes:
    return render(value, style).encode("utf-8", "surrogatepass")


# -- the values a field can take: near the limits, beyond them, of other types -----------------

FILLS: Final = ("a", "é", "€", "🚒", "\u2028", "\x7f", '"', "\\", "\n", "/")
ODD_TEXTS: Final = (
    "a\x00b", "\x00", "\ud800", "a\udc00b", "\ud83d\ude92", "\udc00\ud800", "x ", " x", "\t",
    "ab\x85", "x\u00a0y", "Wache Köln", "\ufeff", "\x1f", "\u200b", "a\r\nb", "\U0010ffff",
)  # fmt: skip


def sized(low: int, high: int) -> st.SearchStrategy[str]:
    """Texts at and just beyond the length limits, of characters of 1 to 4 UTF-8 bytes (lengths
    count code points), and odd ones (NUL, lone surrogates, white space, non-printables)."""
    lengths = sorted({n for n in (low - 1, low, low + 1, high - 1, high, high + 1) if n >= 0})
    return st.one_of(
        st.builds(lambda n, fill: fill * n, st.sampled_from(lengths), st.sampled_from(FILLS)),
        st.builds(
            lambda n, fill: "a" * max(n - 1, 0) + fill,
            st.sampled_from(lengths),
            st.sampled_from(FILLS),
        ),
        st.text(max_size=min(high + 1, 40)),
        st.sampled_from(ODD_TEXTS),
    )


def texts(low: int, high: int, count: int) -> st.SearchStrategy[Json]:
    """Arrays of :func:`sized` texts: short, or exactly at and beyond ``count`` items."""
    return st.one_of(
        st.lists(sized(low, high), max_size=3),
        st.builds(lambda n: ["x" * max(low, 1)] * n, st.sampled_from([count, count + 1])),
    )


def _stamp(local: datetime, minutes: int, draw: st.DrawFn) -> str:
    """``local`` (naive) with UTC offset ``minutes``, its fraction and zone spelled in a drawn
    way: 0 to 9 fractional digits (more than 6 round to the microsecond in msgspec)."""
    us = f"{local.microsecond:06d}"
    fraction = draw(
        st.sampled_from(
            ["." + us, "." + us.rstrip("0") if local.microsecond else "", ".0", "." + us + "0",
             "." + us + "5", "." + us + "49", "." + us + "999", "." + us[:3]]
        )
    )  # fmt: skip
    if minutes:
        sign = "+" if minutes > 0 else "-"
        zone = f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    else:
        zone = draw(st.sampled_from(["Z", "Z", "+00:00", "-00:00", "z"]))
    return f"{local:%Y-%m-%dT%H:%M:%S}{fraction}{zone}"


@st.composite
def boundary_stamps(draw: st.DrawFn) -> str:
    """Instants at the ends of the accepted range (and on leap days) in many UTC offsets."""
    edge = draw(
        st.sampled_from([EARLIEST, LATEST, datetime(2024, 2, 29, tzinfo=UTC),
                         datetime(2023, 3, 1, tzinfo=UTC), datetime(2000, 2, 29, 12, tzinfo=UTC)])
    )  # fmt: skip
    micros = draw(st.sampled_from([-1, 0, 1, -1_000_000, 1_000_000, -3_600_000_000, 59_999_999]))
    minutes = draw(st.sampled_from([0, 1, -1, 60, -60, 330, -330, 1439, -1439]))
    local = (edge + timedelta(microseconds=micros, minutes=minutes)).replace(tzinfo=None)
    return _stamp(local, minutes, draw)


ODD_STAMPS: Final = (
    "2024-06-01T06:00:00Z", "2024-06-01t06:00:00z", "2024-06-01T06:00:00z", "2024-06-01 06:00:00Z",
    "2024-06-01T06:00:00", "2024-06-01T06:00:00+24:00", "2024-06-01T06:00:00+23:59",
    "2024-06-01T06:00:00-23:59", "2024-06-01T06:00:00+00:60", "2024-06-01T06:00:00+0100",
    "2024-06-01T06:00:00+01", "2024-06-01T06:00Z", "2024-06-01", "20240601T060000Z",
    "2024-6-01T06:00:00Z", "+2024-06-01T06:00:00Z", "2024-06-01T06:00:00,5Z",
    "2024-06-01T06:00:00.Z", "2024-06-01T06:00:00 Z", "2024-06-01T06:00:00Z ",
    " 2024-06-01T06:00:00Z", "２024-06-01T06:00:00Z", "2024-06-01T24:00:00Z",
    "2024-06-01T23:59:60Z", "2024-06-01T06:60:00Z", "2023-02-29T06:00:00Z", "2100-02-29T06:00:00Z",
    "2024-04-31T06:00:00Z", "2024-13-01T06:00:00Z", "2024-00-10T06:00:00Z", "2024-06-00T06:00:00Z",
    "2024-06-01T06:00:00.1234567Z", "2024-06-01T06:00:00.9999995Z", "2024-06-01T06:00:00.0000005Z",
    "2024-06-01T06:00:00.00000049999Z", "2024-06-01T06:00:00+01:00:00", "2024-06-01T06:00:00UTC",
    "2024-06-01T06:00:00+01:00Z", "2024-06-01TT06:00:00Z", "", "2024-06-01T06:00:00.123456789012Z",
    "0000-01-01T00:00:00Z", "9999-12-31T23:59:59-23:59",
)  # fmt: skip


@st.composite
def field_stamps(draw: st.DrawFn) -> str:
    """Timestamps assembled from parts, each mostly valid, sometimes not."""
    year = draw(st.integers(1990, 2099) | st.sampled_from([1989, 2100, 2101, 1900, 0, 9999]))
    month = draw(st.integers(1, 12) | st.sampled_from([0, 13]))
    day = draw(st.integers(1, 28) | st.sampled_from([29, 30, 31, 0, 32]))
    hour = draw(st.integers(0, 23) | st.just(24))
    minute = draw(st.integers(0, 59) | st.just(60))
    second = draw(st.integers(0, 59) | st.sampled_from([60, 61]))
    digits = draw(st.text("0123456789", max_size=9))
    fraction = draw(st.sampled_from(["", ".", "." + digits])) if digits else ""
    sep = draw(st.sampled_from(["T", "T", "T", "t", " ", "_"]))
    zone = draw(
        st.sampled_from(["Z", "Z", "Z", "z", "", "+00:00", "-00:00", "+02:00", "-05:30", "+0100"])
        | st.builds(lambda s, h, m: f"{s}{h:02d}:{m:02d}", st.sampled_from("+-"),
                    st.integers(0, 25), st.integers(0, 60))
    )  # fmt: skip
    return (
        f"{year:04d}-{month:02d}-{day:02d}{sep}{hour:02d}:{minute:02d}:{second:02d}{fraction}{zone}"
    )


STAMPS: Final[st.SearchStrategy[Json]] = st.one_of(
    field_stamps(), boundary_stamps(), boundary_stamps(), st.sampled_from(ODD_STAMPS),
    st.sampled_from([Raw('"\\u0032024-06-01T06:00:00Z"'), Raw('"2024-06-01T06:00:00\\u005a"'),
                     1717221600, None]),
)  # fmt: skip
"""Timestamps of every shape, valid and not, many at the ends of the accepted range."""


def _tie(x: float, up: bool) -> str:
    """The exact decimal halfway between ``x`` and its neighbour (round-half-even decides)."""
    neighbour = math.nextafter(x, math.inf if up else -math.inf)
    with localcontext() as context:
        context.prec = 1200
        return format((Decimal(x) + Decimal(neighbour)) / 2, "f")


@st.composite
def halfway_numbers(draw: st.DrawFn) -> Raw:
    """Decimal spellings where a float reader that is not correctly rounded goes wrong."""
    x = draw(st.floats(-181, 181) | st.sampled_from([180.0, -180.0, 90.0, -90.0, 5e-324, 1.0]))
    text = _tie(x, draw(st.booleans()))
    if "." not in text:
        text += ".0"
    return Raw(text + draw(st.sampled_from(["", "1", "0000000000000000001", "0"])))


@st.composite
def decimal_numbers(draw: st.DrawFn) -> Raw:
    sign = draw(st.sampled_from(["", "-"]))
    whole = draw(st.integers(0, 200))
    digits = draw(st.text("0123456789", max_size=30))
    exponent = draw(st.sampled_from(["", "", "e0", "E0", "e+0", "e-1", "e1", "e-2", "E+2", "e-0"]))
    return Raw(f"{sign}{whole}{'.' + digits if digits else ''}{exponent}")


NUMBER_TEXTS: Final = (
    "180", "-180", "180.0", "90", "-90", "90.0", "-90.0", "-0.0", "-0", "0", "0.0", "-0e0",
    "180.00000000000001", "180.0000000000000142108547152020037174224853515625",
    "180.00000000000001421085471520200371742248535156251", "180.00000000000003",
    "90.00000000000000710542735760100185871124267578125",
    "90.000000000000007105427357601001858711242675781251", "-180.00000000000003", "1e400",
    "-1e400", "1E400", "1e-400", "-1e-400", "5e-324", "2.4703282292062327e-324",
    "2.4703282292062328e-324", "1.7976931348623157e308", "1.7976931348623159e308", "8.0E0", "8e0",
    "0.8e1", "80e-1", "1000000000000000000000000000000e-29", "0.000000000000000000008e21",
    "18446744073709551616", "9007199254740993", "-9223372036854775809", "1" + "0" * 400, "8.",
    ".8", "+8", "08", "-", "NaN", "Infinity", "-Infinity", "1e", "1e+", "0x10", "1_0", "8,5",
    "true", '"8"', "[]", "null", "1.00000000000000011102230246251565404236316680908203125",
)  # fmt: skip


NUMBERS: Final[st.SearchStrategy[Json]] = st.one_of(
    st.floats(-181, 181),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(-181, 181),
    st.sampled_from([math.nextafter(180.0, 181.0), math.nextafter(-180.0, -181.0),
                     math.nextafter(90.0, 91.0), math.nextafter(-90.0, -91.0), -0.0, 0.0]),
    st.sampled_from([Raw(text) for text in NUMBER_TEXTS]),
    decimal_numbers(),
    halfway_numbers(),
)  # fmt: skip
"""Coordinates (and altitudes): floats, ints, exactly spelled and tricky numbers."""


@st.composite
def points(draw: st.DrawFn) -> Obj:
    position = [draw(NUMBERS) for _ in range(draw(st.sampled_from([2, 2, 2, 3, 1, 4, 0])))]
    point = Obj([("type", "Point"), ("coordinates", position)])
    variant = draw(st.integers(0, 12))
    if variant == 1:
        point.pairs.reverse()  # "type" last
    elif variant == 2:
        point.pairs.append(("bbox", [0, 0, 1, 1]))
    elif variant == 3:
        point.pairs.append(("type", draw(st.sampled_from(["Point", "Polygon", "point"]))))
    elif variant == 4:
        point.pairs.insert(1, ("coordinates", [draw(NUMBERS), draw(NUMBERS)]))
    elif variant == 5:
        point.drop(draw(st.sampled_from(["type", "coordinates"])))
    elif variant == 6:
        point.set("type", draw(st.sampled_from(["point", "POINT", "LineString", "", None, 1])))
    elif variant == 7:
        point.set("coordinates", draw(st.sampled_from([None, "8,50", Obj(), [[8.0, 50.0]], []])))
    return point


SQUARE: Final = [[[7.0, 50.0], [8.0, 50.0], [8.0, 51.0], [7.0, 51.0], [7.0, 50.0]]]
BOWTIE: Final = [[[7.0, 50.0], [8.0, 51.0], [8.0, 50.0], [7.0, 51.0], [7.0, 50.0]]]
OPEN: Final = [[[7.0, 50.0], [8.0, 50.0], [8.0, 51.0], [7.0, 51.0]]]


def geometries() -> st.SearchStrategy[Json]:
    return st.one_of(
        points(),
        st.sampled_from([
            None,
            Obj([("type", "Polygon"), ("coordinates", SQUARE)]),
            Obj([("type", "Polygon"), ("coordinates", BOWTIE)]),
            Obj([("type", "Polygon"), ("coordinates", OPEN)]),
            Obj([("type", "MultiPolygon"), ("coordinates", [SQUARE])]),
            Obj([("type", "LineString"), ("coordinates", [[7.0, 50.0], [8.0, 50.0]])]),
            Obj(), [], "Point", [8.0, 50.0],
        ]),
    )  # fmt: skip


def metric_keys() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(["injured", "a", "a" * 40, "a" * 41, "Abc", "1a", "_a", "a-b", "abc\n",
                         "ä", "", "a b", "icu_beds_free", "a\x00"]),
        st.from_regex(METRIC_PATTERN),  # may end in "\n": `$` matches before it
    )  # fmt: skip


METRIC_VALUES: Final[tuple[Json, ...]] = (
    0, 1, 1_000_000_000, 1_000_000_001, -1, 2**64, Raw("-0"), Raw("1.0"), Raw("1e9"), Raw("1E0"),
    Raw("0.0"), True, None, "1", [], 999_999_999,
)  # fmt: skip


@st.composite
def metrics(draw: st.DrawFn) -> Json:
    kind = draw(st.integers(0, 5))
    if kind == 0:
        count = draw(st.sampled_from([31, 32, 33]))
        return Obj([(f"m{i}", i) for i in range(count)])
    if kind == 1:  # duplicate keys; 33 members of 32 distinct keys among them
        pairs: list[tuple[str | Raw, Json]] = [
            (f"m{i}", i) for i in range(draw(st.integers(1, 32)))
        ]
        pairs.append(("m0", draw(st.integers(0, 5))))
        return Obj(pairs)
    if kind == 2:
        return draw(st.sampled_from([None, [], "x", 1, Obj([("a", Obj())])]))
    entries = draw(
        st.lists(
            st.tuples(metric_keys(), st.integers(0, 10**9) | st.sampled_from(METRIC_VALUES)),
            max_size=4,
        )
    )
    return Obj(list(entries))


AREA_CODES: Final = (
    "07111000", "07", "0", "0" * 12, "0" * 13, "0711\n", "07a1", "\u0661\u0662", " 0711", "",
    "073150000000",
)  # fmt: skip

ENUMS: Final[dict[str, tuple[str, ...]]] = {
    "source": ("police", "fire", "health", "weather", "civil_protection", "other"),
    "msg_type": ("alert", "update", "cancel"),
    "status": ("actual", "exercise", "test"),
    "severity": ("extreme", "severe", "moderate", "minor", "unknown"),
    "urgency": ("immediate", "expected", "future", "past", "unknown"),
    "certainty": ("observed", "likely", "possible", "unlikely", "unknown"),
    "feed_format": ("canonical", "cap", "nina", "geojson", "csv"),
}


def enum(name: str) -> st.SearchStrategy[Json]:
    values = ENUMS[name]
    odd = [values[0].upper(), values[0].capitalize(), values[0] + " ", values[0] + "\n", "", "x"]
    return st.sampled_from(values) | st.sampled_from(odd)


CATEGORIES: Final = (
    "fire.building", "fire", "fire.", "fire..x", "fire.building\n", "fire.building\n\n",
    "fire\n.building", "Fire.building", "fire.Building", "fire.a.b.c", "fire.a.b.c.d",
    "fire." + "a" * 40, "fire." + "a" * 41, "flames.building", "fire.büilding", "fire.a-b",
    "capacity.icu", "other", "weather.storm_1", " fire.building", "fire.building ", "",
)  # fmt: skip

VALUES: Final[dict[str, st.SearchStrategy[Json]]] = {
    "source": enum("source"),
    "source_id": sized(1, 128),
    "category": st.sampled_from(CATEGORIES) | st.from_regex(CATEGORY_PATTERN),
    "observed_at": STAMPS,
    "sequence": st.integers(-2, 2**54)
    | st.sampled_from(
        [
            0,
            1,
            2,
            2**53 - 1,
            2**53,
            2**53 + 1,
            2**63,
            2**64,
            Raw("1.0"),
            Raw("1e0"),
            Raw("-0"),
            Raw("01"),
            Raw("2.5"),
            True,
            "1",
            None,
        ]
    ),
    "msg_type": enum("msg_type"),
    "status": enum("status"),
    "severity": enum("severity"),
    "urgency": enum("urgency"),
    "certainty": enum("certainty"),
    "onset_at": STAMPS,
    "expires_at": STAMPS,
    "geometry": geometries(),
    "area_codes": st.lists(
        st.sampled_from(AREA_CODES) | st.from_regex(AREA_CODE_PATTERN), max_size=3
    )
    | st.builds(lambda n: ["07111000"] * n, st.sampled_from([5_000, 5_001])),
    "geocodes": texts(3, 128, 5_000),
    "headline": sized(0, 200),
    "description": sized(0, 5_000),
    "metrics": metrics(),
    "agency": sized(1, 200),
    "message_id": sized(1, 256),
    "references": texts(1, 256, 100),
    "language": sized(0, 35),
    "event": sized(0, 200),
    "alternates": st.sampled_from(
        [
            [],
            None,
            [Obj([("language", "en")])],
            [Obj([("language", "en"), ("headline", "Fire"), ("description", "x")])],
            [Obj()],
            [Obj([("language", "en"), ("x", 1)])],
            [1],
            Obj([("language", "en")]),
            [Obj([("language", "en"), ("headline", "a\x00")])],
        ]
    ),
    "feed_format": enum("feed_format"),
    "received_at": STAMPS,
    "offset": st.integers(-1, 2**65)
    | st.sampled_from([0, -1, 2**63 - 1, 2**63, 2**64, 10**30, Raw("1.0"), Raw("-0"), "0"]),
}
FIELD_NAMES: Final = tuple(VALUES)
UNKNOWN_KEYS: Final = ("foo", "Source", "source ", "sourceId", "", "type", "coordinates", "lat")
WRONG: Final = st.sampled_from(
    [None, True, False, 0, 1, -1, 1.5, Raw("1e400"), "", "x", [], ["x"], Obj(), Obj([("a", 1)])]
)


# -- mutations of a valid line ---------------------------------------------------------------------

Mutation: TypeAlias = Callable[[st.DrawFn, Obj], None]


def set_field(draw: st.DrawFn, obj: Obj) -> None:
    name = draw(st.sampled_from(FIELD_NAMES))
    obj.set(name, draw(VALUES[name]))


def drop_field(draw: st.DrawFn, obj: Obj) -> None:
    if obj.pairs:
        obj.drop(draw(st.sampled_from(obj.keys() or ["source"])))


def null_field(draw: st.DrawFn, obj: Obj) -> None:
    obj.set(draw(st.sampled_from(FIELD_NAMES)), None)


def wrong_type(draw: st.DrawFn, obj: Obj) -> None:
    obj.set(draw(st.sampled_from(FIELD_NAMES)), draw(WRONG))


def duplicate_key(draw: st.DrawFn, obj: Obj) -> None:
    """A member again, with its value or another one, anywhere (msgspec: the last one wins)."""
    keys = obj.keys()
    if not keys:
        return
    key = draw(st.sampled_from(keys))
    value = obj.get(key) if draw(st.booleans()) else draw(VALUES.get(key, WRONG))
    obj.pairs.insert(draw(st.integers(0, len(obj.pairs))), (key, value))


def unknown_field(draw: st.DrawFn, obj: Obj) -> None:
    obj.pairs.insert(
        draw(st.integers(0, len(obj.pairs))), (draw(st.sampled_from(UNKNOWN_KEYS)), draw(WRONG))
    )


def shuffle(draw: st.DrawFn, obj: Obj) -> None:
    obj.pairs = draw(st.permutations(obj.pairs))


def escape_key(draw: st.DrawFn, obj: Obj) -> None:
    """A key spelled with \\u escapes ("s\\u006furce"): the same key to a JSON reader."""
    if obj.pairs:
        i = draw(st.integers(0, len(obj.pairs) - 1))
        key, value = obj.pairs[i]
        if isinstance(key, str):
            obj.pairs[i] = (Raw(string(key, draw(st.sampled_from(["unicode", "UNICODE"])))), value)


def edit_point(draw: st.DrawFn, obj: Obj) -> None:
    geometry = obj.get("geometry")
    if not isinstance(geometry, Obj) or not isinstance(geometry.get("coordinates"), list):
        obj.set("geometry", draw(points()))
        return
    position: list[Json] = list(geometry.get("coordinates"))
    replace: bool = draw(st.booleans())
    if position and replace:
        position[draw(st.integers(0, len(position) - 1))] = draw(NUMBERS)
    else:
        position.append(draw(NUMBERS))  # an altitude (or a fourth number)
    changed = Obj(list(geometry.pairs))  # geometry may be shared with other examples
    changed.set("coordinates", position)
    obj.set("geometry", changed)


def cancel_without_geometry(draw: st.DrawFn, obj: Obj) -> None:
    if draw(st.booleans()):
        obj.drop("geometry")
    else:
        obj.set("geometry", None)
    for name in ("area_codes", "geocodes"):
        if draw(st.booleans()):
            obj.drop(name)
    obj.set("msg_type", draw(st.sampled_from(["cancel", "cancel", "update", "alert", "Cancel"])))


def area_instead_of_point(draw: st.DrawFn, obj: Obj) -> None:
    if draw(st.booleans()):
        obj.drop("geometry")
    else:
        obj.set("geometry", None)
    name = draw(st.sampled_from(["area_codes", "geocodes"]))
    obj.set(name, draw(VALUES[name]))


def expires_near_observed(draw: st.DrawFn, obj: Obj) -> None:
    """``expires_at`` a microsecond, a second, an hour around ``observed_at`` in another zone."""
    observed = obj.get("observed_at")
    micros = draw(st.sampled_from([-1, 0, 1, -1_000_000, 3_600_000_000, -86_400_000_000]))
    minutes = draw(st.sampled_from([0, 60, -60, 1439, -1439]))
    try:
        at = datetime.fromisoformat(observed) if isinstance(observed, str) else None
        if at is None or at.tzinfo is None:
            return
        instant = at.astimezone(UTC) + timedelta(microseconds=micros)
        local = (instant + timedelta(minutes=minutes)).replace(tzinfo=None)
    except (ValueError, OverflowError):
        return
    obj.set(draw(st.sampled_from(["expires_at", "onset_at"])), _stamp(local, minutes, draw))


def restamp(draw: st.DrawFn, obj: Obj) -> None:
    name = draw(
        st.sampled_from(["observed_at", "observed_at", "onset_at", "expires_at", "received_at"])
    )
    obj.set(name, draw(STAMPS))


LIMITED: Final = (
    "source_id", "category", "headline", "description", "agency", "message_id", "language",
    "event", "references", "geocodes", "area_codes", "metrics", "sequence", "offset",
)  # fmt: skip


def near_limit(draw: st.DrawFn, obj: Obj) -> None:
    """A field with a length, pattern or range limit set to a value at or just beyond it."""
    name = draw(st.sampled_from(LIMITED))
    obj.set(name, draw(VALUES[name]))


MUTATIONS: Final[tuple[Mutation, ...]] = (
    set_field, set_field, set_field, set_field, set_field, set_field, drop_field, null_field,
    wrong_type, duplicate_key, unknown_field, shuffle, escape_key, edit_point, edit_point,
    edit_point, cancel_without_geometry, area_instead_of_point, expires_near_observed,
    expires_near_observed, restamp, restamp, restamp, restamp, near_limit, near_limit,
    near_limit,
)  # fmt: skip

FULL: Final = Report(
    source="weather", source_id="DWD-1.2.3 Warnung/7", category="weather.storm.gust_1",
    observed_at=datetime(2024, 6, 2, 6, 47, 23, 130780, tzinfo=UTC), sequence=7,
    msg_type="update", status="exercise", severity="severe", urgency="immediate",
    certainty="likely", onset_at=datetime(2024, 6, 2, 6, 44, 4, 976805, tzinfo=UTC),
    expires_at=datetime(2024, 6, 2, 13, 16, 18, tzinfo=UTC),
    geometry=Point(coordinates=[7.5886, 50.3569, 64.5]), area_codes=("073150000000", "07111"),
    geocodes=("SAME:039173", "EMMA_ID:DE415"), headline='Amtliche WARNUNG vor STURMBÖEN "Bft 9"',
    description="Es treten Sturmböen mit Geschwindigkeiten um 80 km/h auf.\nAchtung: 🌪",
    metrics={"gust_kmh": 80, "injured": 0}, agency="Deutscher Wetterdienst",
    message_id="2.49.0.0.276.0.DWD.PVW.1717310843000", references=("a,b,c", "d"),
    language="de-DE", event="STURMBÖEN", feed_format="cap",
    received_at=datetime(2024, 6, 2, 6, 48, tzinfo=UTC), offset=123_456,
)  # fmt: skip


@cache
def bases() -> tuple[bytes, ...]:
    """Valid lines to mutate: the scenario's and a few with every field set."""
    cancel = Report(source="police", source_id="P-9", category="security.threat",
                    observed_at=datetime(2030, 1, 1, tzinfo=UTC), msg_type="cancel")  # fmt: skip
    return (*scenario_lines(), encode_report(FULL), encode_report(FULL), encode_report(cancel))


@st.composite
def styles(draw: st.DrawFn) -> Style:
    gaps = draw(
        st.sampled_from(
            [("",)] * 8
            + [(" ",), ("", " ", "\n", "\t", "\r")] * 2
            + [("", "", "", "\x0b"), ("", "", "\u00a0")]  # not JSON's white space
        )
    )
    escapes = draw(st.sampled_from([("plain",), ("plain",), ("plain",), ESCAPES, ("ascii",)]))
    return Style(gaps, escapes, random.Random(draw(st.integers(0, 2**32))))


def with_edges(draw: st.DrawFn, line: bytes) -> bytes:
    """``line`` as is mostly; else with something before or after it, cut, or a byte put in."""
    kind = draw(st.integers(0, 23))
    if kind == 20:
        tails = [b"\n", b"\r\n", b" ", b"\t", b"x", b"}", b",", b"\x00", b"\n\n", b" \n", b"{}"]
        return line + draw(st.sampled_from(tails))
    if kind == 21:
        return draw(st.sampled_from([b" ", b"\n", b"\xef\xbb\xbf", b"\t", b"\x00"])) + line
    if kind == 22:
        return line[: draw(st.integers(0, len(line)))]
    if kind == 23:
        at = draw(st.integers(0, len(line)))
        return line[:at] + draw(st.binary(min_size=1, max_size=2)) + line[at:]
    return line


@st.composite
def mutated_lines(draw: st.DrawFn) -> bytes:
    obj = tree(draw(st.sampled_from(bases())))
    for _ in range(draw(st.integers(0, 4))):
        draw(st.sampled_from(MUTATIONS))(draw, obj)
    return with_edges(draw, encoded(obj, draw(styles())))


# -- 2. mutated lines ------------------------------------------------------------------------------


@settings(SETTINGS, max_examples=1500)
@given(mutated_lines())
def test_accepts_only_what_python_accepts(line: bytes) -> None:
    event("accepted" if check(line) is not None else "declined")


# -- 3. the edge cases, one by one -----------------------------------------------------------------

ACCEPT: Final = "accept"
"""The reader returns a tuple (equal to expected)."""
DECLINE: Final = "decline"
"""The reader declines a line Python accepts: it is merely conservative."""
REJECT: Final = "reject"
"""Python rejects the line; the reader must decline it."""
AGREE: Final = "agree"
"""Either: the reader declines, or it returns what Python decodes (not pinned down here)."""

MINIMAL: Final = Obj([
    ("source", "fire"), ("source_id", "F-1"), ("category", "fire.building"),
    ("observed_at", "2024-06-01T06:00:00Z"),
    ("geometry", Obj([("type", "Point"), ("coordinates", [7.5886, 50.3569])])),
])  # fmt: skip
DROP: Final = object()


def line(*, extra: str = "", **fields: Json) -> bytes:
    """:data:`MINIMAL` with ``fields`` set (``Raw`` for JSON text as is; :data:`DROP` drops
    the member) and ``extra`` (raw JSON text of more members) at its end."""
    obj = Obj(list(MINIMAL.pairs))
    for name, value in fields.items():
        if value is DROP:
            obj.drop(name)
        else:
            obj.set(name, value)
    text = render(obj)
    if extra:
        text = text[:-1] + "," + extra + "}"
    return text.encode("utf-8", "surrogatepass")


def point(*coordinates: Json) -> Obj:
    return Obj([("type", "Point"), ("coordinates", list(coordinates))])


def at(stamp: str) -> bytes:
    return line(observed_at=stamp)


def headline(text: str) -> bytes:
    """A headline given as the JSON text between its quotes."""
    return line(headline=Raw(f'"{text}"'))


def _case(outcome: str, name: str, data: bytes) -> Any:
    return pytest.param(data, outcome, id=f"{outcome}-{name}")


PLAIN_POINT: Final = line()
POLYGON: Final = Obj([("type", "Polygon"), ("coordinates", SQUARE)])
CASES: Final = [
    # what the reader is for
    _case(ACCEPT, "minimal", PLAIN_POINT),
    _case(ACCEPT, "all-optional-fields-canonical", encode_report(FULL)),
    _case(
        ACCEPT,
        "headline-escapes-quote-backslash-newline-tab-u00e9",
        headline('Brand \\"Lager\\" in K\\u00e9ln \\\\ Halle\\n\\t3'),
    ),
    _case(ACCEPT, "headline-escaped-surrogate-pair", headline("Einsatz \\ud83d\\ude92")),
    _case(
        ACCEPT, "headline-raw-utf8-and-del-and-u2028", line(headline="Überflutung ✓ 🚒 \x7f \u2028")
    ),
    _case(ACCEPT, "headline-empty", line(headline="")),
    _case(
        ACCEPT,
        "received-at-and-offset",
        line(received_at="2024-06-01T06:00:01.5Z", offset=2**63 - 1),
    ),
    _case(ACCEPT, "status-exercise", line(status="exercise")),
    _case(ACCEPT, "status-test", line(status="test")),
    _case(ACCEPT, "cancel-without-geometry", line(geometry=DROP, msg_type="cancel")),
    _case(ACCEPT, "cancel-geometry-null", line(geometry=None, msg_type="cancel")),
    _case(ACCEPT, "metrics", line(metrics=Obj([("injured", 2), ("dead", 0), ("b", 10**9)]))),
    _case(ACCEPT, "metrics-32", line(metrics=Obj([(f"m{i}", i) for i in range(32)]))),
    _case(ACCEPT, "metric-key-40-chars", line(metrics=Obj([("a" * 40, 1)]))),
    _case(ACCEPT, "area-codes-and-point", line(area_codes=["07111000", "07", "0" * 12])),
    _case(ACCEPT, "area-codes-without-geometry", line(geometry=DROP, area_codes=["07111"])),
    _case(ACCEPT, "geocodes-without-geometry", line(geometry=DROP, geocodes=["SAME:039173"])),
    _case(ACCEPT, "point-with-altitude", line(geometry=point(7.5, 50.25, 120.0))),
    _case(ACCEPT, "point-at-180-90", line(geometry=point(180.0, 90.0))),
    _case(ACCEPT, "point-at-minus-180-minus-90", line(geometry=point(-180.0, -90.0))),
    _case(ACCEPT, "offset-plus-02-00", at("2024-06-01T08:00:00+02:00")),
    _case(ACCEPT, "offset-minus-05-30-fraction-1-digit", at("2024-06-01T00:30:00.5-05:30")),
    _case(ACCEPT, "fraction-6-digits", at("2024-06-01T06:00:00.123456Z")),
    _case(ACCEPT, "fraction-3-digits-offset", at("2024-06-01T06:00:00.123+01:00")),
    _case(ACCEPT, "feb-29-leap-year", at("2024-02-29T12:00:00Z")),
    _case(ACCEPT, "feb-29-2000", at("2000-02-29T12:00:00Z")),
    _case(ACCEPT, "earliest-1990", at("1990-01-01T00:00:00Z")),
    _case(ACCEPT, "earliest-1990-as-1989-with-offset", at("1989-12-31T23:00:00-01:00")),
    _case(ACCEPT, "last-microsecond-before-2100", at("2099-12-31T23:59:59.999999Z")),
    _case(ACCEPT, "2100-local-but-2099-utc", at("2100-01-01T00:30:00+01:00")),
    _case(ACCEPT, "sequence-2-53", line(sequence=2**53)),
    _case(ACCEPT, "sequence-1", line(sequence=1)),
    _case(ACCEPT, "expires-equal-observed", line(expires_at="2024-06-01T06:00:00Z")),
    _case(
        ACCEPT, "expires-equal-observed-other-offset", line(expires_at="2024-06-01T08:00:00+02:00")
    ),
    _case(ACCEPT, "onset-before-observed", line(onset_at="2024-05-31T06:00:00Z")),
    _case(ACCEPT, "headline-200-two-byte-chars", line(headline="é" * 200)),
    _case(ACCEPT, "headline-200-four-byte-chars", line(headline="🚒" * 200)),
    _case(ACCEPT, "headline-200-escaped-pairs", headline("\\ud83d\\ude92" * 200)),
    _case(ACCEPT, "description-5000", line(description="€" * 5_000)),
    _case(ACCEPT, "source-id-128-printable-ascii", line(source_id="~" * 127 + "A")),
    _case(ACCEPT, "source-id-inner-space", line(source_id="Wache 12")),
    _case(ACCEPT, "message-id-256-three-byte-chars", line(message_id="€" * 256)),
    _case(ACCEPT, "references-100", line(references=["r"] * 100)),
    _case(ACCEPT, "category-3-details-of-40", line(category="other." + ".".join(["a" * 40] * 3))),
    _case(ACCEPT, "alternates-empty", line(alternates=[])),
    _case(ACCEPT, "language-35", line(language="x" * 35)),
    _case(ACCEPT, "feed-format-nina", line(feed_format="nina")),
    # merely conservative: Python accepts these, the reader leaves them to Python
    _case(DECLINE, "conservative-polygon", line(geometry=POLYGON)),
    _case(
        DECLINE,
        "conservative-multipolygon",
        line(geometry=Obj([("type", "MultiPolygon"), ("coordinates", [SQUARE])])),
    ),
    _case(DECLINE, "conservative-lowercase-z", at("2024-06-01T06:00:00z")),
    _case(DECLINE, "conservative-lowercase-t", at("2024-06-01t06:00:00Z")),
    _case(DECLINE, "conservative-space-separator", at("2024-06-01 06:00:00Z")),
    _case(DECLINE, "conservative-fraction-7-digits", at("2024-06-01T06:00:00.1234567Z")),
    _case(DECLINE, "conservative-fraction-9-digits", at("2024-06-01T06:00:00.000000000Z")),
    _case(DECLINE, "conservative-offset-without-colon", at("2024-06-01T08:00:00+0200")),
    _case(
        DECLINE,
        "conservative-alternates-non-empty",
        line(alternates=[Obj([("language", "en"), ("headline", "Fire")])]),
    ),
    _case(DECLINE, "conservative-duplicate-key-last-wins", line(extra='"source":"police"')),
    _case(DECLINE, "conservative-duplicate-key-same-value", line(extra='"source":"fire"')),
    _case(
        DECLINE,
        "conservative-duplicate-geometry-null-but-area",
        line(area_codes=["07111"], extra='"geometry":null'),
    ),
    _case(
        DECLINE, "conservative-duplicate-metric-key", line(metrics=Raw('{"injured":1,"injured":2}'))
    ),
    _case(
        DECLINE,
        "conservative-33-metrics-with-a-duplicate",
        line(metrics=Raw("{" + ",".join(f'"m{i}":1' for i in range(32)) + ',"m0":2}')),
    ),
    _case(
        DECLINE,
        "conservative-duplicate-key-in-point",
        line(geometry=Raw('{"type":"Point","coordinates":[1.0,2.0],"coordinates":[7.5,50.0]}')),
    ),
    _case(DECLINE, "conservative-source-id-non-ascii", line(source_id="Wache-Köln")),
    # Python rejects these: the reader must decline them
    _case(REJECT, "unknown-field", line(foo=1)),
    _case(
        REJECT,
        "unknown-field-in-point",
        line(geometry=Raw('{"type":"Point","coordinates":[7.5,50.0],"bbox":[]}')),
    ),
    _case(
        REJECT, "unknown-field-in-alternate", line(alternates=[Obj([("language", "en"), ("x", 1)])])
    ),
    _case(REJECT, "invalid-json-truncated", PLAIN_POINT[:-1]),
    _case(REJECT, "invalid-json-trailing-garbage", PLAIN_POINT + b"x"),
    _case(REJECT, "invalid-json-two-objects", PLAIN_POINT + b"{}"),
    _case(REJECT, "invalid-json-trailing-comma", PLAIN_POINT[:-1] + b",}"),
    _case(REJECT, "invalid-json-bom", b"\xef\xbb\xbf" + PLAIN_POINT),
    _case(REJECT, "invalid-json-nan", line(geometry=point(Raw("NaN"), 50.0))),
    _case(REJECT, "invalid-json-number-8.", line(geometry=point(Raw("8."), 50.0))),
    _case(REJECT, "invalid-json-number-leading-zero", line(sequence=Raw("01"))),
    _case(REJECT, "invalid-json-raw-tab-in-string", line(headline=Raw('"a\tb"'))),
    _case(REJECT, "invalid-json-bad-escape", headline("a\\qb")),
    _case(REJECT, "invalid-json-single-quotes", PLAIN_POINT.replace(b'"', b"'")),
    _case(REJECT, "invalid-json-empty", b""),
    _case(REJECT, "not-an-object", b"[]"),
    _case(REJECT, "invalid-utf8", PLAIN_POINT[:-1] + b',"headline":"a\xffb"}'),
    _case(REJECT, "utf8-encoded-surrogate", line(headline=Raw('"a\ud800b"'))),
    _case(REJECT, "lone-high-surrogate-escape", headline("a\\ud800b")),
    _case(REJECT, "lone-low-surrogate-escape", headline("a\\udc00b")),
    _case(REJECT, "reversed-surrogate-pair-escape", headline("\\ude92\\ud83d")),
    _case(REJECT, "nul-in-headline", headline("a\\u0000b")),
    _case(REJECT, "nul-in-language", line(language="de\x00")),
    _case(REJECT, "nul-in-reference", line(references=["a\x00"])),
    _case(REJECT, "nul-in-geocode", line(geocodes=["SAME:\x00"])),
    _case(REJECT, "missing-source", line(source=DROP)),
    _case(REJECT, "missing-source-id", line(source_id=DROP)),
    _case(REJECT, "missing-category", line(category=DROP)),
    _case(REJECT, "missing-observed-at", line(observed_at=DROP)),
    _case(REJECT, "source-null", line(source=None)),
    _case(REJECT, "msg-type-null", line(msg_type=None)),
    _case(REJECT, "sequence-null", line(sequence=None)),
    _case(REJECT, "metrics-null", line(metrics=None)),
    _case(REJECT, "area-codes-null", line(area_codes=None)),
    _case(REJECT, "source-capitalised", line(source="Fire")),
    _case(REJECT, "status-capitalised", line(status="Actual")),
    _case(REJECT, "feed-format-unknown", line(feed_format="xml")),
    _case(REJECT, "sequence-0", line(sequence=0)),
    _case(REJECT, "sequence-minus-1", line(sequence=-1)),
    _case(REJECT, "sequence-minus-0", line(sequence=Raw("-0"))),
    _case(REJECT, "sequence-2-53-plus-1", line(sequence=2**53 + 1)),
    _case(REJECT, "sequence-2-64", line(sequence=2**64)),
    _case(REJECT, "sequence-1.0", line(sequence=Raw("1.0"))),
    _case(REJECT, "sequence-1e0", line(sequence=Raw("1e0"))),
    _case(REJECT, "sequence-string", line(sequence="1")),
    _case(REJECT, "sequence-true", line(sequence=True)),
    _case(REJECT, "offset-minus-1", line(offset=-1)),
    _case(REJECT, "offset-1.0", line(offset=Raw("1.0"))),
    _case(REJECT, "metric-1e9-plus-1", line(metrics=Obj([("a", 10**9 + 1)]))),
    _case(REJECT, "metric-negative", line(metrics=Obj([("a", -1)]))),
    _case(REJECT, "metric-1.0", line(metrics=Obj([("a", Raw("1.0"))]))),
    _case(REJECT, "metric-1e9-as-float", line(metrics=Obj([("a", Raw("1e9"))]))),
    _case(REJECT, "metric-key-41-chars", line(metrics=Obj([("a" * 41, 1)]))),
    _case(REJECT, "metric-key-uppercase", line(metrics=Obj([("Injured", 1)]))),
    _case(REJECT, "metric-key-digit-first", line(metrics=Obj([("1a", 1)]))),
    _case(REJECT, "metrics-33", line(metrics=Obj([(f"m{i}", i) for i in range(33)]))),
    _case(
        REJECT,
        "longitude-next-float-above-180",
        line(geometry=point(Raw("180.00000000000003"), 50.0)),
    ),
    _case(
        REJECT,
        "longitude-halfway-above-180-plus",
        line(geometry=point(Raw("180.00000000000001421085471520200371742248535156251"), 50.0)),
    ),
    _case(
        REJECT,
        "latitude-next-float-below-minus-90",
        line(geometry=point(7.5, Raw("-90.00000000000001"))),
    ),
    _case(REJECT, "longitude-1e400", line(geometry=point(Raw("1e400"), 50.0))),
    _case(REJECT, "altitude-1e400", line(geometry=point(7.5, 50.0, Raw("1e400")))),
    _case(REJECT, "altitude-310-digit-int", line(geometry=point(7.5, 50.0, Raw("1" + "0" * 309)))),
    _case(REJECT, "longitude-string", line(geometry=point("7.5", 50.0))),
    _case(REJECT, "longitude-true", line(geometry=point(True, 50.0))),
    _case(REJECT, "point-one-number", line(geometry=point(7.5))),
    _case(REJECT, "point-four-numbers", line(geometry=point(7.5, 50.0, 1.0, 2.0))),
    _case(REJECT, "point-without-coordinates", line(geometry=Obj([("type", "Point")]))),
    _case(
        REJECT,
        "point-type-lowercase",
        line(geometry=Raw('{"type":"point","coordinates":[7.5,50.0]}')),
    ),
    _case(REJECT, "geometry-array", line(geometry=[7.5, 50.0])),
    _case(
        REJECT,
        "polygon-not-closed",
        line(geometry=Obj([("type", "Polygon"), ("coordinates", OPEN)])),
    ),
    _case(REJECT, "alert-without-geometry", line(geometry=DROP)),
    _case(REJECT, "alert-geometry-null-area-codes-empty", line(geometry=None, area_codes=[])),
    _case(REJECT, "update-without-geometry", line(geometry=DROP, msg_type="update")),
    _case(REJECT, "expires-1us-before-observed", line(expires_at="2024-06-01T05:59:59.999999Z")),
    _case(
        REJECT, "expires-before-observed-other-offset", line(expires_at="2024-06-01T07:59:59+02:00")
    ),
    _case(REJECT, "observed-1us-before-1990", at("1989-12-31T23:59:59.999999Z")),
    _case(REJECT, "observed-1990-local-but-1989-utc", at("1990-01-01T00:30:00+01:00")),
    _case(REJECT, "observed-2100", at("2100-01-01T00:00:00Z")),
    _case(REJECT, "observed-2099-local-but-2100-utc", at("2099-12-31T23:30:00-01:00")),
    _case(REJECT, "observed-7-digits-round-up-to-2100", at("2099-12-31T23:59:59.9999995Z")),
    _case(REJECT, "onset-1980", line(onset_at="1980-06-01T08:00:00+02:00")),
    _case(REJECT, "expires-2100", line(expires_at="2100-01-01T00:00:00Z")),
    _case(REJECT, "no-offset", at("2024-06-01T06:00:00")),
    _case(REJECT, "offset-plus-24-00", at("2024-06-01T06:00:00+24:00")),
    _case(REJECT, "offset-minute-60", at("2024-06-01T06:00:00+00:60")),
    _case(REJECT, "offset-hours-only", at("2024-06-01T06:00:00+01")),
    _case(REJECT, "hour-24", at("2024-06-01T24:00:00Z")),
    _case(REJECT, "second-60", at("2024-06-01T23:59:60Z")),
    _case(REJECT, "feb-29-non-leap-year", at("2023-02-29T12:00:00Z")),
    _case(REJECT, "feb-29-2100", at("2100-02-29T12:00:00Z")),
    _case(REJECT, "april-31", at("2024-04-31T12:00:00Z")),
    _case(REJECT, "month-13", at("2024-13-01T12:00:00Z")),
    _case(REJECT, "no-seconds", at("2024-06-01T06:00Z")),
    _case(REJECT, "empty-fraction", at("2024-06-01T06:00:00.Z")),
    _case(REJECT, "date-only", at("2024-06-01")),
    _case(REJECT, "timestamp-space-before-z", at("2024-06-01T06:00:00 Z")),
    _case(REJECT, "timestamp-as-number", line(observed_at=1717221600)),
    _case(REJECT, "received-at-without-offset", line(received_at="2024-06-01T06:00:00")),
    _case(REJECT, "headline-201-two-byte-chars", line(headline="é" * 201)),
    _case(REJECT, "headline-201-escaped-pairs", headline("\\ud83d\\ude92" * 201)),
    _case(REJECT, "description-5001", line(description="a" * 5_001)),
    _case(REJECT, "event-201-four-byte-chars", line(event="🚒" * 201)),
    _case(REJECT, "language-36", line(language="x" * 36)),
    _case(REJECT, "agency-empty", line(agency="")),
    _case(REJECT, "message-id-257-three-byte-chars", line(message_id="€" * 257)),
    _case(REJECT, "references-101", line(references=["r"] * 101)),
    _case(REJECT, "reference-empty", line(references=[""])),
    _case(REJECT, "reference-257", line(references=["r" * 257])),
    _case(REJECT, "geocode-2-chars", line(geometry=DROP, geocodes=["ab"])),
    _case(REJECT, "geocode-129-two-byte-chars", line(geocodes=["é" * 129])),
    _case(REJECT, "area-code-1-digit", line(area_codes=["1"])),
    _case(REJECT, "area-code-13-digits", line(area_codes=["1" * 13])),
    _case(REJECT, "area-code-arabic-digits", line(area_codes=["\u0661\u0662"])),
    _case(REJECT, "area-codes-5001", line(area_codes=["07111000"] * 5_001)),
    _case(REJECT, "source-id-empty", line(source_id="")),
    _case(REJECT, "source-id-129", line(source_id="a" * 129)),
    _case(REJECT, "source-id-leading-space", line(source_id=" F-1")),
    _case(REJECT, "source-id-trailing-tab", line(source_id="F-1\t")),
    _case(REJECT, "source-id-nbsp-inside", line(source_id="F\u00a01")),
    _case(REJECT, "source-id-del", line(source_id="F\x7f1")),
    _case(REJECT, "source-id-u2028", line(source_id="F\u20281")),
    _case(REJECT, "category-unknown-family", line(category="flames.building")),
    _case(REJECT, "category-4-details", line(category="fire.a.b.c.d")),
    _case(REJECT, "category-detail-41", line(category="fire." + "a" * 41)),
    _case(REJECT, "category-uppercase", line(category="Fire.building")),
    _case(REJECT, "category-newline-inside", line(category="fire\n.building")),
    _case(REJECT, "category-two-trailing-newlines", line(category="fire.building\n\n")),
    _case(REJECT, "category-trailing-space", line(category="fire.building ")),
    _case(REJECT, "alternates-null", line(alternates=None)),
    # either way: declining or agreeing with Python are both right (Python accepts them all)
    _case(AGREE, "category-trailing-newline-python-accepts", line(category="fire.building\n")),
    _case(AGREE, "area-code-trailing-newline-python-accepts", line(area_codes=["0711\n"])),
    _case(AGREE, "metric-key-trailing-newline-python-accepts", line(metrics=Obj([("abc\n", 1)]))),
    _case(AGREE, "offset-minus-00-00", at("2024-06-01T06:00:00-00:00")),
    _case(AGREE, "offset-plus-00-00", at("2024-06-01T06:00:00+00:00")),
    _case(AGREE, "offset-plus-23-59", at("2024-06-01T06:00:00+23:59")),
    _case(AGREE, "offset-minus-23-59", at("2024-06-01T06:00:00-23:59")),
    _case(
        AGREE, "timestamp-with-escapes", line(observed_at=Raw('"\\u0032024-06-01T06:00:00\\u005a"'))
    ),
    _case(AGREE, "escaped-key", line(extra='"s\\u0065verity":"minor"')),
    _case(AGREE, "escaped-enum-value", line(source=Raw('"\\u0066ire"'))),
    _case(
        AGREE,
        "escaped-point-tag",
        line(geometry=Raw('{"type":"P\\u006fint","coordinates":[7.5,50.0]}')),
    ),
    _case(AGREE, "escapes-slash-backspace-formfeed-cr", headline("a\\/b\\bc\\fd\\re")),
    _case(
        AGREE,
        "members-in-another-order",
        b'{"geometry":{"coordinates":[7.5,50.0],"type":"Point"},'
        b'"observed_at":"2024-06-01T06:00:00Z","category":"fire.building","source_id":"F-1",'
        b'"source":"fire"}',
    ),
    _case(
        AGREE,
        "whitespace-between-tokens",
        b'{ "source" : "fire" ,\t"source_id":"F-1",\r\n'
        b'"category":"fire.building","observed_at":"2024-06-01T06:00:00Z","geometry":'
        b'{ "type" : "Point" , "coordinates" : [ 7.5 , 50.0 ] } }',
    ),
    _case(AGREE, "trailing-newline", PLAIN_POINT + b"\n"),
    _case(AGREE, "trailing-crlf", PLAIN_POINT + b"\r\n"),
    _case(AGREE, "leading-space", b" " + PLAIN_POINT),
    _case(AGREE, "integer-coordinates", line(geometry=point(8, 50))),
    _case(AGREE, "integer-coordinates-at-the-limits", line(geometry=point(-180, 90, 0))),
    _case(AGREE, "minus-zero-coordinates", line(geometry=point(-0.0, Raw("-0"), -0.0))),
    _case(AGREE, "minus-zero-exponent", line(geometry=point(Raw("-0e0"), Raw("-0.0E+5")))),
    _case(AGREE, "underflow-to-minus-zero", line(geometry=point(Raw("-1e-400"), Raw("1e-400")))),
    _case(AGREE, "subnormal", line(geometry=point(Raw("5e-324"), Raw("-2.4703282292062328e-324")))),
    _case(
        AGREE,
        "below-half-smallest-subnormal",
        line(geometry=point(Raw("2.4703282292062327e-324"), 1.0)),
    ),
    _case(
        AGREE,
        "longitude-halfway-above-180-rounds-to-180",
        line(geometry=point(Raw("180.0000000000000142108547152020037174224853515625"), 50.0)),
    ),
    _case(
        AGREE,
        "longitude-180.00000000000001-rounds-to-180",
        line(geometry=point(Raw("180.00000000000001"), 50.0)),
    ),
    _case(
        AGREE,
        "halfway-1-rounds-to-even",
        line(geometry=point(Raw("1.00000000000000011102230246251565404236316680908203125"), 2.0)),
    ),
    _case(
        AGREE,
        "halfway-1-plus-rounds-up",
        line(geometry=point(Raw("1.000000000000000111022302462515654042363166809082031251"), 2.0)),
    ),
    _case(AGREE, "exponent-spellings", line(geometry=point(Raw("0.75E1"), Raw("5000e-2")))),
    _case(
        AGREE,
        "long-mantissa",
        line(geometry=point(Raw("7." + "5" * 400), Raw("4" + "9" * 30 + "e-30"))),
    ),
    _case(
        AGREE, "altitude-max-float", line(geometry=point(7.5, 50.0, Raw("1.7976931348623157e308")))
    ),
    _case(
        AGREE, "altitude-huge-integer", line(geometry=point(7.5, 50.0, Raw("18446744073709551617")))
    ),
    _case(AGREE, "offset-beyond-u64", line(offset=2**64 + 1)),
    _case(AGREE, "optional-strings-null", line(headline=None, urgency=None, language=None)),
    _case(AGREE, "onset-expires-null", line(onset_at=None, expires_at=None, received_at=None)),
    _case(AGREE, "geocodes-5000", line(geocodes=["SAME:1"] * 5_000)),
]


@pytest.mark.parametrize(("data", "outcome"), CASES)
def test_edge_cases(data: bytes, outcome: str) -> None:
    got = check(data)
    if outcome == ACCEPT:
        assert got is not None, f"the reader declined {data!r}"
    elif outcome == DECLINE:
        assert got is None
        decode_report(data)  # Python accepts: the case is merely conservative
    elif outcome == REJECT:
        assert got is None
        with pytest.raises(ReportInvalid):
            decode_report(data)
    else:
        assert outcome == AGREE
        decode_report(data)  # Python accepts; check() saw to the reader


# -- 4. anything at all ----------------------------------------------------------------------------

JSONISH: Final = '{}[]":,0123456789.eE+-tfnulrsaZT \\'


def _fragments() -> st.SearchStrategy[bytes]:
    """Pieces of valid lines, glued: near-JSON the reader has to get through."""
    return st.lists(
        st.sampled_from(bases()[:50]).flatmap(
            lambda line: st.tuples(st.integers(0, len(line)), st.integers(0, len(line))).map(
                lambda cut: line[min(cut) : max(cut)]
            )
        ),
        min_size=1,
        max_size=4,
    ).map(b"".join)


@settings(SETTINGS, max_examples=600)
@given(
    st.binary(max_size=300)
    | st.text(max_size=200).map(str.encode)
    | st.text(st.characters(exclude_categories=()), max_size=100).map(
        lambda text: text.encode("utf-8", "surrogatepass")
    )
    | st.text(JSONISH, max_size=200).map(str.encode)
    | st.deferred(_fragments)
)
def test_never_raises(data: bytes) -> None:
    check(data)


def test_helpers_spell_json_as_meant() -> None:
    """The line builders themselves: canonical lines survive a round trip, escape modes and
    whitespace do not change what Python decodes."""
    for base in bases()[:200] + bases()[-3:]:
        assert encoded(tree(base)) == base
    full = tree(encode_report(FULL))
    want = decode_report(encode_report(FULL))
    for mode in ESCAPES:
        for gaps in [("",), (" ", "\n", "\t", "\r")]:
            spelled = encoded(full, Style(gaps, (mode,), random.Random(1)))
            assert decode_report(spelled) == want, spelled
    assert string("é🚒\ud800", "unicode") == '"\\u00e9\\ud83d\\ude92\\ud800"'
    assert string("é/", "UNICODE") == '"\\u00E9\\u002F"'
    assert string("a/b", "slash") == '"a\\/b"'
