"""PostgreSQL stopped and started again while reports stream in: every acknowledged report is
in the log exactly once, the refused ones got 503 + Retry-After and went through on retry, and
after recovery the live picture equals a fresh replay of the log. Figures: docs/RELIABILITY.md."""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from correlation.picture import picture_json
from ops import embedded_postgres
from ops.embedded_postgres import EmbeddedPostgres
from situation_api.runtime import replay_log
from tests.situation_api.live_server import live_server, report

PLACES = ("koblenz", "mainz", "trier")


class Load:
    def __init__(self) -> None:
        self.acknowledged: set[str] = set()
        self.refused = 0
        self.transport_errors = 0
        self.statuses: Counter[int] = Counter()
        self.stop = asyncio.Event()

    async def worker(self, url: str, worker: int) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            index = 0
            while not self.stop.is_set():
                place, step = PLACES[index % 3], 500.0 * (index % 13)
                body = report(f"pg{worker}-{index}", place, offset_m=step)
                while True:  # a client that retries until its report is acknowledged
                    try:
                        response = await client.post("/api/v1/reports", json=body)
                    except httpx.TransportError:
                        self.transport_errors += 1
                        await asyncio.sleep(0.2)
                        continue
                    self.statuses[response.status_code] += 1
                    if response.status_code == 202:
                        self.acknowledged.add(body["source_id"])
                        break
                    assert response.status_code == 503, response.text
                    assert "retry-after" in response.headers
                    self.refused += 1
                    await asyncio.sleep(0.2)  # shorter than Retry-After: the test must be quick
                index += 1


def _without_as_of(body: bytes) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(body)
    data.pop("as_of", None)
    return data


@pytest.mark.timeout(240)
async def test_postgres_restart_under_load_loses_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    top = Path(tempfile.mkdtemp(prefix="lagezentrum-pg-restart-"))
    pg = EmbeddedPostgres(top / "cluster", settings={"shared_buffers": "32MB"})
    url = await asyncio.to_thread(pg.start)
    port = pg.port
    try:
        async with live_server(url, snapshot_changes=50) as live:
            load = Load()
            workers = [asyncio.create_task(load.worker(live.url, w)) for w in range(4)]
            for _ in range(600):  # some load acknowledged before the outage
                if len(load.acknowledged) >= 20:
                    break
                await asyncio.sleep(0.1)
            before_stop = len(load.acknowledged)
            stopped = time.monotonic()
            await asyncio.to_thread(pg.stop)  # fast shutdown: open transactions roll back
            await asyncio.sleep(2.0)
            monkeypatch.setattr(embedded_postgres, "_free_port", lambda: port)  # same address
            await asyncio.to_thread(pg.start)
            down = time.monotonic() - stopped
            # Until ingest has visibly resumed (polled, not a fixed pause: reconnecting takes
            # longer on a loaded machine).
            resumed_at = len(load.acknowledged)
            for _ in range(600):
                if len(load.acknowledged) >= resumed_at + 10:
                    break
                await asyncio.sleep(0.1)
            load.stop.set()
            await asyncio.gather(*workers)

            log = live.services.report_log
            entries = await log.read(0, 1_000_000)
            ids = [r.source_id for r in entries]
            figures = {
                "acknowledged": len(load.acknowledged),
                "acknowledged_before_stop": before_stop,
                "refused_503": load.refused,
                "transport_errors": load.transport_errors,
                "statuses": dict(load.statuses),
                "postgres_down_s": round(down, 1),
                "log_entries": len(entries),
            }
            print("postgres restart figures:", json.dumps(figures))
            assert before_stop >= 3, figures
            assert load.refused > 0, "the outage was noticed"
            assert set(ids) == load.acknowledged, "acknowledged = stored, nothing else"
            assert len(ids) == len(set(ids)), "no report stored twice"
            assert [r.offset for r in entries] == list(range(1, len(entries) + 1))
            assert len(load.acknowledged) > before_stop, "ingest resumed after the restart"

            # the live picture after recovery equals a fresh replay of the log
            runtime = live.services.runtime
            assert await runtime.wait_processed(len(entries), 30)
            engine, offset = await replay_log(log)
            assert offset == len(entries)
            served = (await live.http.get("/api/v1/situation")).content
            assert _without_as_of(served) == _without_as_of(picture_json(engine.picture()))
            threads = [t for i in json.loads(served)["incidents"] for t in i["threads"]]
            assert len(threads) == len(set(threads)) == len(entries), "no duplicate incidents"
    finally:
        await asyncio.to_thread(pg.stop, immediate=True)
        shutil.rmtree(top, ignore_errors=True)
