"""Child process of test_durability: appends forever and prints every acknowledgement.

    python -m tests.ingest.store.durability_child URL

Each line ``offset source_id`` is printed (and flushed) only after ``append`` returned, i.e.
after the report is acknowledged as durably stored.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime

from ingest.report import Point, Report, encode_report
from ingest.store import PostgresReportLog


async def main(url: str) -> None:
    log = await PostgresReportLog.open(url)
    counter = iter(range(10**9))

    async def client(task: int) -> None:
        while True:
            n = next(counter)
            report = Report(
                source="police", source_id=f"D-{n}", category="security.public_order",
                observed_at=datetime(2025, 11, 29, 10, 0, tzinfo=UTC), geometry=Point([8.27, 50.0]),
            )  # fmt: skip
            [done] = await log.append([(report, encode_report(report))])
            sys.stdout.write(f"{done.offset} {report.source_id}\n")
            sys.stdout.flush()

    await asyncio.gather(*(client(t) for t in range(20)))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
