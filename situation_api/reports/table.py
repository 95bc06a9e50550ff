"""The situation report as one CSV file (RFC 4180, UTF-8, comma-separated).

One file holds several tables, each introduced by its own header row whose first cell is
``section`` and separated by an empty line: ``meta``, ``summary``, ``district``, ``warning``,
``incident``, ``timeline``, ``journal`` and ``series``. Every data row starts with its section
name, so a spreadsheet filter on the first column shows one table, and the standard csv module
reads the file as it is. Column names are English and stable; texts follow the report language.
Free-text cells that a spreadsheet would run as a formula (leading ``= + - @``) are prefixed
with an apostrophe.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from situation_api.reports.i18n import level_name
from situation_api.reports.model import SEVERITIES, Figures, SituationReport

_FORMULA: Final = ("=", "+", "-", "@", "\t", "\r")
FIGURES: Final = Figures.NAMES


def iso(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _safe(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA) else text


def _num(value: int | float | None) -> str:
    return "" if value is None else str(value)


class _Writer(Protocol):
    def writerow(self, row: Iterable[Any], /) -> Any: ...


def _section(out: _Writer, name: str, header: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    out.writerow(["section", *header])
    for row in rows:
        out.writerow([name, *row])
    out.writerow([])


def render_csv(report: SituationReport) -> bytes:
    buffer = io.StringIO()
    out = csv.writer(buffer, lineterminator="\r\n")
    lang = report.lang
    t = report.totals
    _section(
        out,
        "meta",
        [
            "number",
            "version",
            "at",
            "from",
            "to",
            "prepared_by",
            "classification",
            "region",
            "lang",
            "seq",
        ],
        [
            [
                report.number,
                str(report.version),
                iso(report.at),
                iso(report.start),
                iso(report.at),
                _safe(report.prepared_by),
                _safe(report.classification),
                " ".join(report.region),
                lang,
                str(report.seq),
            ]
        ],
    )
    _section(
        out,
        "summary",
        [
            "incidents",
            "open",
            *(f"open_{s}" for s in SEVERITIES),
            "resolved",
            "warnings",
            *FIGURES,
            "max_level",
            "elevated_districts",
            "icu_beds_free",
            "beds_free",
        ],
        [
            [
                str(t.incidents),
                str(t.open),
                *(str(n) for n in t.open_by_severity),
                str(t.resolved),
                str(t.warnings),
                *(str(v) for v in t.figures.as_dict().values()),
                str(t.max_level),
                str(t.elevated_districts),
                _num(t.icu_beds_free),
                _num(t.beds_free),
            ]
        ],
    )
    _section(
        out,
        "district",
        [
            "ags",
            "name",
            "level",
            "level_name",
            "level_reason",
            "open",
            *(f"open_{s}" for s in SEVERITIES),
            "resolved",
            "warnings",
            *FIGURES,
            "icu_beds_free",
            "beds_free",
        ],
        (
            [
                d.ags,
                d.name,
                str(d.level),
                level_name(d.level, lang),
                _safe(d.level_reason),
                str(d.open_total),
                *(str(n) for n in d.open_by_severity),
                str(d.resolved),
                str(d.warnings),
                *(str(v) for v in d.figures.as_dict().values()),
                _num(d.icu_beds_free),
                _num(d.beds_free),
            ]
            for d in report.districts
        ),
    )
    _section(
        out,
        "warning",
        [
            "id",
            "status",
            "severity",
            "category",
            "headline",
            "event",
            "agency",
            "onset",
            "expires",
            "districts",
        ],
        (
            [
                x.id,
                x.status,
                x.severity,
                x.category,
                _safe(x.headline),
                _safe(x.event),
                _safe(x.agency),
                iso(x.onset),
                iso(x.expires),
                " ".join(x.districts),
            ]
            for x in report.warnings
        ),
    )
    _section(
        out,
        "incident",
        [
            "id",
            "status",
            "severity",
            "category",
            "title",
            "district",
            "district_name",
            "lon",
            "lat",
            "first_seen",
            "last_seen",
            "agencies",
            *FIGURES,
            "threads",
        ],
        (
            [
                i.id,
                i.status,
                i.severity,
                i.category,
                _safe(i.title),
                i.district or "",
                i.district_name,
                _num(i.lon),
                _num(i.lat),
                iso(i.first_seen),
                iso(i.last_seen),
                _safe("; ".join(i.agencies)),
                *(str(v) for v in i.figures.as_dict().values()),
                str(i.threads),
            ]
            for i in report.incidents
        ),
    )
    _section(
        out,
        "timeline",
        ["at", "kind", "ref", "severity", "level", "text"],
        (
            [iso(e.at), e.kind, e.ref, e.severity or "", _num(e.level), _safe(e.text)]
            for e in report.timeline
        ),
    )
    _section(
        out,
        "journal",
        ["at", "author", "text"],
        ([iso(j.at), _safe(j.author), _safe(j.text)] for j in report.journal),
    )
    _section(out, "series", ["at", "open"], ([iso(a), str(n)] for a, n in report.series))
    return buffer.getvalue().encode("utf-8")
