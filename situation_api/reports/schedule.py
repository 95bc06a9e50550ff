"""Scheduled situation reports: every ``interval`` a report is written into the export folder.

Due times are aligned to multiples of the interval since the Unix epoch (every 4 h: 00:00,
04:00, … UTC), so a restart neither skips nor shifts the schedule, and the report time T of
each run is the due time itself (reproducible from history later). Files are written to a
temporary name and renamed into place, so a listing never shows a half-written report. A run
that fails is logged and the schedule goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Final

from situation_api.reports import FORMATS, filename, render
from situation_api.reports.model import SituationReport

if TYPE_CHECKING:
    from situation_api.services import Services

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[None]]
Produce = Callable[[datetime], Awaitable[SituationReport]]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_NAME: Final = re.compile(r"^lagebericht-[a-z0-9-]{1,80}(\.[a-z]{2,8}){1,2}$")


def wall_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class ExportFile:
    name: str
    format: str
    size: int
    modified: datetime


def format_of(name: str) -> str | None:
    for fmt in sorted(FORMATS.values(), key=lambda f: -len(f.suffix)):
        if name.endswith(fmt.suffix):
            return fmt.name
    return None


def export_path(folder: Path, name: str) -> Path | None:
    """The file ``name`` in ``folder`` if it is a report file there (never a path outside)."""
    if not _NAME.match(name) or format_of(name) is None:
        return None
    path = folder / name
    return path if path.is_file() else None


def list_exports(folder: Path) -> list[ExportFile]:
    """Report files in ``folder``, newest first."""
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        fmt = format_of(path.name)
        if fmt is None or not _NAME.match(path.name) or not path.is_file():
            continue
        stat = path.stat()
        found.append(
            ExportFile(path.name, fmt, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC))
        )
    found.sort(key=lambda f: (f.modified, f.name), reverse=True)
    return found


def write_atomic(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


class ReportScheduler:
    def __init__(
        self,
        produce: Produce,
        *,
        folder: Path,
        interval: float,
        formats: Sequence[str],
        clock: Clock = wall_clock,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self._produce = produce
        self.folder = folder
        self.interval = timedelta(seconds=interval)
        self.formats = tuple(formats)
        self._clock = clock
        self._sleep = sleep
        self._task: asyncio.Task[None] | None = None
        self.runs = 0

    def next_due(self, now: datetime) -> datetime:
        """The first due time strictly after ``now``."""
        passed = (now - _EPOCH) // self.interval
        return _EPOCH + (passed + 1) * self.interval

    async def run_once(self, at: datetime) -> list[Path]:
        """Write the report at ``at`` in every configured format; the paths written."""
        report = await self._produce(at)
        self.folder.mkdir(parents=True, exist_ok=True)
        written = []
        for name in self.formats:
            data = await asyncio.to_thread(render, report, name)
            path = self.folder / filename(report, name)
            await asyncio.to_thread(write_atomic, path, data)
            written.append(path)
        self.runs += 1
        log.info("scheduled report written", extra={"report": report.number, "files": len(written)})
        return written

    async def run(self) -> None:
        while True:
            now = self._clock()
            due = self.next_due(now)
            await self._sleep(max((due - now).total_seconds(), 0.0))
            while self._clock() < due:  # woke early (clock adjusted): wait the rest
                await self._sleep(max((due - self._clock()).total_seconds(), 0.001))
            try:
                await self.run_once(due)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("scheduled report at %s failed", due.isoformat())

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="report-scheduler")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def scheduler_for(services: Services, *, clock: Clock = wall_clock) -> ReportScheduler | None:
    """The scheduler the settings ask for (``report_interval`` > 0), not yet started."""
    from situation_api.reports.source import report_from_services

    settings = services.settings
    if settings.report_interval <= 0:
        return None
    window = timedelta(seconds=settings.report_window)

    async def produce(at: datetime) -> SituationReport:
        return await report_from_services(
            services, start=at - window, at=at, lang=settings.report_lang
        )

    return ReportScheduler(
        produce,
        folder=settings.exports_path,
        interval=settings.report_interval,
        formats=settings.report_formats,
        clock=clock,
    )
