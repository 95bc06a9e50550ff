"""Kill -9 of the writing process never loses an acknowledged report."""

from __future__ import annotations

import signal
import subprocess
import sys

from ingest.store import PostgresReportLog
from tests.conftest import REPO


async def test_every_acknowledged_report_survives_kill_9_of_the_writer(pg_fresh_url: str) -> None:
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.ingest.store.durability_child", pg_fresh_url],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    acked: dict[str, int] = {}
    assert child.stdout is not None
    try:
        for line in child.stdout:
            offset, source_id = line.split()
            acked[source_id] = int(offset)
            if len(acked) >= 400:
                child.send_signal(signal.SIGKILL)  # mid-flight: other appends are in progress
                break
        # acknowledgements already written to the pipe before the kill count too
        for line in child.stdout:
            if line.strip():
                offset, source_id = line.split()
                acked[source_id] = int(offset)
    finally:
        child.kill()
        stderr = child.stderr.read() if child.stderr else ""
        child.wait()
    assert len(acked) >= 400, stderr

    log = await PostgresReportLog.open(pg_fresh_url)
    stored = await log.read(0, 100_000)
    by_id = {r.source_id: r.offset for r in stored}
    assert all(by_id.get(source_id) == offset for source_id, offset in acked.items())
    # The log stays gap-free: no half-written batch left a hole.
    assert [r.offset for r in stored] == list(range(1, len(stored) + 1))
    assert await log.last_offset() == len(stored)
    await log.close()
