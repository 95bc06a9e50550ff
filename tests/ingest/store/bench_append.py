"""Append throughput of the PostgreSQL report log (a script, not a test).

    .venv/bin/python -m tests.ingest.store.bench_append [--reports 20000] [--tasks 100] [--batch 1]

Starts an embedded server in a temporary directory, appends ``--reports`` reports from
``--tasks`` concurrent tasks (each request carries ``--batch`` reports, like an HTTP POST) and
prints one JSON object with the rate, the group-commit batch sizes and the seconds each 10,000
reports took: these must not grow with the size of the log.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from ingest.report import Point, Report, encode_report
from ingest.store.postgres import PostgresReportLog
from ops.embedded_postgres import EmbeddedPostgres

_SLICE = 10_000


def make_report(index: int) -> Report:
    return Report(
        source="fire",
        source_id=f"bench-{index}",
        category="fire.building",
        observed_at=datetime(2025, 11, 29, 12, 0, tzinfo=UTC),
        geometry=Point([7.59 + index * 1e-6, 50.36]),
        headline=f"Brand {index}",
        metrics={"injured": index % 5},
    )


async def run(url: str, reports: int, tasks: int, batch: int) -> dict[str, object]:
    log = await PostgresReportLog.open(url)
    items = [(r, encode_report(r)) for r in map(make_report, range(reports))]
    per_task = [items[i::tasks] for i in range(tasks)]
    done = 0
    marks: list[float] = []

    async def worker(own: list[tuple[Report, bytes]]) -> None:
        nonlocal done
        for start in range(0, len(own), batch):
            request = own[start : start + batch]
            await log.append(request)
            before, done = done, done + len(request)
            if done // _SLICE > before // _SLICE:
                marks.append(time.perf_counter())

    started = time.perf_counter()
    await asyncio.gather(*(worker(own) for own in per_task))
    elapsed = time.perf_counter() - started
    edges = [started, *marks]
    batches = log._committer.batches
    assert await log.last_offset() == reports
    await log.close()
    return {
        "reports": reports,
        "tasks": tasks,
        "seconds": round(elapsed, 3),
        "reports_per_second": round(reports / elapsed),
        "transactions": batches,
        "mean_batch": round(reports / max(batches, 1), 1),
        "seconds_per_10k": [round(b - a, 2) for a, b in itertools.pairwise(edges)],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reports", type=int, default=20_000)
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--batch", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, EmbeddedPostgres(Path(tmp) / "pg") as pg:
        print(json.dumps(asyncio.run(run(pg.url, args.reports, args.tasks, args.batch))))


if __name__ == "__main__":
    main()
