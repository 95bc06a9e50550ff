"""``lagezentrum replay``: the batch form of the engine, without any server.

Reads JSONL/CAP/NINA/GeoJSON/CSV input, runs the same engine the live system runs, and writes
the picture in the contract-3 JSON shape, for after-action review, exercises and benchmarks.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from correlation import Rules, RulesInvalid, picture_json
from correlation.engines import (
    DEFAULT_ENGINE,
    ENGINE_KINDS,
    EngineKind,
    SituationEngine,
    engine_type,
)
from ingest.report import Report, Status
from ops.cli import app, fail
from ops.inputs import Inputs, input_files, log_order, observed_until, read_inputs
from ops.timeparse import parse_time

# Inputs smaller than this finish before a progress bar would be readable.
_PROGRESS_FROM_BYTES = 2_000_000


@dataclass(frozen=True, slots=True)
class ReplayResult:
    picture: bytes
    inputs: Inputs
    processed: int
    incidents: int
    warnings: int
    seconds: float


def run_replay(
    reports: list[Report],
    *,
    at: datetime | None = None,
    rules: Rules | None = None,
    status: Status = "actual",
    kind: EngineKind = DEFAULT_ENGINE,
) -> tuple[SituationEngine, int]:
    """Run the engine over reports in log order; returns the engine and the count processed."""
    engine = engine_type(kind)(rules, status=status)
    ordered = [r for r in log_order(reports) if r.status == status]
    processed = 0
    for report in observed_until(ordered, at):
        engine.process(report)
        processed += 1
    end = at or max((r.observed_at for r in ordered), default=None)
    if end is not None:
        engine.advance(end)
    return engine, processed


def replay_path(
    path: Path,
    *,
    format: str | None = None,
    at: datetime | None = None,
    rules: Rules | None = None,
    status: Status = "actual",
    kind: EngineKind = DEFAULT_ENGINE,
    console: Console | None = None,
) -> ReplayResult:
    started = time.perf_counter()
    total = sum(f.stat().st_size for f in input_files(path))
    show = console is not None and total >= _PROGRESS_FROM_BYTES
    with Progress(
        TextColumn("[bold]replay[/]"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not show,
    ) as progress:
        task = progress.add_task("read", total=total)
        inputs = read_inputs(path, format=format, progress=lambda n: progress.advance(task, n))
    engine, processed = run_replay(inputs.reports, at=at, rules=rules, status=status, kind=kind)
    picture = engine.picture()
    return ReplayResult(
        picture=picture_json(picture),
        inputs=inputs,
        processed=processed,
        incidents=len(picture.incidents),
        warnings=len(picture.warnings),
        seconds=time.perf_counter() - started,
    )


@app.command()
def replay(
    input: Annotated[
        Path, typer.Option("--input", "-i", help="JSONL/CAP/NINA/GeoJSON/CSV file or directory.")
    ],
    output: Annotated[
        Path,
        typer.Option("--output", "-o", help="Where to write the picture JSON ('-' for stdout)."),
    ],
    at: Annotated[
        str | None, typer.Option(help="Picture time (RFC 3339); default: latest observed_at.")
    ] = None,
    rules: Annotated[Path | None, typer.Option(help="Correlation rules TOML file.")] = None,
    format: Annotated[
        str | None, typer.Option("--format", help="Input format; default: by file extension.")
    ] = None,
    status: Annotated[
        str, typer.Option(help="Which picture to build: actual, exercise or test.")
    ] = "actual",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only the summary line.")] = False,
    engine: Annotated[
        str, typer.Option(help="Engine: native (Rust) or python (the reference); same picture.")
    ] = DEFAULT_ENGINE,
) -> None:
    """Run the correlation engine over an input and write the picture (contract 3 JSON)."""
    if status not in ("actual", "exercise", "test"):
        fail(f"--status must be actual, exercise or test, not {status!r}")
    if engine not in ENGINE_KINDS:
        fail(f"--engine must be {' or '.join(ENGINE_KINDS)}, not {engine!r}")
    try:
        when = parse_time(at) if at else None
        loaded = Rules.load(rules) if rules else None
        result = replay_path(
            input,
            format=format,
            at=when,
            rules=loaded,
            status=status,  # type: ignore[arg-type]
            kind=engine,  # type: ignore[arg-type]
            console=Console(stderr=True),
        )
    except (OSError, ValueError, RulesInvalid) as error:
        fail(str(error))
    if str(output) == "-":
        sys.stdout.buffer.write(result.picture + b"\n")
    else:
        output.write_bytes(result.picture + b"\n")
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    if not quiet:
        for rejection in result.inputs.rejected:
            err.print(f"rejected: {rejection}", markup=False)
    err.print(
        f"replay: {len(result.inputs.reports)} reports read from {result.inputs.files} files, "
        f"{len(result.inputs.rejected)} rejected, {result.processed} processed, "
        f"{result.incidents} incidents, {result.warnings} warnings, {result.seconds:.2f} s",
        markup=False,
    )
