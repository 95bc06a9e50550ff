"""The chart of open incidents over the report window, laid out once for SVG and PDF.

:func:`layout` turns the report's series into a step line and axis ticks in a box whose y grows
downwards; :func:`to_svg` writes it, :mod:`situation_api.reports.pdf` draws the same layout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final
from xml.sax.saxutils import escape

from situation_api.reports.i18n import Lang, short_time, word
from situation_api.reports.model import SituationReport

_LEFT: Final = 34.0
_BOTTOM: Final = 18.0
_TOP: Final = 8.0
_RIGHT: Final = 26.0


@dataclass(frozen=True, slots=True)
class Chart:
    width: float
    height: float
    plot: tuple[float, float, float, float]  # x0, y0 (top), x1, y1 (bottom)
    line: tuple[tuple[float, float], ...]  # step line, y down
    y_ticks: tuple[tuple[float, str], ...]
    x_ticks: tuple[tuple[float, str], ...]
    title: str


def _nice_step(top: int) -> int:
    if top <= 5:
        return 1
    raw = top / 5
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * power:
            return int(factor * power)
    return int(10 * power)


def layout(report: SituationReport, width: float, height: float) -> Chart:
    lang: Lang = report.lang
    x0, y0, x1, y1 = _LEFT, _TOP, width - _RIGHT, height - _BOTTOM
    series = report.series
    peak = max((count for _, count in series), default=0)
    step = _nice_step(max(peak, 1))
    top = max(step * math.ceil(max(peak, 1) / step), 1)
    start, end = report.start, report.at
    span = max((end - start).total_seconds(), 1.0)

    def x_of(seconds: float) -> float:
        return round(x0 + (x1 - x0) * seconds / span, 1)

    def y_of(count: int) -> float:
        return round(y1 - (y1 - y0) * count / top, 1)

    line: list[tuple[float, float]] = []
    for index, (moment, count) in enumerate(series):
        x, y = x_of((moment - start).total_seconds()), y_of(count)
        if index:
            line.append((x, line[-1][1]))
        line.append((x, y))
    y_ticks = tuple((y_of(v), str(v)) for v in range(0, top + 1, step))
    ticks = 6
    x_ticks = tuple(
        (x_of(span * i / ticks), short_time(start + (end - start) * i / ticks, lang))
        for i in range(ticks + 1)
    )
    return Chart(
        width, height, (x0, y0, x1, y1), tuple(line), y_ticks, x_ticks, word("chart", lang)
    )


def to_svg(chart: Chart) -> str:
    x0, y0, x1, y1 = chart.plot
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {chart.width} {chart.height}" '
        f'width="{chart.width}" height="{chart.height}" role="img" '
        f'aria-label="{escape(chart.title)}">',
        "<style>.g{stroke:#ddd;stroke-width:.5}.x{fill:none;stroke:#333;stroke-width:.8}"
        ".t{font:7px sans-serif;fill:#333}.e{text-anchor:end}.m{text-anchor:middle}"
        ".s{fill:none;stroke:#d7301f;stroke-width:1.4}</style>",
    ]
    for y, label in chart.y_ticks:
        out.append(f'<line class="g" x1="{x0}" y1="{y}" x2="{x1}" y2="{y}"/>')
        out.append(f'<text class="t e" x="{x0 - 3}" y="{y + 2.5}">{label}</text>')
    for x, label in chart.x_ticks:
        out.append(f'<text class="t m" x="{x}" y="{y1 + 11}">{escape(label)}</text>')
    out.append(f'<path class="x" d="M{x0} {y0}L{x0} {y1}L{x1} {y1}"/>')
    if chart.line:
        points = " ".join(f"{x},{y}" for x, y in chart.line)
        out.append(f'<polyline class="s" points="{points}"/>')
    out.append("</svg>")
    return "".join(out)
