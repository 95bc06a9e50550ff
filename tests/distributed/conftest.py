"""Fixtures of the distributed-mode tests: topics on the module's real broker, correlation
workers as real processes, and API services on the bus."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest

from ingest.report import Report
from ops.distributed import prepare_topics, start_worker
from ops.scenario import Scenario, generate
from situation_api.app import open_services
from situation_api.bus_source import BusPicture
from situation_api.services import Services
from situation_api.settings import Settings

PARTITIONS = 3


@pytest.fixture(scope="module")
def bus_url(kafka_bootstrap: str) -> str:
    asyncio.run(prepare_topics(kafka_bootstrap, PARTITIONS, 1))
    return f"kafka://{kafka_bootstrap}"


@pytest.fixture
def workers(bus_url: str) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    """Starts correlation worker processes; all are killed at the end of the test."""
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        proc = start_worker(bus_url, PARTITIONS)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def scenario(seed: int, incidents: int = 30) -> Scenario:
    """A multi-agency RLP scenario (warnings and capacity included) that ended hours ago, placed
    so that no lifecycle deadline (resolve, close, onset, expiry) falls within the next minutes:
    the engine clocks follow the wall clock, and both modes must be compared at a stable
    picture."""
    now = datetime.now(UTC).replace(microsecond=0)
    for shift in range(60):
        start = now - timedelta(hours=9, minutes=7 * shift)
        plan = generate(
            incidents=incidents,
            seed=seed,
            start=start,
            duration=timedelta(hours=3),
            warnings=3,
            capacity_reports=8,
        )
        deadlines = [w.onset for w in plan.warnings] + [w.expires for w in plan.warnings]
        for incident in plan.incidents:
            quiet = timedelta(hours=12 if incident.family in ("flood", "infrastructure") else 2)
            deadlines += [incident.end + quiet, incident.end + quiet + timedelta(hours=24)]
        if all(
            not now - timedelta(minutes=5) <= d <= now + timedelta(minutes=15) for d in deadlines
        ):
            return plan
    raise AssertionError("no stable placement found for the scenario")


def bus_source(target: Services) -> BusPicture:
    source: object = target.runtime
    assert isinstance(source, BusPicture)
    return source


def settings(**extra: object) -> Settings:
    return Settings(auth=False, tick_seconds=0.2, stream_flush_ms=0, **extra)  # type: ignore[arg-type]


@asynccontextmanager
async def services(url: str, **extra: object) -> AsyncIterator[Services]:
    async with AsyncExitStack() as stack:
        yield await open_services(settings(**extra), url, stack=stack)


async def feed(target: Services, reports: tuple[Report, ...], batch: int = 25) -> None:
    """Append like the ingest route does, one batch per request."""
    for start in range(0, len(reports), batch):
        chunk = reports[start : start + batch]
        await target.report_log.append([(r, b"") for r in chunk])


def essence(picture: dict[str, object]) -> dict[str, object]:
    """What must be equal between the modes: incidents, warnings, district levels."""
    districts = picture["districts"]
    assert isinstance(districts, list)
    return {
        "incidents": picture["incidents"],
        "warnings": picture["warnings"],
        "levels": {d["ags"]: d["level"] for d in districts},
    }


async def converge(
    read: Callable[[], dict[str, object]], want: dict[str, object], timeout: float
) -> dict[str, object]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    got = read()
    while got != want and loop.time() < deadline:
        await asyncio.sleep(0.25)
        got = read()
    return got
