"""``lagezentrum bench report``: export time of every report format for a heavy day.

The load is a 24-hour window with exactly N incidents (default 10,000) state-wide, plus weather
warnings and hospital capacity for every district. The scenario generator of
:mod:`ops.scenario` keeps incidents kilometres apart so its ground truth is unambiguous, which
caps it far below 10,000 a day; here incidents sit on distinct points of a ~550 m grid inside
Rheinland-Pfalz and use only scene families (250 m radius), so no two can merge and the picture
holds exactly N incidents. Everything follows from the seed.
"""

from __future__ import annotations

import json
import platform
import random
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, Final

import typer

from ingest.districts import rlp_districts
from ingest.report import Point, Report, Severity, Source
from ops.cli import bench_app

START: Final = datetime(2024, 6, 1, 6, 0, tzinfo=UTC)
_STEP_LAT: Final = 0.005  # ~556 m
_STEP_LON: Final = 0.0078  # ~556 m at 50° N
# (category, title, primary source, second source or None)
_KINDS: Final[tuple[tuple[str, str, Source, Source | None], ...]] = (
    ("fire.building", "Brand Gebäude", "fire", "police"),
    ("fire.vegetation", "Flächenbrand", "fire", None),
    ("accident.traffic", "Verkehrsunfall", "police", "fire"),
    ("rescue.technical", "Technische Rettung", "fire", "health"),
    ("medical.emergency", "Notfalleinsatz Rettungsdienst", "health", None),
    ("hazmat.gas_leak", "Gasaustritt", "fire", "police"),
    ("security.public_order", "Polizeieinsatz", "police", None),
)
_SEVERITIES: Final[tuple[Severity, ...]] = ("minor", "moderate", "moderate", "severe", "extreme")
_WEATHER: Final[tuple[tuple[str, str, Severity], ...]] = (
    ("weather.thunderstorm", "Amtliche UNWETTERWARNUNG vor SCHWEREM GEWITTER", "severe"),
    ("weather.heavy_rain", "Amtliche WARNUNG vor STARKREGEN", "moderate"),
    ("weather.heat", "Amtliche WARNUNG vor HITZE", "minor"),
    ("weather.wind", "Amtliche UNWETTERWARNUNG vor ORKANBÖEN", "extreme"),
)


@cache
def _grid() -> tuple[tuple[str, float, float], ...]:
    """(AGS, lon, lat) of every grid point inside the state."""
    districts = rlp_districts()
    minx, miny, maxx, maxy = 6.1, 48.96, 8.52, 50.95
    points = []
    lat = miny
    while lat <= maxy:
        lon = minx
        while lon <= maxx:
            ags = districts.at(lon, lat)
            if ags is not None:
                points.append((ags, round(lon, 6), round(lat, 6)))
            lon += _STEP_LON
        lat += _STEP_LAT
    return tuple(points)


def synthetic_reports(
    incidents: int,
    *,
    seed: int = 1,
    start: datetime = START,
    hours: float = 24.0,
    warnings: int = 8,
) -> list[Report]:
    """Reports for ``incidents`` incidents spread over ``hours`` from ``start``, in event-time
    order; about a third have a second agency's thread, a fifth an update."""
    rng = random.Random(seed)
    grid = _grid()
    if incidents > len(grid):
        raise ValueError(f"at most {len(grid)} incidents fit the grid")
    names = {d.ags: d.name for d in rlp_districts().all()}
    span = hours * 3600
    reports: list[Report] = []
    for number, (ags, lon, lat) in enumerate(rng.sample(grid, incidents), start=1):
        category, title, source, second = _KINDS[rng.randrange(len(_KINDS))]
        severity = _SEVERITIES[rng.randrange(len(_SEVERITIES))]
        at = start + timedelta(seconds=rng.uniform(0, span * 0.98))
        scale = {"minor": 1, "moderate": 2, "severe": 5, "extreme": 15}[severity]
        metrics = {"injured": rng.randrange(2 * scale + 1)}
        if scale >= 5 and rng.random() < 0.3:
            metrics["dead"] = rng.randrange(scale // 2 + 1)
        if category.startswith(("fire", "hazmat")) and scale >= 2:
            metrics["evacuated"] = rng.randrange(20 * scale)
        headline = f"{title} – {names[ags]}"
        threads = [(source, 0.0)]
        if second is not None and rng.random() < 0.5:
            threads.append((second, rng.uniform(120, 600)))
        for kind, delay in threads:
            reports.append(
                Report(
                    source=kind,
                    source_id=f"B{seed}-{kind[:2].upper()}-{number:06d}",
                    category=category,
                    observed_at=at + timedelta(seconds=delay),
                    severity=severity,
                    geometry=Point([lon, lat]),
                    headline=headline,
                    metrics=metrics if kind == source else {},
                    agency=f"{kind} {names[ags]}",
                )
            )
        if rng.random() < 0.2:
            reports.append(
                Report(
                    source=source,
                    source_id=f"B{seed}-{source[:2].upper()}-{number:06d}",
                    sequence=2,
                    msg_type="update",
                    category=category,
                    observed_at=at + timedelta(seconds=rng.uniform(600, 1800)),
                    severity=severity,
                    geometry=Point([lon, lat]),
                    headline=headline,
                    metrics={k: v + 1 for k, v in metrics.items()},
                    agency=f"{source} {names[ags]}",
                )
            )
    codes = sorted(names)
    for number in range(1, warnings + 1):
        category, headline, severity = _WEATHER[number % len(_WEATHER)]
        sent = start + timedelta(seconds=rng.uniform(0, span * 0.9))
        chosen = sorted(rng.sample(codes, rng.randint(1, 4)))
        reports.append(
            Report(
                source="weather",
                source_id=f"B{seed}-DWD-{number:04d}",
                category=category,
                observed_at=sent,
                severity=severity,
                onset_at=sent,
                expires_at=start + timedelta(hours=hours + 12),
                area_codes=tuple(f"{a}0000000" for a in chosen),
                headline=headline,
                event=headline.split(" vor ")[-1],
                agency="Deutscher Wetterdienst",
            )
        )
    for index, ags in enumerate(codes):
        reports.append(
            Report(
                source="health",
                source_id=f"B{seed}-ICU-{ags}",
                category="capacity.hospital",
                observed_at=start + timedelta(minutes=index),
                area_codes=(f"{ags}0000000",),
                metrics={"icu_beds_free": rng.randrange(40), "beds_free": rng.randrange(600)},
                headline=f"Bettenkapazität {names[ags]}",
                agency="DIVI-Intensivregister",
            )
        )
    reports.sort(key=lambda r: r.observed_at)
    return reports


def measure(incidents: int, seed: int, formats: Sequence[str] | None = None) -> dict[str, Any]:
    from ops.report_cli import replay_window
    from situation_api.reports import FORMATS, ReportOptions, build_report, render

    started = time.perf_counter()
    reports = synthetic_reports(incidents, seed=seed)
    generated = time.perf_counter() - started
    at = START + timedelta(hours=24)
    started = time.perf_counter()
    base, changes = replay_window(reports, at=at)
    replayed = time.perf_counter() - started
    started, cpu = time.perf_counter(), time.process_time()
    report = build_report(base, changes, ReportOptions(at=at, start=at - timedelta(hours=24)))
    model = (time.perf_counter() - started, time.process_time() - cpu)
    out: dict[str, Any] = {
        "benchmark": "report",
        "window_hours": 24,
        "incidents": len(report.incidents),
        "warnings": len(report.warnings),
        "changes": len(changes),
        "model_seconds": round(model[0], 3),
        "model_cpu_seconds": round(model[1], 3),
    }
    for name in formats or FORMATS:
        render(report, name)  # first call pays imports and caches, as a server does once
        started, cpu = time.perf_counter(), time.process_time()
        body = render(report, name)
        wall, used = time.perf_counter() - started, time.process_time() - cpu
        out[name] = {
            "seconds": round(wall, 3),
            "cpu_seconds": round(used, 3),
            "with_model_seconds": round(wall + model[0], 3),
            "bytes": len(body),
        }
    out["generate_seconds"] = round(generated, 2)
    out["replay_seconds"] = round(replayed, 2)
    out["python"] = platform.python_version()
    return out


@bench_app.command("report")
def bench_report(
    incidents: int = typer.Option(10_000, help="Incidents in the 24-hour window."),
    seed: int = typer.Option(1, help="Seed of the synthetic day."),
    format: list[str] = typer.Option(  # noqa: B008
        None, "--format", help="Formats to time (default: all)."
    ),
) -> None:
    """Seconds per report format (after the shared snapshot) for a 24 h window."""
    typer.echo(json.dumps(measure(incidents, seed, format or None)))
