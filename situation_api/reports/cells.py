"""The text of the district table's cells, shared by every printable format.

One definition keeps the figures identical across PDF and HTML; each renderer only decides how
a row is drawn.
"""

from __future__ import annotations

from situation_api.reports.i18n import Lang, level_name
from situation_api.reports.i18n import word as w
from situation_api.reports.model import DistrictRow, Figures, Totals


def number_or_dash(value: int | None) -> str:
    """A figure, or a dash where it is not known (not zero: unknown is not none)."""
    return "–" if value is None else str(value)


def _figures(f: Figures) -> list[str]:
    return [str(f.dead), str(f.injured), str(f.missing), str(f.evacuated)]


def district_cells(d: DistrictRow, lang: Lang) -> list[str]:
    return [
        d.ags,
        d.name,
        f"{d.level} {level_name(d.level, lang)}",
        *(str(n) for n in d.open_by_severity),
        str(d.open_total),
        str(d.resolved),
        str(d.warnings),
        *_figures(d.figures),
        number_or_dash(d.icu_beds_free),
        number_or_dash(d.beds_free),
    ]


def total_cells(t: Totals, lang: Lang) -> list[str]:
    return [
        "",
        w("total", lang),
        f"max. {t.max_level}",
        *(str(n) for n in t.open_by_severity),
        str(t.open),
        str(t.resolved),
        str(t.warnings),
        *_figures(t.figures),
        number_or_dash(t.icu_beds_free),
        number_or_dash(t.beds_free),
    ]
