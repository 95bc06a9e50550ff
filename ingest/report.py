"""The canonical report (contract 1 of DESIGN.md) and its strict validation.

The model is a frozen ``msgspec.Struct``: decoding JSON straight into it validates types and
limits in C, which is what makes decode+engine fast enough (see ``docs/PERFORMANCE.md`` for the
measured comparison with pydantic). Rules msgspec cannot express sit in ``__post_init__`` and in
:func:`ingest.geometry.checked`; every failure becomes a :class:`ReportInvalid` naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal, TypeAlias, get_args

import msgspec

from ingest.errors import ReportInvalid

Source: TypeAlias = Literal["police", "fire", "health", "weather", "civil_protection", "other"]
MsgType: TypeAlias = Literal["alert", "update", "cancel"]
Status: TypeAlias = Literal["actual", "exercise", "test"]
Severity: TypeAlias = Literal["extreme", "severe", "moderate", "minor", "unknown"]
Urgency: TypeAlias = Literal["immediate", "expected", "future", "past", "unknown"]
Certainty: TypeAlias = Literal["observed", "likely", "possible", "unlikely", "unknown"]
FeedFormat: TypeAlias = Literal["canonical", "cap", "nina", "geojson", "csv"]
Family: TypeAlias = Literal[
    "fire", "flood", "accident", "rescue", "medical", "hazmat",
    "security", "infrastructure", "weather", "capacity", "other",
]  # fmt: skip

SOURCES: Final[tuple[str, ...]] = get_args(Source)
SEVERITIES: Final[tuple[str, ...]] = get_args(Severity)
FAMILIES: Final[tuple[str, ...]] = get_args(Family)
SEVERITY_RANK: Final[Mapping[str, int]] = {s: len(SEVERITIES) - i for i, s in enumerate(SEVERITIES)}

CATEGORY_PATTERN: Final = rf"^({'|'.join(FAMILIES)})(\.[a-z0-9_]{{1,40}}){{0,3}}$"
METRIC_PATTERN: Final = r"^[a-z][a-z0-9_]{0,39}$"
AREA_CODE_PATTERN: Final = r"^[0-9]{2,12}$"

# Event times outside this range are typos or attacks, never real reports.
EARLIEST: Final = datetime(1990, 1, 1, tzinfo=UTC)
LATEST: Final = datetime(2100, 1, 1, tzinfo=UTC)
_RANGE: Final = "must lie between 1990 and 2100"
MAX_VERTICES: Final = 200_000
MAX_POLYGONS: Final = 5_000

# [lon, lat] or [lon, lat, altitude]; ranges are checked in __post_init__ / geometry.checked
# because msgspec cannot put per-item limits on a variable-length array.
Position = Annotated[list[float], msgspec.Meta(min_length=2, max_length=3)]
Ring = Annotated[list[Position], msgspec.Meta(min_length=4)]
Timestamp = Annotated[datetime, msgspec.Meta(tz=True)]


def unsign_zero(position: list[float]) -> None:
    """Make a -0.0 coordinate 0.0, in place. PostgreSQL's jsonb, which holds the report log and
    the history, stores -0.0 as 0: a report must mean the same in memory, on the bus and in the
    log, or a live picture could differ from its replay ("-0.0" against "0.0")."""
    if 0.0 in position:  # == also matches -0.0; positive zero passes through unchanged
        position[:] = [c + 0.0 for c in position]  # -0.0 + 0.0 is 0.0


def out_of_range(position: list[float]) -> str | None:
    """Why a WGS84 position is impossible, or None."""
    lon, lat = position[0], position[1]
    if not -180.0 <= lon <= 180.0:
        return f"longitude {lon} outside [-180, 180]"
    if not -90.0 <= lat <= 90.0:
        return f"latitude {lat} outside [-90, 90]"
    return None


class Point(msgspec.Struct, frozen=True, tag_field="type", tag="Point", forbid_unknown_fields=True):
    coordinates: Position

    def __post_init__(self) -> None:
        unsign_zero(self.coordinates)
        problem = out_of_range(self.coordinates)
        if problem:
            raise ValueError(f"coordinates|{problem}")


class Polygon(
    msgspec.Struct, frozen=True, tag_field="type", tag="Polygon", forbid_unknown_fields=True
):
    coordinates: Annotated[list[Ring], msgspec.Meta(min_length=1, max_length=1_000)]


class MultiPolygon(
    msgspec.Struct, frozen=True, tag_field="type", tag="MultiPolygon", forbid_unknown_fields=True
):
    coordinates: Annotated[
        list[Annotated[list[Ring], msgspec.Meta(min_length=1, max_length=1_000)]],
        msgspec.Meta(min_length=1, max_length=MAX_POLYGONS),
    ]


Geometry: TypeAlias = Point | Polygon | MultiPolygon


class Alternate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The same message in another language (CAP ``info`` blocks not chosen as primary)."""

    language: Annotated[str, msgspec.Meta(max_length=35)]
    headline: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    description: Annotated[str, msgspec.Meta(max_length=5000)] | None = None

    def __post_init__(self) -> None:
        _no_nul(("headline", self.headline), ("description", self.description))


def _no_nul(*fields: tuple[str, str | None]) -> None:
    # PostgreSQL's jsonb cannot hold U+0000: a report carrying one would be acknowledged by
    # nobody (every write of it fails), so it is refused here, naming the field.
    for name, text in fields:
        if text is not None and "\x00" in text:
            raise ValueError(f"{name}|must not contain NUL (U+0000) characters")


class Report(
    msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, forbid_unknown_fields=True
):
    """One report of one thread, as contract 1 defines it.

    Beyond the contract: ``geocodes`` keeps area codes of other schemes as ``"SCHEME:value"``
    (CAP SAME, UGC, EMMA_ID, ...) so that a foreign alert is still a located, auditable report;
    ``message_id``/``references`` carry a feed's own message identity so the
    engine can chain CAP Update/Cancel messages onto the original thread; ``onset_at``,
    ``language``, ``event`` and ``alternates`` keep what warnings need; ``feed_format`` says which
    parser produced the report; ``received_at``/``offset`` are set by the server, never trusted.
    """

    source: Source
    source_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    category: Annotated[str, msgspec.Meta(pattern=CATEGORY_PATTERN, max_length=160)]
    observed_at: Timestamp
    sequence: Annotated[int, msgspec.Meta(ge=1, le=2**53)] = 1
    msg_type: MsgType = "alert"
    status: Status = "actual"
    severity: Severity = "unknown"
    urgency: Urgency | None = None
    certainty: Certainty | None = None
    onset_at: Timestamp | None = None
    expires_at: Timestamp | None = None
    geometry: Geometry | None = None
    area_codes: Annotated[
        tuple[Annotated[str, msgspec.Meta(pattern=AREA_CODE_PATTERN)], ...],
        msgspec.Meta(max_length=5_000),
    ] = ()
    geocodes: Annotated[
        tuple[Annotated[str, msgspec.Meta(min_length=3, max_length=128)], ...],
        msgspec.Meta(max_length=5_000),
    ] = ()
    headline: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    description: Annotated[str, msgspec.Meta(max_length=5000)] | None = None
    metrics: Annotated[
        dict[
            Annotated[str, msgspec.Meta(pattern=METRIC_PATTERN)],
            Annotated[int, msgspec.Meta(ge=0, le=1_000_000_000)],
        ],
        msgspec.Meta(max_length=32),
    ] = {}
    agency: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    message_id: Annotated[str, msgspec.Meta(min_length=1, max_length=256)] | None = None
    references: Annotated[
        tuple[Annotated[str, msgspec.Meta(min_length=1, max_length=256)], ...],
        msgspec.Meta(max_length=100),
    ] = ()
    language: Annotated[str, msgspec.Meta(max_length=35)] | None = None
    event: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    alternates: Annotated[tuple[Alternate, ...], msgspec.Meta(max_length=20)] = ()
    feed_format: FeedFormat = "canonical"
    received_at: Timestamp | None = None
    offset: Annotated[int, msgspec.Meta(ge=0)] | None = None

    def __post_init__(self) -> None:
        # msgspec reports a ValueError raised here as "<message> - at `$`"; we put the field name
        # first so that the converted ReportInvalid names the field, not the root. This runs on
        # every decode, so the common case (only observed_at set) is kept to two comparisons.
        if not EARLIEST <= self.observed_at < LATEST:
            raise ValueError(f"observed_at|{_RANGE}, got {self.observed_at.isoformat()}")
        if self.onset_at is not None and not EARLIEST <= self.onset_at < LATEST:
            raise ValueError(f"onset_at|{_RANGE}, got {self.onset_at.isoformat()}")
        if self.expires_at is not None:
            if not EARLIEST <= self.expires_at < LATEST:
                raise ValueError(f"expires_at|{_RANGE}, got {self.expires_at.isoformat()}")
            if self.expires_at < self.observed_at:
                raise ValueError("expires_at|must not be earlier than observed_at")
        if (
            self.geometry is None
            and not self.area_codes
            and not self.geocodes
            and self.msg_type != "cancel"
        ):
            raise ValueError("geometry|required unless area_codes or geocodes are given")
        if not self.source_id.isprintable() or self.source_id.strip() != self.source_id:
            raise ValueError("source_id|must be printable without surrounding white space")
        if self.headline is not None or self.description is not None or self.agency is not None:
            _no_nul(
                ("headline", self.headline),
                ("description", self.description),
                ("agency", self.agency),
            )
        if self.event is not None or self.message_id is not None or self.language is not None:
            _no_nul(("event", self.event), ("message_id", self.message_id),
                    ("language", self.language))  # fmt: skip
        for name, texts in (("references", self.references), ("geocodes", self.geocodes)):
            if texts and any("\x00" in text for text in texts):
                raise ValueError(f"{name}|must not contain NUL (U+0000) characters")

    # -- derived, cheap accessors the engine uses on its hot path ---------------------------------

    @property
    def family(self) -> str:
        return self.category.partition(".")[0]

    @property
    def thread(self) -> str:
        """The ``"source:source_id"`` key of the thread this report belongs to."""
        return f"{self.source}:{self.source_id}"

    @property
    def key(self) -> tuple[str, str, int]:
        """``(source, source_id, sequence)``: names exactly one report."""
        return (self.source, self.source_id, self.sequence)


_FIELD_MESSAGE = re.compile(r"^(?P<field>[a-z_]+)\|(?P<reason>.*)$", re.DOTALL)
_MSGSPEC_MESSAGE = re.compile(
    r"^(?P<reason>.*?)(?: - at `(?P<path>[^`]*)`(?: in `(?P<parent>[^`]*)`)?)?$", re.DOTALL
)


def _rejection(error: msgspec.MsgspecError) -> ReportInvalid:
    """Turn msgspec's message into (field, reason); the field is always a ``$.``-path."""
    match = _MSGSPEC_MESSAGE.match(str(error))
    reason, path = (match["reason"], match["path"] or "$") if match else (str(error), "$")
    if match and match["parent"]:  # "at `key` in `$.metrics`": a mapping key is wrong
        reason, path = f"{path}: {reason}", match["parent"]
    own = _FIELD_MESSAGE.match(reason)
    if own:  # raised by __post_init__ or a nested validator with our own "field|reason"
        prefix = "" if path == "$" else path + "."
        return ReportInvalid(f"{prefix or '$.'}{own['field']}", own["reason"])
    if reason.startswith("Object missing required field"):
        missing = reason.split("`")[1] if "`" in reason else "?"
        return ReportInvalid(f"{path}.{missing}" if path != "$" else f"$.{missing}", "is required")
    if reason.startswith("Object contains unknown field"):
        unknown = reason.split("`")[1] if "`" in reason else "?"
        return ReportInvalid(
            f"{path}.{unknown}" if path != "$" else f"$.{unknown}", "unknown field"
        )
    if path == "$.category" and "regex" in reason:
        reason = f"must be 'family.detail' with family one of {', '.join(FAMILIES)}"
    return ReportInvalid(path, reason)


_decoder: Final = msgspec.json.Decoder(Report)
_encoder: Final = msgspec.json.Encoder()


def _checked(report: Report) -> Report:
    """Polygon checks (shapely) for area reports; points were fully checked while decoding."""
    geometry = report.geometry
    if geometry is None or type(geometry) is Point:
        return report
    from ingest.geometry import checked  # geometry imports this module; break the cycle here

    return checked(report)


def decode_report(data: bytes | str) -> Report:
    """Decode one canonical JSON report, or raise :class:`ReportInvalid`."""
    try:
        return _checked(_decoder.decode(data))
    except msgspec.ValidationError as error:
        raise _rejection(error) from None
    except msgspec.DecodeError as error:
        raise ReportInvalid("$", f"not valid JSON: {error}") from None


def report_from_mapping(obj: Mapping[str, Any]) -> Report:
    """Validate a mapping built by a parser exactly as if it had been decoded from JSON."""
    try:
        return _checked(msgspec.convert(obj, Report, strict=False))
    except msgspec.ValidationError as error:
        raise _rejection(error) from None


def encode_report(report: Report) -> bytes:
    return _encoder.encode(report)


def report_to_builtins(report: Report) -> dict[str, Any]:
    result: dict[str, Any] = msgspec.to_builtins(report)
    return result


def encode_jsonl(reports: Iterable[Report]) -> bytes:
    return b"".join(_encoder.encode(r) + b"\n" for r in reports)


def decode_jsonl(data: bytes) -> Iterator[Report | ReportInvalid]:
    """Decode JSON Lines; a bad line yields a :class:`ReportInvalid` located at its line index
    (0-based) instead of stopping the rest."""
    for index, line in enumerate(data.split(b"\n")):
        if not line.strip():
            continue
        try:
            yield decode_report(line)
        except ReportInvalid as error:
            yield error.at_index(index)


def with_server_fields(report: Report, *, received_at: datetime, offset: int) -> Report:
    return msgspec.structs.replace(report, received_at=received_at, offset=offset)
