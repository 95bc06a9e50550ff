"""Every format of one report: readable by its standard tool, and the same figures in each."""

from __future__ import annotations

import csv
import html
import io
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import msgspec
import pytest
import shapely
from shapely.geometry import shape

from ingest.formats.cap import parse_cap
from situation_api.reports import FORMATS, ReportOptions, SituationReport, build_report, render
from situation_api.reports.cap import CAP_NS, EDXL_NS
from situation_api.reports.sitrep import HEADER, SITREP_NS
from tests.situation_api.reports.conftest import AT, HOSTILE, START, Day


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found: install Debian's poppler-utils")
    return path


@pytest.fixture(scope="module")
def files(report: SituationReport, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("report")
    out = {}
    for name, fmt in FORMATS.items():
        path = folder / f"report{fmt.suffix}"
        path.write_bytes(render(report, name))
        out[name] = path
    return out


@pytest.fixture(scope="module")
def pdf_text(files: dict[str, Path]) -> str:
    done = subprocess.run(
        [_tool("pdftotext"), "-layout", str(files["pdf"]), "-"],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return done.stdout


# -- PDF ------------------------------------------------------------------------------------------


def test_pdf_text_names_every_district_and_incident(report: SituationReport, pdf_text: str) -> None:
    assert report.number in pdf_text
    assert "OFFEN" in pdf_text
    for district in report.districts:
        assert district.name in pdf_text, district.name
    for incident in report.incidents:
        assert incident.id in pdf_text, incident.id
    for warning in report.warnings:
        assert warning.headline[:30] in pdf_text
    assert "Wesentliche Veränderungen im Berichtszeitraum" in pdf_text
    assert "Einsatztagebuch" in pdf_text
    assert report.journal[0].text[:30] in pdf_text
    assert "</script>" in pdf_text  # hostile text is printed, not interpreted


def test_pdf_pages_render(files: dict[str, Path], tmp_path: Path) -> None:
    subprocess.run(
        [_tool("pdftoppm"), "-r", "50", "-png", "-f", "1", "-l", "3", str(files["pdf"]),
         str(tmp_path / "page")],
        check=True, capture_output=True,
    )  # fmt: skip
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) == 3
    for page in pages:
        data = page.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        assert width > height > 300  # A4 landscape
    # the map page carries far more ink than a blank page would compress to
    assert pages[0].stat().st_size > 20_000


def _pdf_figure(text: str, label: str) -> int:
    found = re.search(rf"{re.escape(label)}\s+(\d+)", text)
    assert found is not None, label
    return int(found.group(1))


# -- CSV ------------------------------------------------------------------------------------------


def _csv_sections(data: bytes) -> dict[str, list[dict[str, str]]]:
    sections: dict[str, list[dict[str, str]]] = {}
    header: list[str] | None = None
    for row in csv.reader(io.StringIO(data.decode("utf-8"))):
        if not row:
            header = None
        elif header is None:
            assert row[0] == "section"
            header = row
        else:
            sections.setdefault(row[0], []).append(dict(zip(header, row, strict=True)))
    return sections


def test_csv_opens_with_the_csv_module(report: SituationReport, files: dict[str, Path]) -> None:
    sections = _csv_sections(files["csv"].read_bytes())
    assert len(sections["district"]) == 36
    assert len(sections["incident"]) == len(report.incidents)
    assert len(sections["warning"]) == len(report.warnings)
    assert len(sections["series"]) == len(report.series)
    (meta,) = sections["meta"]
    assert meta["number"] == report.number
    assert meta["to"] == "2024-06-02T02:00:00Z"
    hostile = next(r for r in sections["incident"] if "script" in r["title"])
    assert hostile["title"] == "'" + HOSTILE  # a spreadsheet must not run it as a formula


# -- GeoJSON --------------------------------------------------------------------------------------


def test_geojson_loads_in_shapely(report: SituationReport, files: dict[str, Path]) -> None:
    data = msgspec.json.decode(files["geojson"].read_bytes())
    assert data["type"] == "FeatureCollection"
    layers: dict[str, int] = {}
    for feature in data["features"]:
        geom = shape(feature["geometry"])
        assert geom.is_valid
        assert not geom.is_empty
        layer = feature["properties"]["layer"]
        layers[layer] = layers.get(layer, 0) + 1
        if layer == "incident":
            assert geom.geom_type == "Point"
        else:
            assert geom.geom_type in ("Polygon", "MultiPolygon")
    assert layers == {
        "district": 36, "warning": len(report.warnings), "incident": len(report.incidents)
    }  # fmt: skip
    koblenz = next(f for f in data["features"] if f["properties"].get("ags") == "07111")
    inside = [
        f for f in data["features"]
        if f["properties"]["layer"] == "incident" and f["properties"]["district"] == "07111"
    ]  # fmt: skip
    outline = shape(koblenz["geometry"])
    assert inside
    assert all(outline.buffer(0.001).contains(shape(f["geometry"])) for f in inside)


# -- HTML -----------------------------------------------------------------------------------------

_EXTERNAL = re.compile(
    r"""<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)\s*=\s*["']?https?:""", re.I
)


def test_html_is_self_contained(report: SituationReport, files: dict[str, Path]) -> None:
    page = files["html"].read_text("utf-8")
    assert not _EXTERNAL.search(page)
    srcdoc = re.search(r'srcdoc="([^"]*)"', page)
    assert srcdoc is not None
    inner = html.unescape(srcdoc.group(1))
    assert not _EXTERNAL.search(inner)
    assert "cdn." not in inner
    assert "cdnjs" not in inner
    assert "L.map(" in inner
    assert "L.geoJSON(" in inner
    assert "Leaflet" in inner
    assert "data:image/png;base64," in inner  # leaflet's control images inlined
    # the layers are added after folium has created the map they go on
    assert inner.index("L.map(") < inner.index('L.geoJSON(pick("district")')
    # hostile text never becomes markup, neither in the page nor in the map's data
    assert "<script>alert(" not in page
    assert "<script>alert(" not in inner
    assert html.escape(HOSTILE, quote=True) in page
    for district in report.districts:
        assert html.escape(district.name) in page
    assert page.count("<svg") == 2  # static map and chart for print


# -- EDXL-SitRep ----------------------------------------------------------------------------------


def test_sitrep_structure(report: SituationReport, files: dict[str, Path]) -> None:
    root = ET.fromstring(files["sitrep"].read_bytes())
    assert root.tag == f"{{{SITREP_NS}}}sitRep"
    names = [child.tag.split("}")[1] for child in root]
    unused = {
        "originatingMessageID", "precedingMessageID", "reportingLocation", "actionPlan",
        "nextContact",
    }  # fmt: skip
    required = [n for n in HEADER if n not in unused]
    assert [n for n in names if n in HEADER] == required  # all present, in schema order
    assert root.findtext(f"{{{SITREP_NS}}}messageID") == report.number
    period = root.find(f"{{{SITREP_NS}}}forTimePeriod")
    assert period is not None
    ct = "urn:oasis:names:tc:emergency:edxl:ct:1.0"
    assert period.findtext(f"{{{ct}}}fromDateTime") == "2024-06-01T02:00:00+00:00"
    assert period.findtext(f"{{{ct}}}toDateTime") == "2024-06-02T02:00:00+00:00"
    for text in root.itertext():
        assert "Z" not in text or not re.fullmatch(r"\d{4}-.*Z", text)
    assert root.findtext(f"{{{SITREP_NS}}}severity") in ("Minor", "Moderate", "Severe", "Extreme")
    body = root.find(f"{{{SITREP_NS}}}report")
    assert body is not None
    xsi = "{http://www.w3.org/2001/XMLSchema-instance}type"
    assert body.get(xsi) == "sitrep:SituationInformationType"
    primary = body.find(f"{{{SITREP_NS}}}primaryIncidentInformation")
    assert primary is not None
    assert len(primary.findall(f"{{{SITREP_NS}}}jurisdictionInformation")) == 36


# -- CAP ------------------------------------------------------------------------------------------


def test_cap_parses_back_and_validates(
    report: SituationReport, files: dict[str, Path], shared_data: Path
) -> None:
    from lxml import etree

    data = files["cap"].read_bytes()
    parsed = parse_cap(data)
    assert not parsed.rejected, parsed.rejected[:3]
    assert len(parsed.reports) == len(report.incidents) + len(report.warnings)
    ids = {r.source_id for r in parsed.reports}
    assert len(ids) == len(parsed.reports)
    by_id = {r.source_id.rsplit(".", 1)[-1]: r for r in parsed.reports}
    for incident in report.incidents:
        back = by_id[incident.id]
        assert back.severity == incident.severity
        assert back.category.split(".")[0] == incident.category.split(".")[0] or (
            incident.category.split(".")[0] in ("accident", "capacity", "flood")
        )
    schema = etree.XMLSchema(etree.parse(str(shared_data / "cap" / "schema" / "CAP-v1.2.xsd")))
    distribution = etree.fromstring(data)
    assert distribution.tag == f"{{{EDXL_NS}}}EDXLDistribution"
    alerts = distribution.findall(f".//{{{CAP_NS}}}alert")
    assert len(alerts) == len(parsed.reports)
    for alert in alerts:
        assert schema.validate(etree.ElementTree(alert)), str(schema.error_log)


# -- the same figures everywhere ------------------------------------------------------------------


def _html_figures(page: str) -> dict[str, str]:
    return dict(re.findall(r"<dt>([^<]*)</dt><dd>([^<]*)</dd>", page))


def test_figures_agree_across_formats(
    report: SituationReport, files: dict[str, Path], pdf_text: str
) -> None:
    t, f = report.totals, report.totals.figures
    expected = {
        "incidents": t.incidents, "open": t.open, "resolved": t.resolved, "dead": f.dead,
        "injured": f.injured, "evacuated": f.evacuated, "warnings": t.warnings,
    }  # fmt: skip
    pdf = {
        "incidents": _pdf_figure(pdf_text, "Einsätze im Lagebild"),
        "open": _pdf_figure(pdf_text, "Offene Einsätze"),
        "resolved": _pdf_figure(pdf_text, "Erledigte Einsätze"),
        "dead": _pdf_figure(pdf_text, "Tote"),
        "injured": _pdf_figure(pdf_text, "Verletzte"),
        "evacuated": _pdf_figure(pdf_text, "Evakuierte"),
        "warnings": _pdf_figure(pdf_text, "Aktive Warnungen"),
    }
    page = _html_figures(files["html"].read_text("utf-8"))
    html_figures = {
        "incidents": int(page["Einsätze im Lagebild"]), "open": int(page["Offene Einsätze"]),
        "resolved": int(page["Erledigte Einsätze"]), "dead": int(page["Tote"]),
        "injured": int(page["Verletzte"]), "evacuated": int(page["Evakuierte"]),
        "warnings": int(page["Aktive Warnungen"]),
    }  # fmt: skip
    (summary,) = _csv_sections(files["csv"].read_bytes())["summary"]
    csv_figures = {k: int(summary[k]) for k in expected}
    header: dict[str, Any] = msgspec.json.decode(files["geojson"].read_bytes())["report"]["totals"]
    geojson = {k: header[k] for k in expected}
    # The SitRep has elements for neither totals nor casualties: it carries one subIncident per
    # open incident and, per district, a free-text description with the district's figures.
    body = ET.fromstring(files["sitrep"].read_bytes()).find(f"{{{SITREP_NS}}}report")
    assert body is not None
    sitrep_figures = {
        "open": len(body.findall(f".//{{{SITREP_NS}}}subIncident")),
    }
    descriptions = [
        e.text or "" for e in body.iter(f"{{{SITREP_NS}}}description")
    ]  # one per district, in district order
    cap = parse_cap(files["cap"].read_bytes()).reports
    assert len(cap) == t.incidents + t.warnings
    assert sum(1 for r in cap if r.category.startswith("weather")) == t.warnings
    for name, found in {"pdf": pdf, "html": html_figures, "csv": csv_figures,
                        "geojson": geojson, "sitrep": sitrep_figures}.items():  # fmt: skip
        assert found == {k: expected[k] for k in found}, name
    # per district too: the CSV's district table against the PDF's district rows
    districts = _csv_sections(files["csv"].read_bytes())["district"]
    for row, district, text in zip(districts, report.districts, descriptions, strict=True):
        assert int(row["open"]) == district.open_total
        assert int(row["injured"]) == district.figures.injured
        told = dict(re.findall(r"(Offene Einsätze|Tote|Verletzte): (\d+)", text))
        assert told == {
            "Offene Einsätze": row["open"],
            "Tote": row["dead"],
            "Verletzte": row["injured"],
        }
        line = next(x for x in pdf_text.splitlines() if f" {district.ags} " in f" {x} ")
        numbers = [
            int(n) for n in re.findall(r"(?<![\d.])\d+(?![\d.])", line.split(district.name)[-1])
        ]
        assert numbers[1 + 5] == district.open_total  # level, 5 severities, open


def test_english_report(day: Day, tmp_path: Path) -> None:
    english = build_report(day.base, day.changes, ReportOptions(at=AT, start=START, lang="en"))
    page = render(english, "html").decode("utf-8")
    assert "Situation report" in page
    assert "Districts" in page
    assert "Lagebericht" not in page
    csv_data = render(english, "csv").decode("utf-8")
    assert "level_name" in csv_data
    assert "Normal" in csv_data
    pdf = tmp_path / "en.pdf"
    pdf.write_bytes(render(english, "pdf"))
    done = subprocess.run(
        [_tool("pdftotext"), str(pdf), "-"], check=True, capture_output=True, text=True
    )
    assert "UNCLASSIFIED" in done.stdout
    assert "Open incidents" in done.stdout
    assert "Significant changes in the period" in done.stdout
    assert "Einsätze" not in done.stdout


def test_classified_report_marks_cap_restricted(day: Day) -> None:
    marked = build_report(
        day.base, day.changes,
        ReportOptions(at=AT, start=START, classification="VS-NfD", districts=("07111",)),
    )  # fmt: skip
    cap = render(marked, "cap").decode("utf-8")
    assert "<scope>Restricted</scope><restriction>VS-NfD</restriction>" in cap
    assert "<scope>Public</scope>" not in cap
    assert shapely.__version__  # shapely stays importable for GIS users of the GeoJSON
