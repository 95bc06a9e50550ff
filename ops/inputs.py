"""Reading report inputs from files and directories, for replay, reports and benchmarks.

Parsing is the pure parsers' job (:mod:`ingest.formats`); this module only finds the files,
reads their bytes and puts the parsed reports into the order the engine must see them in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from ingest.errors import FeedInvalid
from ingest.formats import detect_format, parse
from ingest.report import Report

# Files in a replay directory that are clearly not inputs (documentation, checksums, ...).
_IGNORED_SUFFIXES = frozenset({".md", ".txt", ".yaml", ".yml", ".sha256", ".xsd", ".pdf"})


@dataclass(frozen=True, slots=True)
class Rejection:
    """One input that did not become a report: where it was and why."""

    location: str
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.location}: {self.field}: {self.reason}"


@dataclass(slots=True)
class Inputs:
    reports: list[Report] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    files: int = 0


def input_files(path: Path) -> list[Path]:
    """The input files under ``path`` (itself if a file), in a deterministic order."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"no such file or directory: {path}")
    return sorted(
        p
        for p in path.rglob("*")
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() not in _IGNORED_SUFFIXES
    )


def read_inputs(
    path: Path,
    *,
    format: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> Inputs:
    """Parse every input file; a bad file or item is recorded and skipped, never fatal."""
    result = Inputs()
    for file in input_files(path):
        data = file.read_bytes()
        result.files += 1
        try:
            parsed = parse(data, format or detect_format(file.name, data))
        except FeedInvalid as error:
            result.rejected.append(Rejection(str(file), error.field, error.reason))
        else:
            result.reports.extend(parsed.reports)
            result.rejected.extend(
                Rejection(
                    f"{file}[{r.index}]" if r.index is not None else str(file), r.field, r.reason
                )
                for r in parsed.rejected
            )
            result.warnings.extend(f"{file}: {w}" for w in parsed.warnings)
        if progress is not None:
            progress(len(data))
    return result


def log_order(reports: list[Report]) -> list[Report]:
    """The order the engine sees: log offsets when every report has one (an exported log must
    replay exactly as it ran live), else event time, ties kept in input order (stable sort)."""
    if reports and all(r.offset is not None for r in reports):
        return sorted(reports, key=lambda r: r.offset or 0)
    return sorted(reports, key=lambda r: r.observed_at)


def observed_until(reports: list[Report], until: datetime | None) -> Iterator[Report]:
    """Reports observed at or before ``until``, or all of them."""
    return iter(reports) if until is None else (r for r in reports if r.observed_at <= until)
