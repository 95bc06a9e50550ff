"""The printable PDF situation report (A4 landscape), drawn directly on a reportlab canvas.

Tables are laid out by hand (fixed row height, cells cut to their column with an ellipsis)
rather than with platypus flowables: a 10,000-row incident table then costs one pass and no
split searches, which keeps a full-day report well under the 5 s budget. Standard PDF fonts
(Helvetica) need no font files; text is reduced to their Windows-1252 repertoire.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from reportlab.lib.colors import HexColor
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.rl_accel import escapePDF
from reportlab.pdfbase.pdfmetrics import getFont, stringWidth
from reportlab.pdfgen.canvas import Canvas

from situation_api.reports import chart as charts
from situation_api.reports import mapdraw
from situation_api.reports.cells import district_cells, number_or_dash, total_cells
from situation_api.reports.i18n import Lang, level_name, severity_name, short_time, status_name
from situation_api.reports.i18n import when as when_text
from situation_api.reports.i18n import word as w
from situation_api.reports.model import SEVERITIES, Figures, SituationReport

PAGE_W, PAGE_H = landscape(A4)
FILL_EVEN_ODD: Final = 0  # reportlab.pdfgen.canvas.FILL_EVEN_ODD (missing from its stubs)
MARGIN: Final = 36.0
TOP: Final = PAGE_H - MARGIN - 14  # below the running header
BOTTOM: Final = MARGIN + 14  # above the running footer
ROW: Final = 10.5
FONT: Final = "Helvetica"
BOLD: Final = "Helvetica-Bold"
SIZE: Final = 7.0
_REPLACE: Final = str.maketrans({"→": "->", "≥": ">=", "≤": "<=", "\u2009": " ", "\u202f": " "})
_GREY: Final = HexColor("#eeeeee")
_STRIPE: Final = HexColor("#f7f7f7")
_DARK: Final = HexColor("#222222")


def _text(value: str) -> str:
    """Text the standard fonts can show (Windows-1252); anything else becomes '?'."""
    return value.translate(_REPLACE).encode("cp1252", "replace").decode("cp1252")


def _fit(value: str, width: float, font: str = FONT, size: float = SIZE) -> str:
    text = _text(value)
    # Helvetica's widest glyphs are ~1 em: short strings need no measuring.
    if len(text) * size <= width or stringWidth(text, font, size) <= width:
        return text
    low, high = 0, len(text)
    while low < high:
        mid = (low + high + 1) // 2
        if stringWidth(text[:mid] + "…", font, size) <= width:
            low = mid
        else:
            high = mid - 1
    return text[:low] + "…"


def _rgb(colour: str) -> str:
    value = HexColor(colour)
    return f"{value.red:.3f} {value.green:.3f} {value.blue:.3f}"


_STRIPE_RGB: Final = _rgb("#f7f7f7")
_DARK_RGB: Final = _rgb("#222222")


def _circle(r: float) -> str:
    """A circle of radius r around the origin as four Bezier curves (PDF path operators)."""
    k = 0.5523 * r
    return (
        f"{r} 0 m {r} {k:.3f} {k:.3f} {r} 0 {r} c {-k:.3f} {r} {-r} {k:.3f} {-r} 0 c "
        f"{-r} {-k:.3f} {-k:.3f} {-r} 0 {-r} c {k:.3f} {-r} {r} {-k:.3f} {r} 0 c"
    )


class _Ink:
    """Raw-operator helpers: font resource names, cached cell fitting, dots."""

    def __init__(self, c: Canvas) -> None:
        # The internal name (/F1 ...) also registers the font as a page resource.
        doc = c._doc  # type: ignore[attr-defined]
        self._names = {f: doc.getInternalFontName(f) for f in (FONT, BOLD)}
        self._widths = {f: getFont(f).widths for f in (FONT, BOLD)}
        self._fits: dict[tuple[str, float, str], tuple[str, float]] = {}
        self._rgb: dict[str, str] = {}
        self._dots: dict[float, str] = {}

    def font(self, name: str) -> str:
        return str(self._names[name])

    def width(self, data: bytes, font: str, size: float = SIZE) -> float:
        widths: list[int] = self._widths[font]
        return sum(map(widths.__getitem__, data)) * size / 1000

    def fit(self, value: str, width: float, font: str) -> tuple[str, float]:
        """(escaped cp1252 text, its width) of ``value`` cut to ``width`` with an ellipsis."""
        key = (value, width, font)
        found = self._fits.get(key)
        if found is not None:
            return found
        data = _text(value).encode("cp1252")
        used = self.width(data, font)
        if used > width:
            ellipsis = self.width(b"\x85", font)
            per = self._widths[font]
            while data and used + ellipsis > width:
                used -= per[data[-1]] * SIZE / 1000
                data = data[:-1]
            data += b"\x85"
            used += ellipsis
        result = (escapePDF(data), used)
        if len(self._fits) < 200_000:
            self._fits[key] = result
        return result

    def dot(self, colour: str, x: float, y: float, r: float = 2.4, stroke: bool = False) -> str:
        rgb = self._rgb.get(colour)
        if rgb is None:
            rgb = self._rgb[colour] = _rgb(colour)
        path = self._dots.get(r)
        if path is None:
            path = self._dots[r] = _circle(r)
        paint = "B" if stroke else "f"
        return f"q {rgb} rg 1 0 0 1 {x:.2f} {y:.2f} cm {path} {paint} Q"


@dataclass(frozen=True, slots=True)
class Col:
    title: str
    width: float
    align: str = "l"  # l, r


class _Doc:
    def __init__(self, report: SituationReport) -> None:
        self.report = report
        self.lang: Lang = report.lang
        self.buffer = io.BytesIO()
        c = self.c = Canvas(self.buffer, pagesize=(PAGE_W, PAGE_H), invariant=1, pageCompression=1)
        c.setTitle(f"{w('title', self.lang)} {report.number}")
        c.setAuthor(_text(report.prepared_by))
        c.setSubject(_text(report.region_label))
        c.setCreator("Lagezentrum")
        self.ink = _Ink(c)
        self.page = 0
        self.y = TOP
        self._new_page()

    # -- pages -----------------------------------------------------------------------------------

    def _new_page(self) -> None:
        if self.page:
            self.c.showPage()
        self.page += 1
        r, c = self.report, self.c
        c.setFont(BOLD, 8)
        c.setFillColor(_DARK)
        c.drawString(MARGIN, PAGE_H - MARGIN, _text(f"{w('title', self.lang)} {r.number}"))
        c.setFont(FONT, 8)
        c.drawString(
            MARGIN + 170,
            PAGE_H - MARGIN,
            _text(
                f"{w('version', self.lang)} {r.version} · {w('as_of', self.lang)} "
                f"{when_text(r.at, self.lang)}"
            ),
        )
        c.setFont(BOLD, 9)
        c.drawRightString(PAGE_W - MARGIN, PAGE_H - MARGIN, _text(r.classification))
        c.drawCentredString(PAGE_W / 2, MARGIN - 4, _text(r.classification))
        c.setFont(FONT, 7)
        c.drawString(
            MARGIN, MARGIN - 4, _fit(f"{w('prepared_by', self.lang)}: {r.prepared_by}", 250)
        )
        c.drawRightString(PAGE_W - MARGIN, MARGIN - 4, f"{w('page', self.lang)} {self.page}")
        c.setStrokeColor(HexColor("#999999"))
        c.setLineWidth(0.4)
        c.line(MARGIN, PAGE_H - MARGIN - 4, PAGE_W - MARGIN, PAGE_H - MARGIN - 4)
        c.line(MARGIN, MARGIN + 6, PAGE_W - MARGIN, MARGIN + 6)
        self.y = TOP

    def ensure(self, height: float) -> None:
        if self.y - height < BOTTOM:
            self._new_page()

    def heading(self, text: str, space: float = 3 * ROW) -> None:
        self.ensure(space + 16)
        self.y -= 6
        self.c.setFont(BOLD, 11)
        self.c.setFillColor(_DARK)
        self.c.drawString(MARGIN, self.y - 10, _text(text))
        self.y -= 18

    def line(self, text: str, *, bold: bool = False, size: float = 8.0, x: float = MARGIN) -> None:
        self.ensure(size + 4)
        self.c.setFont(BOLD if bold else FONT, size)
        self.c.setFillColor(_DARK)
        self.c.drawString(
            x, self.y - size, _fit(text, PAGE_W - MARGIN - x, BOLD if bold else FONT, size)
        )
        self.y -= size + 4

    # -- tables ----------------------------------------------------------------------------------

    def table(
        self,
        cols: Sequence[Col],
        rows: Iterable[Sequence[str]],
        *,
        marker: Callable[[int], str | None] | None = None,
        bold_last: bool = False,
    ) -> None:
        """Rows cut to their columns, header repeated on every page; ``marker(i)`` gives a
        colour for a dot before the first cell of row i.

        Each row is written as one block of raw PDF operators (text positioned with ``Tm``,
        shown with ``Tj``) inside ``q``/``Q``: reportlab's per-string text objects cost ~40 µs
        each, far too much for 100,000 cells."""
        c, ink = self.c, self.ink
        materialised = list(rows)
        total = sum(col.width for col in cols)
        self.ensure(2 * ROW + 2)
        self._header(cols)
        for index, row in enumerate(materialised):
            if self.y - ROW < BOTTOM:
                self._new_page()
                self._header(cols)
            top = self.y
            base = top - ROW + 3
            ops: list[str] = ["q"]
            if index % 2:
                ops.append(f"{_STRIPE_RGB} rg {MARGIN} {top - ROW:.2f} {total} {ROW} re f")
            x = MARGIN
            offset = 0.0
            if marker is not None:
                colour = marker(index)
                if colour is not None:
                    ops.append(ink.dot(colour, x + 4, base + 2.3))
                offset = 9
            font = BOLD if bold_last and index == len(materialised) - 1 else FONT
            ops.append(f"{_DARK_RGB} rg BT {ink.font(font)} {SIZE} Tf")
            for col, value in zip(cols, row, strict=True):
                text, width = ink.fit(value, col.width - 4 - offset, font)
                left = x + col.width - 3 - width if col.align == "r" else x + 2 + offset
                ops.append(f"1 0 0 1 {left:.2f} {base:.2f} Tm ({text}) Tj")
                x += col.width
                offset = 0.0
            ops.append("ET Q")
            c.addLiteral(" ".join(ops))
            self.y -= ROW
        self.y -= 6

    def _header(self, cols: Sequence[Col]) -> None:
        c = self.c
        c.setFillColor(_GREY)
        c.rect(MARGIN, self.y - ROW - 1, sum(col.width for col in cols), ROW + 1, stroke=0, fill=1)
        c.setFillColor(_DARK)
        c.setFont(BOLD, SIZE)
        x = MARGIN
        for col in cols:
            text = _fit(col.title, col.width - 4, BOLD)
            if col.align == "r":
                c.drawRightString(x + col.width - 3, self.y - ROW + 2, text)
            else:
                c.drawString(x + 2, self.y - ROW + 2, text)
            x += col.width
        self.y -= ROW + 1

    # -- graphics --------------------------------------------------------------------------------

    def map(self, x: float, top: float, width: float, height: float) -> float:
        """Draw the map with its top-left corner at (x, top); return the width it took."""
        scene = mapdraw.scene(self.report, width, height)
        c = self.c
        c.saveState()
        c.translate(x, top)
        c.setLineWidth(0.5)
        c.setStrokeColor(HexColor("#555555"))
        for area in scene.districts:
            c.setFillColor(HexColor(area.fill))
            c.drawPath(_path(c, area.rings), stroke=1, fill=1, fillMode=FILL_EVEN_ODD)
        c.setDash(3, 2)
        c.setStrokeColor(HexColor(mapdraw.WARNING_STROKE))
        for area in scene.warnings:
            c.setFillColor(HexColor(mapdraw.WARNING_FILL), alpha=0.18)
            c.drawPath(_path(c, area.rings), stroke=1, fill=1, fillMode=FILL_EVEN_ODD)
        c.setDash()
        c.setFillAlpha(1.0)  # the dots are raw operators: they inherit the warnings' alpha
        c.setLineWidth(0.3)
        c.setStrokeColor(_DARK)
        ink = self.ink
        c.addLiteral(
            " ".join(
                ink.dot(dot.fill, dot.x, -dot.y, 2.2 if dot.open else 1.4, stroke=dot.open)
                for dot in scene.dots
            )
        )
        c.setFillColor(HexColor("#333333"))
        c.setFont(FONT, 5.5)
        for area in scene.districts:
            c.drawCentredString(area.label_at[0], -area.label_at[1], _text(area.label))
        c.setFont(FONT, 5)
        c.setFillColor(HexColor("#666666"))
        c.drawString(0, -scene.height - 7, _fit(scene.attribution, width))
        c.restoreState()
        return scene.width

    def chart(self, width: float, height: float) -> None:
        layout = charts.layout(self.report, width, height)
        self.ensure(height + 20)
        self.line(layout.title, bold=True, size=9)
        c = self.c
        top = self.y
        x0, y0, x1, y1 = layout.plot
        c.saveState()
        c.translate(MARGIN, top)
        c.setLineWidth(0.4)
        c.setStrokeColor(HexColor("#dddddd"))
        c.setFont(FONT, 6.5)
        c.setFillColor(_DARK)
        for y, label in layout.y_ticks:
            c.line(x0, -y, x1, -y)
            c.drawRightString(x0 - 3, -y - 2, label)
        for x, label in layout.x_ticks:
            c.drawCentredString(x, -y1 - 10, _text(label))
        c.setStrokeColor(_DARK)
        c.setLineWidth(0.8)
        c.line(x0, -y0, x0, -y1)
        c.line(x0, -y1, x1, -y1)
        if layout.line:
            path = c.beginPath()
            first, *rest = layout.line
            path.moveTo(first[0], -first[1])
            for px, py in rest:
                path.lineTo(px, -py)
            c.setStrokeColor(HexColor("#d7301f"))
            c.setLineWidth(1.4)
            c.drawPath(path, stroke=1, fill=0)
        c.restoreState()
        self.y -= height + 4


def _path(c: Canvas, rings: Sequence[mapdraw.Ring]) -> object:
    path = c.beginPath()
    for ring in rings:
        (x, y), *rest = ring
        path.moveTo(x, -y)
        for px, py in rest:
            path.lineTo(px, -py)
        path.close()
    return path


def _persons(f: Figures) -> str:
    return f"{f.dead}/{f.injured}/{f.missing}"


def render_pdf(report: SituationReport) -> bytes:
    doc = _Doc(report)
    lang = report.lang
    _cover(doc)
    # Districts
    doc.heading(w("districts", lang))
    cols = [
        Col(w("col_ags", lang), 34),
        Col(w("col_district", lang), 118),
        Col(w("col_level", lang), 86),
        *(Col(w(f"col_{s}", lang), 33, "r") for s in SEVERITIES),
        Col(w("col_open", lang), 34, "r"),
        Col(w("resolved", lang), 38, "r"),
        Col(w("col_warnings", lang), 40, "r"),
        Col(w("dead", lang), 30, "r"),
        Col(w("injured", lang), 40, "r"),
        Col(w("missing", lang), 42, "r"),
        Col(w("evacuated", lang), 46, "r"),
        Col(w("col_icu", lang), 52, "r"),
        Col(w("col_beds", lang), 46, "r"),
    ]
    rows = [district_cells(d, lang) for d in report.districts]
    t = report.totals
    rows.append(total_cells(t, lang))
    levels = [mapdraw.LEVEL_FILL[min(d.level, 3)] if d.level else None for d in report.districts]
    doc.table(cols, rows, marker=lambda i: levels[i] if i < len(levels) else None, bold_last=True)
    doc.line(w("casualty_note", lang), size=7)
    doc.chart(PAGE_W - 2 * MARGIN, 150)
    # Warnings
    doc.heading(w("warnings", lang))
    if report.warnings:
        names = report.names
        doc.table(
            [
                Col(w("col_severity", lang), 56),
                Col(w("col_category", lang), 84),
                Col(w("col_headline", lang), 250),
                Col(w("col_event", lang), 100),
                Col(w("col_onset", lang), 62),
                Col(w("col_expires", lang), 62),
                Col(w("col_districts", lang), 156),
            ],
            [
                [
                    severity_name(x.severity, lang),
                    x.category,
                    x.headline,
                    x.agency or x.event,
                    short_time(x.onset, lang) if x.onset else "–",
                    short_time(x.expires, lang) if x.expires else "–",
                    ", ".join(names.get(a, a) for a in x.districts),
                ]
                for x in report.warnings
            ],
            marker=lambda i: mapdraw.SEVERITY_FILL.get(report.warnings[i].severity),
        )
    else:
        doc.line(w("none", lang))
    # Timeline and journal
    doc.heading(w("timeline", lang))
    if report.timeline:
        doc.table(
            [Col(w("col_time", lang), 80), Col(w("col_event", lang), PAGE_W - 2 * MARGIN - 80)],
            [[when_text(e.at, lang), e.text] for e in report.timeline],
        )
    else:
        doc.line(w("none", lang))
    if report.journal:
        doc.heading(w("journal", lang))
        doc.table(
            [
                Col(w("col_time", lang), 80),
                Col(w("col_author", lang), 100),
                Col(w("col_entry", lang), PAGE_W - 2 * MARGIN - 180),
            ],
            [[when_text(j.at, lang), j.author, j.text] for j in report.journal],
        )
    # Incidents
    doc.heading(f"{w('incidents', lang)} ({len(report.incidents)})")
    incidents = report.incidents
    doc.table(
        [
            Col(w("col_id", lang), 78),
            Col(w("col_status", lang), 36),
            Col(w("col_severity", lang), 44),
            Col(w("col_category", lang), 78),
            Col(w("col_title", lang), 164),
            Col(w("col_district", lang), 86),
            Col(w("col_agencies", lang), 122),
            Col(w("col_first_seen", lang), 52),
            Col(w("col_last_seen", lang), 52),
            Col(w("col_casualties", lang), 56, "r"),
        ],
        (
            [
                i.id,
                status_name(i.status, lang),
                severity_name(i.severity, lang),
                i.category,
                i.title,
                i.district_name,
                ", ".join(i.agencies),
                short_time(i.first_seen, lang),
                short_time(i.last_seen, lang),
                _persons(i.figures),
            ]
            for i in incidents
        ),
        marker=lambda i: mapdraw.SEVERITY_FILL.get(incidents[i].severity),
    )
    doc.c.save()
    return doc.buffer.getvalue()


def _cover(doc: _Doc) -> None:
    r, lang, c = doc.report, doc.lang, doc.c
    c.setFillColor(_DARK)
    c.setFont(BOLD, 20)
    c.drawString(MARGIN, doc.y - 20, _text(w("title", lang)))
    c.setFont(FONT, 10)
    c.drawString(MARGIN, doc.y - 34, _text(w("subtitle", lang)))
    doc.y -= 46
    meta = [
        (w("number", lang), r.number),
        (w("version", lang), str(r.version)),
        (w("period", lang), f"{when_text(r.start, lang)} – {when_text(r.at, lang)}"),
        (w("prepared_by", lang), r.prepared_by),
        (w("classification", lang), r.classification),
        (w("region", lang), r.region_label),
        (w("generated", lang), when_text(r.generated_at, lang)),
    ]
    # Metadata in two columns; below them the map on the left, summary and legend on the right.
    top = doc.y
    half = (PAGE_W - 2 * MARGIN) / 2
    for index, (label, value) in enumerate(meta):
        x = MARGIN + (index // 4) * half
        c.setFont(FONT, 8)
        c.drawString(x, top - 8 - (index % 4) * 12, _fit(f"{label}: {value}", half - 10))
    map_top = top - 4 * 12 - 8
    map_h = map_top - BOTTOM - 12
    map_w = doc.map(MARGIN, map_top, 470.0, map_h)
    right = MARGIN + max(map_w, 300.0) + 40
    width = PAGE_W - MARGIN - right
    y = map_top
    t = r.totals
    c.setFont(BOLD, 11)
    c.drawString(right, y - 11, _text(w("summary", lang)))
    y -= 26
    f = t.figures
    lines = [
        (w("incidents_total", lang), str(t.incidents)),
        (w("open_incidents", lang), str(t.open)),
        *(
            (f"   {severity_name(s, lang)}", str(n))
            for s, n in zip(SEVERITIES, t.open_by_severity, strict=True)
        ),
        (w("resolved_incidents", lang), str(t.resolved)),
        (w("dead", lang), str(f.dead)),
        (w("injured", lang), str(f.injured)),
        (w("missing", lang), str(f.missing)),
        (w("evacuated", lang), str(f.evacuated)),
        (w("affected", lang), str(f.affected)),
        (w("active_warnings", lang), str(t.warnings)),
        (w("max_level", lang), f"{t.max_level} {level_name(t.max_level, lang)}"),
        (w("elevated_districts", lang), str(t.elevated_districts)),
        (w("icu_beds_free", lang), number_or_dash(t.icu_beds_free)),
        (w("beds_free", lang), number_or_dash(t.beds_free)),
    ]
    for label, value in lines:
        c.setFont(FONT, 8)
        c.drawString(right, y, _fit(label, 130))
        c.setFont(BOLD, 8)
        c.drawString(right + 132, y, _fit(value, width - 132, BOLD, 8))
        y -= 11.5
    c.setFont(FONT, 6.5)
    c.drawString(right, y, _fit(w("casualty_note", lang), width, FONT, 6.5))
    y -= 20
    _legend(c, right, y, lang)
    doc._new_page()


def _legend(c: Canvas, x: float, y: float, lang: Lang) -> None:
    c.setFont(BOLD, 8)
    c.setFillColor(_DARK)
    c.drawString(x, y, _text(w("col_level", lang)))
    for level, fill in enumerate(mapdraw.LEVEL_FILL):
        y -= 11
        c.setFillColor(HexColor(fill))
        c.setStrokeColor(HexColor("#555555"))
        c.rect(x, y - 1, 10, 7, stroke=1, fill=1)
        c.setFillColor(_DARK)
        c.setFont(FONT, 7.5)
        c.drawString(x + 14, y, _text(f"{level} {level_name(level, lang)}"))
    y -= 16
    c.setFont(BOLD, 8)
    c.drawString(x, y, _text(w("col_severity", lang)))
    for severity in SEVERITIES:
        y -= 11
        c.setFillColor(HexColor(mapdraw.SEVERITY_FILL[severity]))
        c.circle(x + 5, y + 2.5, 2.6, stroke=0, fill=1)
        c.setFillColor(_DARK)
        c.setFont(FONT, 7.5)
        c.drawString(x + 14, y, _text(severity_name(severity, lang)))
    for label, radius, ring in (("open_incidents", 2.2, True), ("resolved_incidents", 1.4, False)):
        y -= 11
        c.setFillColor(HexColor(mapdraw.SEVERITY_FILL["moderate"]))
        c.setStrokeColor(_DARK)
        c.setLineWidth(0.3)
        c.circle(x + 5, y + 2.5, radius, stroke=int(ring), fill=1)
        c.setFillColor(_DARK)
        c.drawString(x + 14, y, _text(w(label, lang)))
    y -= 16
    c.setFillColor(HexColor(mapdraw.WARNING_FILL), alpha=0.18)
    c.setStrokeColor(HexColor(mapdraw.WARNING_STROKE))
    c.setDash(3, 2)
    c.rect(x, y - 1, 10, 7, stroke=1, fill=1)
    c.setDash()
    c.setFillColor(_DARK, alpha=1)
    c.setFont(FONT, 7.5)
    c.drawString(x + 14, y, _text(w("warnings", lang)))
