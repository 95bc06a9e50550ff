"""``lagezentrum serve --bus`` supervises what it starts (real broker, serve as a child process):
a correlation worker killed with SIGKILL is started again and the new one correlates; a serve
killed with SIGKILL takes its worker with it; an archive that fails ends serve with the reason."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from ingest.store import Database
from tests.distributed.conftest import PARTITIONS
from tests.distributed.processes import Child, alive, child_env, children_of
from tests.distributed.test_serve_bus import MAINZ, cmdline

KOBLENZ = (7.5890, 50.3569)


def start_serve(bus_url: str, tmp_path: Path, *extra: str) -> Child:
    args = ["serve", "--bus", bus_url, "--port", "0", "--workers", "1"]
    args += ["--partitions", str(PARTITIONS), "--data-dir", str(tmp_path / "data"), *extra]
    return Child(args, log=tmp_path / "serve.log", env=child_env())


def worker_of(serve: Child) -> list[int]:
    found = []
    for pid in children_of(serve.pid):
        with contextlib.suppress(OSError):
            if " correlate " in cmdline(pid) and alive(pid):
                found.append(pid)
    return found


def report(source_id: str, where: tuple[float, float]) -> dict[str, object]:
    return {
        "source": "police",
        "source_id": source_id,
        "category": "accident.traffic",
        "severity": "moderate",
        "observed_at": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
        "headline": f"Unfall {source_id}",
        "geometry": {"type": "Point", "coordinates": list(where)},
    }


async def correlated(http: httpx.AsyncClient, body: dict[str, object], timeout: float) -> float:
    """POST ``body`` and wait until /incidents lists its thread; the seconds that took."""
    response = await http.post("/api/v1/reports", json=body)
    assert response.status_code == 202, response.text
    thread = f"{body['source']}:{body['source_id']}"
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        listed = (await http.get("/api/v1/incidents")).json()["incidents"]
        if any(thread in incident["threads"] for incident in listed):
            return time.monotonic() - began
        await asyncio.sleep(0.2)
    raise AssertionError(f"{thread} not correlated within {timeout:.0f} s")


async def until(condition: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def test_a_killed_worker_is_restarted_and_the_new_one_correlates(
    bus_url: str, tmp_path: Path
) -> None:
    serve = start_serve(bus_url, tmp_path)
    try:
        url = await asyncio.to_thread(serve.wait_announced)
        [first] = worker_of(serve)
        os.kill(first, signal.SIGKILL)
        await until(lambda: worker_of(serve) not in ([], [first]), "a new worker", 15)
        [second] = worker_of(serve)
        assert second != first
        async with httpx.AsyncClient(base_url=url, timeout=20) as http:
            await correlated(http, report("PP-MZ-restart-1", MAINZ), timeout=90)
        warnings = [
            json.loads(line)
            for line in serve.log_text().splitlines()
            if line.startswith("{") and '"exit_code"' in line
        ]
        assert [(w["level"], w["pid"], w["exit_code"]) for w in warnings] == [
            ("warning", first, -signal.SIGKILL)
        ]
        assert "killed by SIGKILL" in warnings[0]["message"]
        assert warnings[0]["restart_in_s"] == 1.0
        assert serve.terminate() == 0
        assert not alive(second)
    finally:
        serve.kill()


async def test_a_killed_serve_takes_its_worker_with_it(bus_url: str, tmp_path: Path) -> None:
    serve = start_serve(bus_url, tmp_path)
    worker: int | None = None
    try:
        url = await asyncio.to_thread(serve.wait_announced)
        [worker] = worker_of(serve)
        async with httpx.AsyncClient(base_url=url, timeout=20) as http:
            # the worker is fully up (faust running, its signal handlers installed)
            await correlated(http, report("PP-KO-kill-1", KOBLENZ), timeout=90)
        serve.process.kill()
        serve.process.wait(10)
        began = time.monotonic()
        while alive(worker) and time.monotonic() - began < 15:
            await asyncio.sleep(0.1)
        assert not alive(worker), f"worker {worker} outlived the killed serve"
    finally:
        serve.kill()
        if worker is not None and alive(worker):
            os.kill(worker, signal.SIGKILL)


async def test_a_failing_archive_ends_serve_with_the_reason(
    bus_url: str, pg_fresh_url: str, tmp_path: Path
) -> None:
    serve = start_serve(bus_url, tmp_path, "--database-url", pg_fresh_url)
    db = await Database.connect(pg_fresh_url)
    try:
        url = await asyncio.to_thread(serve.wait_announced)
        [worker] = worker_of(serve)
        schema = pg_fresh_url.rpartition("search_path=")[2]
        await db.pool.execute(f'DROP SCHEMA "{schema}" CASCADE')
        async with httpx.AsyncClient(base_url=url, timeout=20) as http:
            response = await http.post("/api/v1/reports", json=report("PP-MZ-arch-1", MAINZ))
            assert response.status_code == 202, response.text
        code = await asyncio.to_thread(serve.process.wait, 60)
    finally:
        serve.kill()
        await db.close()
    assert code == 1
    reason = serve.log_text().strip().splitlines()[-1]
    assert reason.startswith("lagezentrum: error: archive failed: StoreUnavailable:"), reason
    assert not alive(worker)
