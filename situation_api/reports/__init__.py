"""Situation reports (Lagebericht): one frozen snapshot, many formats.

:func:`~situation_api.reports.model.build_report` computes every figure once from a picture and
the changes of the window; :func:`render` turns that snapshot into the bytes of one format.
Renderers are pure and imported on first use (reportlab and folium cost import time the API
should not pay at start-up).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from typing import Final

from situation_api.reports.model import (
    ReportInvalid,
    ReportOptions,
    SituationReport,
    build_report,
    gc_paused,
)


@dataclass(frozen=True, slots=True)
class Format:
    name: str
    media_type: str
    suffix: str
    module: str
    function: str


FORMATS: Final = {
    f.name: f
    for f in (
        Format("pdf", "application/pdf", ".pdf", "pdf", "render_pdf"),
        Format("html", "text/html; charset=utf-8", ".html", "html", "render_html"),
        Format("geojson", "application/geo+json", ".geojson", "geojson", "render_geojson"),
        Format("csv", "text/csv; charset=utf-8", ".csv", "table", "render_csv"),
        Format("sitrep", "application/xml", ".sitrep.xml", "sitrep", "render_sitrep"),
        Format("cap", "application/xml", ".cap.xml", "cap", "render_cap"),
    )
}


def renderer(name: str) -> Callable[[SituationReport], bytes]:
    fmt = FORMATS.get(name)
    if fmt is None:
        raise ReportInvalid("format", f"must be one of {', '.join(FORMATS)}, not {name!r}")
    module = import_module(f"situation_api.reports.{fmt.module}")
    function: Callable[[SituationReport], bytes] = getattr(module, fmt.function)
    return function


def render(report: SituationReport, name: str) -> bytes:
    """The report in format ``name`` (one of :data:`FORMATS`)."""
    function = renderer(name)
    with gc_paused():
        return function(report)


def filename(report: SituationReport, name: str) -> str:
    return f"lagebericht-{report.filename_stem}{FORMATS[name].suffix}"


__all__ = [
    "FORMATS",
    "Format",
    "ReportInvalid",
    "ReportOptions",
    "SituationReport",
    "build_report",
    "filename",
    "render",
    "renderer",
]
