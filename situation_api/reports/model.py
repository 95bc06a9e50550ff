"""The frozen snapshot every situation-report format is rendered from.

:func:`build_report` takes a base picture (a snapshot, or the picture of a fresh engine) and the
changes after it up to time T, and computes every figure ONCE: the picture at T (the same rule
as the history's picture-at-time: changes applied in ``seq`` order, those later than T ignored),
the district and incident tables, the totals, the timeline of significant changes in the window
and the series of open incidents over it. Renderers only format what is here, so every format
shows the same numbers.

Pure: no I/O, no clock (the generation time is an input).
"""

from __future__ import annotations

import gc
import hashlib
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from correlation.changes import (
    Change,
    DistrictLevelChanged,
    IncidentOpened,
    IncidentReopened,
    IncidentResolved,
    IncidentUpdated,
    WarningIssued,
)
from correlation.picture import Picture
from situation_api.reports.i18n import Lang, word

SEVERITIES: Final = ("extreme", "severe", "moderate", "minor", "unknown")
_RANK: Final = {s: i for i, s in enumerate(SEVERITIES)}
SIGNIFICANT: Final = frozenset({"extreme", "severe"})
SERIES_STEPS: Final = 48


class ReportInvalid(ValueError):
    """The report cannot be built as asked; the message names the option and the reason."""

    def __init__(self, option: str, reason: str) -> None:
        super().__init__(f"{option}: {reason}")
        self.option = option
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Figures:
    """Person figures summed from incident metrics."""

    dead: int = 0
    injured: int = 0
    missing: int = 0
    evacuated: int = 0
    affected: int = 0

    NAMES = ("dead", "injured", "missing", "evacuated", "affected")

    @classmethod
    def of(cls, metrics: Mapping[str, Any] | None) -> Figures:
        if not metrics:
            return _ZERO
        return cls(*(_count(metrics.get(name)) for name in cls.NAMES))

    def __add__(self, other: Figures) -> Figures:
        return Figures(
            self.dead + other.dead,
            self.injured + other.injured,
            self.missing + other.missing,
            self.evacuated + other.evacuated,
            self.affected + other.affected,
        )

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.NAMES}


_ZERO: Final = Figures()


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


@dataclass(frozen=True, slots=True)
class IncidentRow:
    id: str
    status: str
    category: str
    severity: str
    title: str
    district: str | None
    district_name: str
    lon: float | None
    lat: float | None
    first_seen: datetime
    last_seen: datetime
    agencies: tuple[str, ...]
    figures: Figures
    threads: int
    warnings: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class WarningRow:
    id: str
    status: str
    category: str
    severity: str
    headline: str
    event: str
    agency: str
    onset: datetime | None
    expires: datetime | None
    districts: tuple[str, ...]
    geometry: Mapping[str, Any] | None


@dataclass(frozen=True, slots=True)
class DistrictRow:
    ags: str
    name: str
    level: int
    level_reason: str
    open_by_severity: tuple[int, ...]  # in SEVERITIES order
    resolved: int
    warnings: int
    figures: Figures
    icu_beds_free: int | None
    beds_free: int | None

    @property
    def open_total(self) -> int:
        return sum(self.open_by_severity)


@dataclass(frozen=True, slots=True)
class Totals:
    incidents: int
    open_by_severity: tuple[int, ...]
    resolved: int
    warnings: int
    figures: Figures
    max_level: int
    elevated_districts: int
    icu_beds_free: int | None
    beds_free: int | None

    @property
    def open(self) -> int:
        return sum(self.open_by_severity)


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    at: datetime
    kind: str  # "level", "incident", "escalated", "warning"
    ref: str  # district AGS, incident id or warning id
    text: str  # in the report's language
    severity: str | None = None
    level: int | None = None


@dataclass(frozen=True, slots=True)
class JournalEntry:
    at: datetime
    author: str
    text: str


@dataclass(frozen=True, slots=True)
class ReportOptions:
    at: datetime  # T: the picture time, end of the window
    start: datetime  # beginning of the window
    districts: tuple[str, ...] = ()  # AGS keys; empty = the whole state
    lang: Lang = "de"
    classification: str | None = None  # None: "OFFEN" / "UNCLASSIFIED"
    prepared_by: str = "Lagezentrum"
    version: int = 1
    generated_at: datetime | None = None  # None: T itself (deterministic output)


@dataclass(frozen=True, slots=True)
class SituationReport:
    number: str
    version: int
    lang: Lang
    at: datetime
    start: datetime
    generated_at: datetime
    prepared_by: str
    classification: str
    region: tuple[str, ...]  # AGS filter as given (sorted); empty = whole state
    seq: int  # seq of the last change in the picture
    totals: Totals
    districts: tuple[DistrictRow, ...]
    incidents: tuple[IncidentRow, ...]
    warnings: tuple[WarningRow, ...]
    timeline: tuple[TimelineEntry, ...]
    journal: tuple[JournalEntry, ...]
    series: tuple[tuple[datetime, int], ...]  # open incidents over the window
    names: Mapping[str, str] = field(default_factory=dict)  # AGS -> district name

    @property
    def region_label(self) -> str:
        if not self.region:
            return word("whole_state", self.lang)
        return ", ".join(f"{self.names.get(a, a)} ({a})" for a in self.region)

    @property
    def filename_stem(self) -> str:
        return self.number.lower()


# -- building -------------------------------------------------------------------------------

_gc_lock = threading.Lock()
_gc_pausers = 0
_gc_was_enabled = True


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building or rendering a report.

    Both allocate hundreds of thousands of small acyclic objects; with a large heap (a server
    holding the picture and its history) every generation-2 collection walks all of it, which
    tripled the render time of a 10,000-incident report. Reference counting still frees
    everything; nesting and threads are counted, the last one out re-enables collection."""
    global _gc_pausers, _gc_was_enabled
    with _gc_lock:
        if _gc_pausers == 0:
            _gc_was_enabled = gc.isenabled()
        _gc_pausers += 1
        gc.disable()
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pausers -= 1
            if _gc_pausers == 0 and _gc_was_enabled:
                gc.enable()


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def report_number(at: datetime, region: Sequence[str]) -> str:
    """Deterministic from T (and the region): the same request gives the same number."""
    stamp = at.astimezone(UTC).strftime("%Y%m%d-%H%MZ")
    if not region:
        return f"LB-{stamp}"
    digest = hashlib.sha1(",".join(sorted(region)).encode()).hexdigest()[:6]
    return f"LB-{stamp}-{digest.upper()}"


def picture_until(base: Picture, changes: Sequence[Change], at: datetime) -> Picture:
    """The picture at event time ``at``: ``base`` plus the changes after it not later than
    ``at``, applied in seq order (exactly how the history answers picture-at-time)."""
    ordered = sorted((c for c in changes if c.seq > base.seq and c.at <= at), key=lambda c: c.seq)
    return _applied(base, ordered)


def _applied(base: Picture, ordered: Sequence[Change]) -> Picture:
    """``base`` with the views of ``ordered`` (seq order, all newer than base) applied; what
    :meth:`Picture.apply` does, without its per-change clock formatting."""
    picture = base.copy()
    tables = {
        "incident": picture.incidents,
        "warning": picture.warnings,
        "district": picture.districts,
        "capacity": picture.capacity,
    }
    for change in ordered:
        table = tables[change.entity]
        if change.view is None:
            table.pop(change.id, None)
        else:
            table[change.id] = change.view
    if ordered:
        picture.seq = ordered[-1].seq
    return picture


def build_report(
    base: Picture,
    changes: Sequence[Change],
    options: ReportOptions,
    *,
    journal: Iterable[JournalEntry] = (),
) -> SituationReport:
    """The report for the window ``[options.start, options.at]``; ``changes`` are those after
    ``base`` (any order; those later than T are ignored)."""
    with gc_paused():
        return _build(base, changes, options, journal)


def _build(
    base: Picture,
    changes: Sequence[Change],
    options: ReportOptions,
    journal: Iterable[JournalEntry],
) -> SituationReport:
    at, start = _utc(options.at, "at"), _utc(options.start, "from")
    if start >= at:
        raise ReportInvalid("from", f"must be before the report time {at.isoformat()}")
    lang = options.lang
    ordered = sorted((c for c in changes if c.seq > base.seq and c.at <= at), key=lambda c: c.seq)
    picture = _applied(base, ordered)
    names = {ags: str(view.get("name", ags)) for ags, view in picture.districts.items()}
    region = tuple(sorted(set(options.districts)))
    unknown = [a for a in region if a not in names]
    if unknown:
        raise ReportInvalid("district", f"unknown AGS {', '.join(unknown)}")
    wanted = frozenset(region) if region else None

    incidents = _incidents(picture, wanted, names, lang)
    warnings = _warnings(picture, wanted)
    districts = _districts(picture, wanted, incidents, warnings)
    totals = _totals(incidents, warnings, districts)
    timeline, operator = _timeline(base, ordered, start, wanted, lang)
    entries = sorted([*operator, *(j for j in journal if start <= j.at <= at)], key=lambda j: j.at)
    return SituationReport(
        number=report_number(at, region),
        version=options.version,
        lang=lang,
        at=at,
        start=start,
        generated_at=options.generated_at or at,
        prepared_by=options.prepared_by,
        classification=options.classification or word("unclassified", lang),
        region=region,
        seq=picture.seq,
        totals=totals,
        districts=districts,
        incidents=incidents,
        warnings=warnings,
        timeline=tuple(timeline),
        journal=tuple(entries),
        series=_series(base, ordered, start, at, wanted),
        names=names,
    )


def _utc(value: datetime, option: str) -> datetime:
    if value.tzinfo is None:
        raise ReportInvalid(option, "time needs a UTC offset")
    return value.astimezone(UTC)


def _in_region(ags: str | None, wanted: frozenset[str] | None) -> bool:
    return wanted is None or ags in wanted


def _incidents(
    picture: Picture, wanted: frozenset[str] | None, names: Mapping[str, str], lang: Lang
) -> tuple[IncidentRow, ...]:
    rows: list[IncidentRow] = []
    outside = word("outside", lang)
    for view in picture.incidents.values():
        ags = view.get("district")
        if not _in_region(ags, wanted):
            continue
        centroid = view.get("centroid") or (None, None)
        first = parse_time(view.get("first_seen")) or datetime.min.replace(tzinfo=UTC)
        rows.append(
            IncidentRow(
                id=str(view["id"]),
                status=str(view.get("status", "open")),
                category=str(view.get("category", "")),
                severity=str(view.get("severity", "unknown")),
                title=str(view.get("title") or view.get("category") or view["id"]),
                district=ags,
                district_name=names.get(ags, outside) if ags else outside,
                lon=centroid[0],
                lat=centroid[1],
                first_seen=first,
                last_seen=parse_time(view.get("last_seen")) or first,
                agencies=tuple(str(a) for a in view.get("agencies") or ()),
                figures=Figures.of(view.get("metrics")),
                threads=len(view.get("threads") or ()),
                warnings=tuple(view.get("warnings") or ()),
            )
        )
    rows.sort(key=lambda r: (r.status != "open", _RANK.get(r.severity, 9), r.first_seen, r.id))
    return tuple(rows)


def _warnings(picture: Picture, wanted: frozenset[str] | None) -> tuple[WarningRow, ...]:
    rows: list[WarningRow] = []
    for view in picture.warnings.values():
        districts = tuple(view.get("districts") or ())
        if wanted is not None and not wanted.intersection(districts):
            continue
        rows.append(
            WarningRow(
                id=str(view["id"]),
                status=str(view.get("status", "active")),
                category=str(view.get("category", "")),
                severity=str(view.get("severity", "unknown")),
                headline=str(view.get("headline") or view.get("event") or view["id"]),
                event=str(view.get("event") or ""),
                agency=str(view.get("agency") or view.get("source") or ""),
                onset=parse_time(view.get("onset")),
                expires=parse_time(view.get("expires")),
                districts=districts,
                geometry=view.get("geometry"),
            )
        )
    rows.sort(key=lambda r: (_RANK.get(r.severity, 9), r.onset or r.expires or _EPOCH, r.id))
    return tuple(rows)


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def _districts(
    picture: Picture,
    wanted: frozenset[str] | None,
    incidents: Sequence[IncidentRow],
    warnings: Sequence[WarningRow],
) -> tuple[DistrictRow, ...]:
    open_counts: dict[str, list[int]] = {}
    resolved: dict[str, int] = {}
    figures: dict[str, Figures] = {}
    for row in incidents:
        if row.district is None:
            continue
        if row.status == "open":
            counts = open_counts.setdefault(row.district, [0] * len(SEVERITIES))
            counts[_RANK.get(row.severity, len(SEVERITIES) - 1)] += 1
        else:
            resolved[row.district] = resolved.get(row.district, 0) + 1
        figures[row.district] = figures.get(row.district, _ZERO) + row.figures
    warned: dict[str, int] = {}
    for warning in warnings:
        for ags in warning.districts:
            warned[ags] = warned.get(ags, 0) + 1
    rows = []
    for ags in sorted(picture.districts):
        if not _in_region(ags, wanted):
            continue
        view = picture.districts[ags]
        rows.append(
            DistrictRow(
                ags=ags,
                name=str(view.get("name", ags)),
                level=int(view.get("level", 0)),
                level_reason=str(view.get("level_reason") or ""),
                open_by_severity=tuple(open_counts.get(ags, [0] * len(SEVERITIES))),
                resolved=resolved.get(ags, 0),
                warnings=warned.get(ags, 0),
                figures=figures.get(ags, _ZERO),
                icu_beds_free=view.get("icu_beds_free"),
                beds_free=view.get("beds_free"),
            )
        )
    return tuple(rows)


def _totals(
    incidents: Sequence[IncidentRow],
    warnings: Sequence[WarningRow],
    districts: Sequence[DistrictRow],
) -> Totals:
    open_by = [0] * len(SEVERITIES)
    figures = _ZERO
    resolved = 0
    for row in incidents:
        if row.status == "open":
            open_by[_RANK.get(row.severity, len(SEVERITIES) - 1)] += 1
        else:
            resolved += 1
        figures = figures + row.figures
    icu = [d.icu_beds_free for d in districts if d.icu_beds_free is not None]
    beds = [d.beds_free for d in districts if d.beds_free is not None]
    return Totals(
        incidents=len(incidents),
        open_by_severity=tuple(open_by),
        resolved=resolved,
        warnings=len(warnings),
        figures=figures,
        max_level=max((d.level for d in districts), default=0),
        elevated_districts=sum(1 for d in districts if d.level >= 1),
        icu_beds_free=sum(icu) if icu else None,
        beds_free=sum(beds) if beds else None,
    )


def _timeline(
    base: Picture,
    ordered: Sequence[Change],
    start: datetime,
    wanted: frozenset[str] | None,
    lang: Lang,
) -> tuple[list[TimelineEntry], list[JournalEntry]]:
    """Level changes, new severe/extreme incidents, escalations to severe/extreme and severe
    warnings issued in the window; operator actions become journal entries."""
    severity: dict[str, str] = {i: str(v.get("severity")) for i, v in base.incidents.items()}
    out: list[TimelineEntry] = []
    journal: list[JournalEntry] = []
    operator = word("operator", lang)
    for change in ordered:
        view = change.view
        if change.entity == "incident":
            before = severity.get(change.id)
            now = str(view.get("severity")) if view is not None else None
            if now is not None:
                severity[change.id] = now
            if change.at <= start or view is None or not _in_region(view.get("district"), wanted):
                continue
            title = str(view.get("title") or change.id)
            if isinstance(change, IncidentOpened) and now in SIGNIFICANT:
                text = word("ev_incident", lang).format(severity=_sev(now, lang), title=title)
                out.append(TimelineEntry(change.at, "incident", change.id, text, severity=now))
            elif (
                isinstance(change, IncidentUpdated | IncidentReopened)
                and now in SIGNIFICANT
                and (before is None or _RANK.get(before, 9) > _RANK[now])
            ):
                text = word("ev_escalated", lang).format(severity=_sev(now, lang), title=title)
                out.append(TimelineEntry(change.at, "escalated", change.id, text, severity=now))
            if isinstance(change, IncidentResolved | IncidentReopened) and (
                change.reason == "operator"
            ):
                key = "ev_resolved" if isinstance(change, IncidentResolved) else "ev_reopened"
                journal.append(
                    JournalEntry(change.at, operator, word(key, lang).format(title=title))
                )
        elif change.at <= start:
            continue
        elif isinstance(change, DistrictLevelChanged) and _in_region(change.id, wanted):
            name = str((view or {}).get("name", change.id))
            text = word("ev_level", lang).format(
                old=change.old_level, new=change.new_level, name=name
            )
            if change.reason:
                text = f"{text} ({change.reason})"
            out.append(TimelineEntry(change.at, "level", change.id, text, level=change.new_level))
        elif isinstance(change, WarningIssued) and view is not None:
            warn_sev = str(view.get("severity"))
            districts = view.get("districts") or ()
            if warn_sev in SIGNIFICANT and (wanted is None or wanted.intersection(districts)):
                headline = str(view.get("headline") or view.get("event") or change.id)
                text = word("ev_warning", lang).format(
                    severity=_sev(warn_sev, lang), headline=headline
                )
                out.append(TimelineEntry(change.at, "warning", change.id, text, severity=warn_sev))
    out.sort(key=lambda e: (e.at, e.kind, e.ref))
    return out, journal


def _sev(severity: str, lang: Lang) -> str:
    return word(severity, lang) if severity in _RANK else severity


def _series(
    base: Picture,
    ordered: Sequence[Change],
    start: datetime,
    at: datetime,
    wanted: frozenset[str] | None,
) -> tuple[tuple[datetime, int], ...]:
    """Open incidents (in the region) at evenly spaced times from ``start`` to ``at``; each
    point is the count in the picture at that time (the latest-seq view of each incident among
    the changes not later than it), so the last point equals the report's open total."""
    state: dict[str, tuple[int, bool]] = {}
    for ident, view in base.incidents.items():
        state[ident] = (base.seq, _counts(view, wanted))
    timed = sorted((c for c in ordered if c.entity == "incident"), key=lambda c: (c.at, c.seq))
    step = (at - start) / SERIES_STEPS
    points = [start + step * i for i in range(SERIES_STEPS)] + [at]
    open_now = sum(1 for _, counted in state.values() if counted)
    out: list[tuple[datetime, int]] = []
    index = 0
    for point in points:
        while index < len(timed) and timed[index].at <= point:
            change = timed[index]
            index += 1
            known = state.get(change.id)
            if known is not None and known[0] > change.seq:
                continue  # a later-seq view already holds (late change)
            counted = _counts(change.view, wanted)
            open_now += int(counted) - int(known[1] if known else False)
            state[change.id] = (change.seq, counted)
        out.append((point, open_now))
    return tuple(out)


def _counts(view: Mapping[str, Any] | None, wanted: frozenset[str] | None) -> bool:
    return (
        view is not None
        and view.get("status") == "open"
        and _in_region(view.get("district"), wanted)
    )


def window(
    at: datetime | None,
    start: datetime | None,
    end: datetime | None,
    *,
    now: datetime,
    default: timedelta = timedelta(hours=24),
) -> tuple[datetime, datetime]:
    """``(start, T)`` from the ``--at`` / ``--from`` / ``--to`` options: T is ``to`` or ``at``
    (both given must agree) or ``now``; the window starts at ``from`` or ``default`` before T."""
    if at is not None and end is not None and at != end:
        raise ReportInvalid("at", "give either at or to (the report time), or the same value")
    moment = _utc(end or at or now, "to" if end else "at")
    begin = _utc(start, "from") if start is not None else moment - default
    if begin >= moment:
        raise ReportInvalid("from", "must be before the report time")
    return begin, moment
