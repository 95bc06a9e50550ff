"""Fixtures of the storage tests: realistic reports and one report log per adapter."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from shapely.geometry import shape

from ingest.report import Point, Report, encode_report
from ingest.store import Database, MemoryReportLog, PostgresReportLog, ReportLog

Item = tuple[Report, bytes]
MakeItem = Callable[..., Item]


@pytest.fixture(scope="session")
def districts(shared_data: Path) -> list[tuple[str, str, list[float]]]:
    """(AGS, name, [lon, lat] inside the district) of the 36 real RLP districts."""
    data = json.loads((shared_data / "geo" / "rlp_kreise_vg5000_2021.geojson").read_text())
    result = []
    for feature in data["features"]:
        point = shape(feature["geometry"]).representative_point()
        props = feature["properties"]
        result.append((props["AGS"], props["GEN"], [point.x, point.y]))
    return result


@pytest.fixture
def make_item(districts: list[tuple[str, str, list[float]]]) -> MakeItem:
    """Build a (report, raw payload) pair: report ``n`` is placed in district ``n % 36``."""

    def make(n: int, *, source_id: str | None = None, sequence: int = 1) -> Item:
        ags, name, position = districts[n % len(districts)]
        report = Report(
            source="fire",
            source_id=source_id or f"E-{n:06d}",
            sequence=sequence,
            category="fire.building",
            severity="moderate",
            observed_at=datetime(2025, 11, 29, 8, 0, tzinfo=UTC) + timedelta(seconds=n),
            geometry=Point(position),
            area_codes=(ags,),
            headline=f"Gebäudebrand in {name}",
            metrics={"injured": n % 4},
            agency=f"Feuerwehr {name}",
        )
        # The raw payload is what the client sent: here with extra white space, to show that
        # the log keeps it byte for byte rather than re-encoding it.
        return report, b"  " + encode_report(report) + b"\n"

    return make


@pytest.fixture(params=["memory", "postgres"])
async def report_log(request: pytest.FixtureRequest) -> AsyncIterator[ReportLog]:
    """Each contract test runs against both adapters; postgres on a fresh database."""
    log: ReportLog
    if request.param == "memory":
        log = MemoryReportLog()
    else:
        url: str = request.getfixturevalue("pg_fresh_url")
        log = await PostgresReportLog.open(url)
    yield log
    await log.close()


OpenLog = Callable[..., Awaitable[PostgresReportLog]]


@pytest.fixture
async def open_log(pg_fresh_url: str) -> AsyncIterator[OpenLog]:
    """Open PostgreSQL report logs (on the fresh database unless given a URL or a Database),
    each standing for a process of its own; all are closed after the test."""
    opened: list[PostgresReportLog] = []

    async def open_(target: str | Database | None = None) -> PostgresReportLog:
        log = await PostgresReportLog.open(target if target is not None else pg_fresh_url)
        opened.append(log)
        return log

    yield open_
    for log in opened:
        await log.close()  # closing twice is harmless: a test may close one itself
