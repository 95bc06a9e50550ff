"""CSV exports of dispatch systems, read through a declarative :class:`CsvMapping`.

A mapping (TOML, shipped ones in ``mappings/``) says which column feeds which report field,
which fields are constants, how raw values translate (call type → category, priority →
severity), how naive timestamps are read and in which time zone.

Dispatch exports list one row per *unit* dispatched, so one incident spans several rows with
the same incident number. With ``group_by`` those rows collapse into one report: fields come
from the incident's first valid row in file order, ``group_metrics`` count distinct values
(e.g. ``units`` = distinct unit ids), and rows that disagree on a field are named in a warning.
Without collapsing, the rows would be distinct reports with one ``(source, source_id,
sequence)`` key: duplicates the engine would silently drop.

Bad rows are rejected with their record index (0-based, header excluded) and the column as
field, e.g. ``$[17].Latitude``; a missing column or undecodable text raises FeedInvalid.
"""

from __future__ import annotations

import csv
import io
import re
import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ingest.errors import FeedInvalid, IngestError, ReportInvalid
from ingest.formats.common import MAX_DESCRIPTION, MAX_HEADLINE, clipped, slug
from ingest.formats.result import ParseResult
from ingest.report import Report, report_from_mapping

MAX_ROWS: Final = 100_000  # a CSV is a file export, not a push: larger than MAX_ITEMS
_TIMESTAMPS: Final = frozenset({"observed_at", "onset_at", "expires_at"})
_TEXT: Final = frozenset({"source", "source_id", "sequence", "msg_type", "status", "category",
                          "severity", "urgency", "certainty", "headline", "description",
                          "agency", "area_codes", "event", "language"})  # fmt: skip
_POSITION: Final = frozenset({"lon", "lat", "location"})
_NUMBER: Final = re.compile(r"[-+]?\d+(?:\.\d+)?")
_AREA_SPLIT: Final = re.compile(r"[\s,;]+")
_TOP_KEYS: Final = frozenset({"name", "description", "delimiter", "encoding", "timezone",
                              "timestamp_format", "group_by", "location_order", "optional",
                              "columns", "constants", "values", "fallbacks", "templates",
                              "group_metrics"})  # fmt: skip


class MappingInvalid(IngestError):
    """A CSV mapping is malformed (unknown field, bad time zone, ...): a configuration error."""


def _is_field(name: str) -> bool:
    return (
        name in _TEXT
        or name in _TIMESTAMPS
        or name in _POSITION
        or (name.startswith("metrics.") and len(name) > 8)
    )


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True, slots=True)
class CsvMapping:
    """How one CSV export maps to reports. ``columns`` maps a field to candidate columns (the
    first non-empty wins); ``values[field]`` translates raw values (case-insensitive), with
    ``fallbacks[field]`` as template (``{value}``, ``{slug}``) for values not listed;
    ``templates[field]`` builds text from columns (``"{Call Type}, {Address}"``)."""

    name: str
    columns: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: _frozen({}))
    constants: Mapping[str, Any] = field(default_factory=lambda: _frozen({}))
    values: Mapping[str, Mapping[str, str]] = field(default_factory=lambda: _frozen({}))
    fallbacks: Mapping[str, str] = field(default_factory=lambda: _frozen({}))
    templates: Mapping[str, str] = field(default_factory=lambda: _frozen({}))
    group_metrics: Mapping[str, str] = field(default_factory=lambda: _frozen({}))
    optional: frozenset[str] = frozenset()
    group_by: str | None = None
    timestamp_format: str | None = None
    timezone: str = "UTC"
    delimiter: str = ","
    encoding: str = "utf-8"
    location_order: str = "lat,lon"
    description: str = ""

    def __post_init__(self) -> None:
        for name in [*self.columns, *self.templates, *self.constants, *self.values]:
            if not _is_field(name):
                raise MappingInvalid(f"mapping {self.name!r}: {name!r} is not a report field")
        if len(self.delimiter) != 1:
            raise MappingInvalid(f"mapping {self.name!r}: delimiter must be one character")
        if self.location_order not in ("lat,lon", "lon,lat"):
            raise MappingInvalid(f"mapping {self.name!r}: location_order is lat,lon or lon,lat")
        try:
            ZoneInfo(self.timezone)
            "".encode(self.encoding)
        except (ZoneInfoNotFoundError, ValueError, LookupError) as error:
            raise MappingInvalid(f"mapping {self.name!r}: {error}") from None
        if not ("observed_at" in self.columns or "observed_at" in self.constants):
            raise MappingInvalid(f"mapping {self.name!r}: observed_at needs a column")

    @classmethod
    def from_toml(cls, text: str) -> CsvMapping:
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise MappingInvalid(f"not valid TOML: {error}") from None
        unknown = set(doc) - _TOP_KEYS
        if unknown:
            raise MappingInvalid(f"unknown mapping keys: {', '.join(sorted(unknown))}")
        try:
            columns = {
                k: (v,) if isinstance(v, str) else tuple(str(c) for c in v)
                for k, v in doc.get("columns", {}).items()
            }
            values = {
                f: _frozen({str(raw).casefold(): str(v) for raw, v in table.items()})
                for f, table in doc.get("values", {}).items()
            }
            return cls(
                name=str(doc.get("name", "unnamed")),
                description=str(doc.get("description", "")),
                columns=_frozen(columns),
                constants=_frozen(doc.get("constants", {})),
                values=_frozen(values),
                fallbacks=_frozen({k: str(v) for k, v in doc.get("fallbacks", {}).items()}),
                templates=_frozen({k: str(v) for k, v in doc.get("templates", {}).items()}),
                group_metrics=_frozen({k: str(v) for k, v in doc.get("group_metrics", {}).items()}),
                optional=frozenset(doc.get("optional", ())),
                group_by=doc.get("group_by"),
                timestamp_format=doc.get("timestamp_format"),
                timezone=str(doc.get("timezone", "UTC")),
                delimiter=str(doc.get("delimiter", ",")),
                encoding=str(doc.get("encoding", "utf-8")),
                location_order=str(doc.get("location_order", "lat,lon")),
            )
        except (AttributeError, TypeError) as error:
            raise MappingInvalid(f"malformed mapping: {error}") from None


@cache
def shipped_mappings() -> tuple[str, ...]:
    folder = resources.files("ingest.formats").joinpath("mappings")
    return tuple(sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml")
                        and p.name != "bbk_event_codes.toml"))  # fmt: skip


@cache
def load_mapping(name: str) -> CsvMapping:
    """A mapping shipped with the package (``sf_fire_calls``, ``seattle_fire_911``, ...)."""
    if name not in shipped_mappings():
        raise MappingInvalid(f"no shipped mapping {name!r}; have {', '.join(shipped_mappings())}")
    path = resources.files("ingest.formats").joinpath(f"mappings/{name}.toml")
    return CsvMapping.from_toml(path.read_text(encoding="utf-8"))


def _placeholders(template: str) -> list[str]:
    try:
        return [name for _, name, _, _ in string.Formatter().parse(template) if name]
    except ValueError as error:
        raise MappingInvalid(f"template {template!r}: {error}") from None


def _check_header(mapping: CsvMapping, header: list[str]) -> None:
    present = set(header)
    needed: list[tuple[str, tuple[str, ...]]] = list(mapping.columns.items())
    needed += [(f, tuple(_placeholders(t))) for f, t in mapping.templates.items()]
    needed += [(f"metrics.{m}", (c,)) for m, c in mapping.group_metrics.items()]
    if mapping.group_by:
        needed.append(("group_by", (mapping.group_by,)))
    for name, columns in needed:
        if name in mapping.optional or not columns:
            continue
        absent = [c for c in columns if c not in present]
        if (name in mapping.templates and absent) or len(absent) == len(columns):
            raise FeedInvalid(f"column {absent[0]!r} (for {name}) missing from the header")


def parse_csv(data: bytes, mapping: CsvMapping) -> ParseResult:
    encoding = (
        "utf-8-sig" if mapping.encoding.lower().replace("_", "-") == "utf-8" else (mapping.encoding)
    )
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as error:
        raise FeedInvalid(f"not {mapping.encoding} text: byte {error.start} undecodable") from None
    try:
        records = [r for r in csv.reader(io.StringIO(text, newline=""),
                                         delimiter=mapping.delimiter) if r]  # fmt: skip
    except csv.Error as error:
        raise FeedInvalid(f"not readable as CSV: {error}") from None
    if not records:
        raise FeedInvalid("empty CSV: no header row")
    header = [h.strip() for h in records[0]]
    if len(records) - 1 > MAX_ROWS:
        raise FeedInvalid(f"{len(records) - 1} rows in one file; at most {MAX_ROWS} allowed")
    _check_header(mapping, header)
    rows = [dict(zip(header, (v.strip() for v in r), strict=False)) for r in records[1:]]
    return _Reader(mapping).read(rows)


class _Reader:
    def __init__(self, mapping: CsvMapping) -> None:
        self.m = mapping
        self.zone = ZoneInfo(mapping.timezone)
        self.warnings: list[str] = []

    def read(self, rows: list[dict[str, str]]) -> ParseResult:
        rejected: list[ReportInvalid] = []
        groups: dict[str, list[tuple[int, dict[str, Any], dict[str, str]]]] = {}
        for i, row in enumerate(rows):
            try:
                fields, origin = self._fields(row, i)
            except ReportInvalid as error:
                rejected.append(error.at_index(i))
                continue
            key = row.get(self.m.group_by, "") if self.m.group_by else str(i)
            if not key:
                rejected.append(ReportInvalid(f"$[{i}].{self.m.group_by}", "is empty", index=i))
                continue
            groups.setdefault(key, []).append((i, fields, origin))
        reports: list[Report] = []
        for key, members in groups.items():
            first, fields, origin = members[0]
            if self.m.group_by:
                self._merge(key, members, rows, fields)
            try:
                reports.append(report_from_mapping(fields))
            except ReportInvalid as error:
                column = origin.get(error.field.removeprefix("$.").split(".")[0])
                where = f"$[{first}].{column}" if column else f"$[{first}]{error.field[1:]}"
                rejected.append(ReportInvalid(where, error.reason, index=first))
        rejected.sort(key=lambda r: r.index or 0)
        return ParseResult(tuple(reports), tuple(rejected), tuple(self.warnings))

    def _merge(
        self,
        key: str,
        members: list[tuple[int, dict[str, Any], dict[str, str]]],
        rows: list[dict[str, str]],
        fields: dict[str, Any],
    ) -> None:
        differing = sorted({f for _, other, _ in members[1:] for f in other
                            if f != "metrics" and other[f] != fields.get(f)})  # fmt: skip
        if differing:
            self.warnings.append(
                f"{self.m.group_by} {key}: {len(members)} rows disagree on "
                f"{', '.join(differing)}; row {members[0][0]} kept"
            )
        metrics = dict(fields.get("metrics", {}))
        for metric, column in self.m.group_metrics.items():
            metrics[metric] = len({rows[i].get(column) for i, _, _ in members} - {"", None})
        fields["metrics"] = metrics

    def _fields(self, row: dict[str, str], i: int) -> tuple[dict[str, Any], dict[str, str]]:
        """Report fields of one row, and which column each field came from."""
        fields: dict[str, Any] = {"feed_format": "csv"}
        origin: dict[str, str] = {}
        raw: dict[str, tuple[str, str]] = {}  # field -> (value, column)
        for name, candidates in self.m.columns.items():
            for column in candidates:
                if row.get(column):
                    raw[name] = (row[column], column)
                    break
        for name, template in self.m.templates.items():
            if name not in raw:
                value = template.format_map(_Missing(row)).strip(" ,")
                if value:
                    raw[name] = (value, _placeholders(template)[0])
        for name, constant in self.m.constants.items():
            if name not in raw:
                fields[name] = constant
        for name, (value, column) in raw.items():
            origin[name.split(".")[0]] = column
            converted = self._convert(name, self._translated(name, value), column, i)
            if "metrics" in converted:
                converted["metrics"] = {**fields.get("metrics", {}), **converted["metrics"]}
            fields.update(converted)
        if "location" in raw or "lon" in raw or "lat" in raw:
            fields["geometry"] = self._point(raw, i)
            origin["geometry"] = (raw.get("location") or raw.get("lat") or raw["lon"])[1]
        elif not fields.get("area_codes") and (columns := self._position_columns()):
            raise ReportInvalid(f"$[{i}].{columns[0]}", "is empty: no location")
        return fields, origin

    def _position_columns(self) -> tuple[str, ...]:
        return tuple(c for f in ("location", "lat", "lon") for c in self.m.columns.get(f, ()))

    def _translated(self, name: str, value: str) -> str:
        table = self.m.values.get(name)
        if table is None:
            return value
        mapped = table.get(value.casefold())
        if mapped is not None:
            return mapped
        fallback = self.m.fallbacks.get(name)
        return fallback.format(value=value, slug=slug(value)) if fallback else value

    def _convert(self, name: str, value: str, column: str, i: int) -> dict[str, Any]:
        where = f"$[{i}].{column}"
        if name in _TIMESTAMPS:
            return {name: self._timestamp(value, where)}
        if name.startswith("metrics."):
            if not value.isdigit():
                raise ReportInvalid(where, f"{value[:40]!r} is not a non-negative integer")
            return {"metrics": {name[8:]: int(value)}}
        if name == "sequence":
            if not value.isdigit():
                raise ReportInvalid(where, f"{value[:40]!r} is not a positive integer")
            return {name: int(value)}
        if name == "area_codes":
            return {name: [c for c in _AREA_SPLIT.split(value) if c]}
        if name in ("severity", "urgency", "certainty", "msg_type", "status"):
            return {name: value.lower()}
        if name in ("headline", "description"):
            limit = MAX_HEADLINE if name == "headline" else MAX_DESCRIPTION
            return {name: clipped(value, limit, f"{where} {name}", self.warnings)}
        if name in _POSITION:
            return {}
        return {name: value}

    def _timestamp(self, value: str, where: str) -> datetime:
        try:
            if self.m.timestamp_format:
                parsed = datetime.strptime(value, self.m.timestamp_format)
            else:
                parsed = datetime.fromisoformat(value)
        except ValueError:
            expected = self.m.timestamp_format or "ISO 8601"
            raise ReportInvalid(where, f"{value[:40]!r} does not match {expected}") from None
        # Naive local times: an hour repeated at the DST change is read as its first occurrence.
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=self.zone)

    def _point(self, raw: Mapping[str, tuple[str, str]], i: int) -> dict[str, Any]:
        if "location" in raw:
            text, column = raw["location"]
            numbers = _NUMBER.findall(text)
            if len(numbers) != 2:
                raise ReportInvalid(f"$[{i}].{column}", f"{text[:60]!r} is not a point")
            wkt = text.lstrip().upper().startswith("POINT")
            first, second = float(numbers[0]), float(numbers[1])
            lon, lat = (
                (first, second) if wkt or self.m.location_order == "lon,lat" else (second, first)
            )
        else:
            lon = self._coordinate(raw, "lon", i)
            lat = self._coordinate(raw, "lat", i)
            column = raw["lat"][1]
        if lon == 0 and lat == 0:
            raise ReportInvalid(f"$[{i}].{column}", "0,0 is an export placeholder, not a place")
        return {"type": "Point", "coordinates": [lon, lat]}

    def _coordinate(self, raw: Mapping[str, tuple[str, str]], name: str, i: int) -> float:
        if name not in raw:
            column = self.m.columns[name][0]
            raise ReportInvalid(f"$[{i}].{column}", "is empty: no location")
        text, column = raw[name]
        try:
            value = float(text)
        except ValueError:
            raise ReportInvalid(f"$[{i}].{column}", f"{text[:40]!r} is not a number") from None
        limit = 180.0 if name == "lon" else 90.0
        if not -limit <= value <= limit:  # also NaN
            raise ReportInvalid(f"$[{i}].{column}", f"{text[:40]} outside [-{limit:g}, {limit:g}]")
        return value


class _Missing(dict[str, str]):
    """Row values for templates; an absent column renders empty instead of raising."""

    def __init__(self, row: Mapping[str, str]) -> None:
        super().__init__(row)

    def __missing__(self, key: str) -> str:
        return ""
