"""The situation report as one self-contained HTML file: printable and usable offline.

Everything is inside the file: CSS, the static SVG map and chart (what a printout shows), and
an interactive folium map in an ``<iframe srcdoc>`` whose Leaflet JS/CSS are inlined from the
copy the display installs from the npm registry (``map_ui/web``; folium would link a CDN, so its
default asset lists are emptied). No tiles by default, so the file references nothing on the
network; a tile URL can be given for installations that have a tile server. The map layers are
built by one small script from the GeoJSON (one layer per kind) rather than one folium object
per incident, so ten thousand incidents cost one JSON encode.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from importlib import resources
from string import Template
from typing import Any

import msgspec

import map_ui
from situation_api.reports import chart as charts
from situation_api.reports import mapdraw
from situation_api.reports.cells import district_cells, number_or_dash, total_cells
from situation_api.reports.geojson import render_geojson
from situation_api.reports.i18n import Lang, level_name, severity_name, short_time, status_name
from situation_api.reports.i18n import when as when_text
from situation_api.reports.i18n import word as w
from situation_api.reports.model import SEVERITIES, SituationReport


@lru_cache(maxsize=4)
def _asset(name: str) -> str:
    return resources.files("situation_api.reports").joinpath("assets", name).read_text("utf-8")


@lru_cache(maxsize=1)
def leaflet_assets() -> tuple[str, str]:
    """(CSS, JS) of the installed Leaflet, the CSS images inlined as data URIs."""
    folder = map_ui.VENDOR["leaflet"]
    if not (folder / "leaflet.js").is_file():
        raise FileNotFoundError(
            f"Leaflet is not installed at {folder}: run `make setup` (npm ci in map_ui/web)"
        )
    css = (folder / "leaflet.css").read_text("utf-8")
    js = (folder / "leaflet.js").read_text("utf-8")

    def inline(match: re.Match[str]) -> str:
        image = (folder / "images" / match.group(1)).read_bytes()
        return f"url(data:image/png;base64,{base64.b64encode(image).decode()})"

    css = re.sub(r"url\(images/([\w.-]+\.png)\)", inline, css)
    return css, js


def _script_safe(data: bytes) -> str:
    # JSON inside <script>: these escapes keep "</script>" and friends from ending it.
    text = data.decode("utf-8")
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def interactive_map(report: SituationReport, *, tiles: str | None = None) -> str:
    """The folium map as a complete HTML document (for an iframe's srcdoc)."""
    import folium

    lang = report.lang
    fmap = folium.Map(
        location=[49.95, 7.45], zoom_start=8, tiles=None, prefer_canvas=True, control_scale=True
    )
    fmap.default_js = []
    fmap.default_css = []
    if tiles:
        folium.TileLayer(tiles, attr=tiles, name="tiles").add_to(fmap)
    root = fmap.get_root()
    assert isinstance(root, folium.Figure)
    # Leaflet is spliced in after rendering (at a placeholder), and so is our script: folium
    # compiles an Element's text as a Jinja template, slow for megabytes of data, and it would
    # expand any "{{" in the data.
    root.header.add_child(folium.Element("<!--lz-leaflet-->"), name="leaflet_inline")
    script = Template(_asset("layers.js")).substitute(
        {
            "severity": _script_safe(msgspec.json.encode(mapdraw.SEVERITY_FILL)),
            "levels": _script_safe(msgspec.json.encode(list(mapdraw.LEVEL_FILL))),
            "wstroke": mapdraw.WARNING_STROKE,
            "wfill": mapdraw.WARNING_FILL,
            "map": fmap.get_name(),
            "data": _script_safe(render_geojson(report)),
            "words": _script_safe(
                msgspec.json.encode(
                    [w("districts", lang), w("warnings", lang), w("incidents", lang)]
                )
            ),
        }
    )
    rendered: str = root.render()
    css, js = leaflet_assets()
    head, marker, tail = rendered.partition("<!--lz-leaflet-->")
    if not marker:
        raise RuntimeError("folium did not render the Leaflet placeholder")
    rendered = f"{head}<style>{css}</style><script>{js}</script>{tail}"
    # The layers go at the very end of the last script, after folium has created the map.
    head, marker, tail = rendered.rpartition("</script>")
    if not marker:
        raise RuntimeError("folium rendered no script")
    return f"{head}\n{script}\n</script>{tail}"


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _table(
    head: Sequence[tuple[str, bool]], rows: Iterable[Sequence[str]], *, raw_first: bool = False
) -> str:
    """``head``: (title, numeric). Cells are escaped, except the first when ``raw_first``."""
    out = ["<table><thead><tr>"]
    out += [f"<th{' class=n' if num else ''}>{_e(t)}</th>" for t, num in head]
    out.append("</tr></thead><tbody>")
    numeric = [num for _, num in head]
    for row in rows:
        cells = []
        for index, (cell, num) in enumerate(zip(row, numeric, strict=True)):
            text = cell if raw_first and index == 0 else _e(cell)
            cells.append(f"<td class=n>{text}</td>" if num else f"<td>{text}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _dot(severity: str) -> str:
    fill = mapdraw.SEVERITY_FILL.get(severity, "#969696")
    return f'<span class=sv style="background:{fill}"></span>'


def render_html(report: SituationReport, *, tiles: str | None = None) -> bytes:
    lang: Lang = report.lang
    t, f = report.totals, report.totals.figures
    parts = [
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">',
        f"<title>{_e(w('title', lang))} {_e(report.number)}</title>",
        f"<style>{_asset('report.css')}</style></head><body>",
        f"<div class=cls>{_e(report.classification)}</div>",
        f"<h1>{_e(w('title', lang))} {_e(report.number)}</h1><div>{_e(w('subtitle', lang))}</div>",
        "<div class=meta>",
    ]
    meta = [
        (w("number", lang), report.number),
        (w("version", lang), str(report.version)),
        (w("period", lang), f"{when_text(report.start, lang)} – {when_text(report.at, lang)}"),
        (w("as_of", lang), when_text(report.at, lang)),
        (w("prepared_by", lang), report.prepared_by),
        (w("classification", lang), report.classification),
        (w("region", lang), report.region_label),
        (w("generated", lang), when_text(report.generated_at, lang)),
    ]
    parts += [f"<div>{_e(k)}: <b>{_e(v)}</b></div>" for k, v in meta]
    parts.append("</div>")
    # Summary and static map
    figures = [
        (w("incidents_total", lang), t.incidents),
        (w("open_incidents", lang), t.open),
        *(
            (f"– {severity_name(s, lang)}", n)
            for s, n in zip(SEVERITIES, t.open_by_severity, strict=True)
        ),
        (w("resolved_incidents", lang), t.resolved),
        (w("dead", lang), f.dead),
        (w("injured", lang), f.injured),
        (w("missing", lang), f.missing),
        (w("evacuated", lang), f.evacuated),
        (w("affected", lang), f.affected),
        (w("active_warnings", lang), t.warnings),
        (w("max_level", lang), f"{t.max_level} {level_name(t.max_level, lang)}"),
        (w("elevated_districts", lang), t.elevated_districts),
        (w("icu_beds_free", lang), number_or_dash(t.icu_beds_free)),
        (w("beds_free", lang), number_or_dash(t.beds_free)),
    ]
    scene = mapdraw.scene(report, 520, 640)
    parts.append(f"<h2>{_e(w('summary', lang))} / {_e(w('map', lang))}</h2><div class=cover>")
    parts.append(mapdraw.to_svg(scene, title=w("map", lang)))
    parts.append("<div><dl class=fig>")
    parts += [f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in figures]
    parts.append(f"</dl><p class=note>{_e(w('casualty_note', lang))}</p><div class=legend>")
    parts += [
        f'<div><span><i class=lv style="background:{fill}"></i>'
        f"{level} {_e(level_name(level, lang))}</span></div>"
        for level, fill in enumerate(mapdraw.LEVEL_FILL)
    ]
    parts.append(
        "<div>"
        + "".join(f"<span>{_dot(s)}{_e(severity_name(s, lang))}</span>" for s in SEVERITIES)
        + "</div>"
    )
    parts.append("</div></div></div>")
    # Interactive map (screen only)
    srcdoc = _e(interactive_map(report, tiles=tiles))
    parts.append(
        f"<div class=screen><h2>{_e(w('interactive_map', lang))}</h2>"
        f'<iframe class=imap title="{_e(w("interactive_map", lang))}" '
        f'sandbox="allow-scripts" srcdoc="{srcdoc}"></iframe></div>'
    )
    # Chart and districts
    parts.append(f"<h2>{_e(w('chart', lang))}</h2>")
    parts.append(charts.to_svg(charts.layout(report, 900, 190)))
    parts.append(f"<h2>{_e(w('districts', lang))}</h2>")
    head = [
        (w("col_ags", lang), False),
        (w("col_district", lang), False),
        (w("col_level", lang), False),
        *((w(f"col_{s}", lang), True) for s in SEVERITIES),
        (w("col_open", lang), True),
        (w("resolved", lang), True),
        (w("col_warnings", lang), True),
        (w("dead", lang), True),
        (w("injured", lang), True),
        (w("missing", lang), True),
        (w("evacuated", lang), True),
        (w("col_icu", lang), True),
        (w("col_beds", lang), True),
    ]
    rows = [district_cells(d, lang) for d in report.districts]
    table = _table(head, rows)
    total = total_cells(t, lang)
    total_row = (
        "<tr class=sum>"
        + "".join(
            f"<td class=n>{_e(c)}</td>" if num else f"<td>{_e(c)}</td>"
            for c, (_, num) in zip(total, head, strict=True)
        )
        + "</tr>"
    )
    parts.append(table.replace("</tbody>", total_row + "</tbody>"))
    parts.append(f"<p class=note>{_e(w('casualty_note', lang))}</p>")
    # Warnings
    parts.append(f"<h2>{_e(w('warnings', lang))} ({len(report.warnings)})</h2>")
    names = report.names
    parts.append(
        _table(
            [
                (w("col_severity", lang), False),
                (w("col_category", lang), False),
                (w("col_headline", lang), False),
                (w("col_event", lang), False),
                (w("col_onset", lang), False),
                (w("col_expires", lang), False),
                (w("col_districts", lang), False),
            ],
            (
                [
                    _dot(x.severity) + _e(severity_name(x.severity, lang)),
                    x.category,
                    x.headline,
                    x.agency or x.event,
                    when_text(x.onset, lang) if x.onset else "–",
                    when_text(x.expires, lang) if x.expires else "–",
                    ", ".join(names.get(a, a) for a in x.districts),
                ]
                for x in report.warnings
            ),
            raw_first=True,
        )
        if report.warnings
        else f"<p>{_e(w('none', lang))}</p>"
    )
    parts.append(f"<h2>{_e(w('timeline', lang))}</h2>")
    parts.append(
        _table(
            [(w("col_time", lang), False), (w("col_event", lang), False)],
            ([when_text(e.at, lang), e.text] for e in report.timeline),
        )
        if report.timeline
        else f"<p>{_e(w('none', lang))}</p>"
    )
    if report.journal:
        parts.append(f"<h2>{_e(w('journal', lang))}</h2>")
        parts.append(
            _table(
                [
                    (w("col_time", lang), False),
                    (w("col_author", lang), False),
                    (w("col_entry", lang), False),
                ],
                ([when_text(j.at, lang), j.author, j.text] for j in report.journal),
            )
        )
    parts.append(f"<h2>{_e(w('incidents', lang))} ({len(report.incidents)})</h2>")
    parts.append(
        _table(
            [
                (w("col_severity", lang), False),
                (w("col_id", lang), False),
                (w("col_status", lang), False),
                (w("col_category", lang), False),
                (w("col_title", lang), False),
                (w("col_district", lang), False),
                (w("col_agencies", lang), False),
                (w("col_first_seen", lang), False),
                (w("col_last_seen", lang), False),
                (w("dead", lang), True),
                (w("injured", lang), True),
                (w("missing", lang), True),
                (w("evacuated", lang), True),
            ],
            (
                [
                    _dot(i.severity) + _e(severity_name(i.severity, lang)),
                    i.id,
                    status_name(i.status, lang),
                    i.category,
                    i.title,
                    i.district_name,
                    ", ".join(i.agencies),
                    short_time(i.first_seen, lang),
                    short_time(i.last_seen, lang),
                    str(i.figures.dead),
                    str(i.figures.injured),
                    str(i.figures.missing),
                    str(i.figures.evacuated),
                ]
                for i in report.incidents
            ),
            raw_first=True,
        )
    )
    parts.append(
        f"<p class=note>{_e(w('classification', lang))}: {_e(report.classification)} · "
        f"{_e(scene.attribution)}</p></body></html>"
    )
    return "".join(parts).encode("utf-8")
