"""``lagezentrum serve`` as a real subprocess on the embedded PostgreSQL: kill -9 under load,
restart, nothing acknowledged lost, the same picture as a fresh replay of the log."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from correlation.picture import picture_json
from ingest.store import Database, PostgresReportLog
from ops.embedded_postgres import EmbeddedPostgres
from ops.serve_process import CLI, ServeDidNotStart, spawn_serve
from situation_api.history import PostgresHistoryStore
from situation_api.runtime import replay_log
from tests.situation_api.live_server import report

SERVE = [*CLI, "serve"]
PLACES = ("koblenz", "mainz", "trier")


class Server:
    def __init__(self, data_dir: Path, env: dict[str, str]) -> None:
        try:
            self.process, self.url = spawn_serve(
                ["--port", "0", "--data-dir", str(data_dir)], env=env
            )
        except ServeDidNotStart as error:
            pytest.fail(str(error))

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/api/v1/readyz").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        pytest.fail("server never became ready")


@pytest.fixture
def env() -> dict[str, str]:
    values = {
        **os.environ,
        "LAGEZENTRUM_SNAPSHOT_CHANGES": "40",  # recovery goes through snapshot + log tail
        "LAGEZENTRUM_TICK_SECONDS": "0.2",
        "LAGEZENTRUM_AUTH": "false",  # access control is tested in tests/situation_api/auth
    }
    values.pop("LAGEZENTRUM_DATABASE_URL", None)
    return values


async def _load(url: str, acknowledged: set[tuple[str, str, int]], stop: asyncio.Event) -> None:
    async def poster(worker: int) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=5) as client:
            index = 0
            while not stop.is_set():
                body = report(
                    f"w{worker}-{index}",
                    PLACES[index % 3],
                    source=("fire", "police")[worker % 2],
                    offset_m=700.0 * (index % 11),
                )
                try:
                    response = await client.post("/api/v1/reports", json=body)
                except httpx.HTTPError:
                    return  # the server died: this report was never acknowledged
                if response.status_code == 202:
                    acknowledged.add((body["source"], body["source_id"], 1))
                index += 1

    await asyncio.gather(*(poster(w) for w in range(4)))


def _without_as_of(body: bytes) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(body)
    data.pop("as_of")
    return data


async def _check_recovered(url: str, database: str, acknowledged: set[Any]) -> None:
    db = await Database.connect(database)
    try:
        log = await PostgresReportLog.open(db)
        entries = await log.read(0, 1_000_000)
        logged = {(r.source, r.source_id, r.sequence) for r in entries}
        assert acknowledged <= logged, f"{len(acknowledged - logged)} acknowledged reports lost"
        # the picture a fresh engine derives from the log is the restarted server's picture
        engine, offset = await replay_log(log)
        assert offset == len(entries)
        async with httpx.AsyncClient(base_url=url) as client:
            for _ in range(100):
                ready = (await client.get("/api/v1/readyz")).json()
                if ready["offset"] == offset:
                    break
                await asyncio.sleep(0.05)
            served = (await client.get("/api/v1/situation")).content
        assert _without_as_of(served) == _without_as_of(picture_json(engine.picture()))
        # and the history holds every change exactly once
        history = await PostgresHistoryStore.open(db)
        for _ in range(100):
            if await history.head() >= engine.seq:
                break
            await asyncio.sleep(0.05)
        changes = await history.since(0, 1_000_000)
        assert [c.seq for c in changes] == list(range(1, engine.seq + 1))
    finally:
        await db.close()


def test_kill_9_under_load_then_restart_loses_nothing(tmp_path: Path, env: dict[str, str]) -> None:
    data_dir = tmp_path / "data"
    first = Server(data_dir, env)
    first.wait_ready()
    acknowledged: set[tuple[str, str, int]] = set()

    async def load_then_kill() -> None:
        stop = asyncio.Event()
        load = asyncio.create_task(_load(first.url, acknowledged, stop))
        # Kill once a good number is acknowledged (not after a fixed time: a loaded CI machine
        # may take seconds for the first requests).
        for _ in range(1200):
            if len(acknowledged) > 40:
                break
            await asyncio.sleep(0.05)
        first.process.send_signal(signal.SIGKILL)  # mid-load: requests are in flight
        await asyncio.sleep(0.5)
        stop.set()
        await load

    asyncio.run(load_then_kill())
    assert first.process.wait(10) == -signal.SIGKILL
    assert len(acknowledged) > 20

    second = Server(data_dir, env)
    try:
        second.wait_ready()
        # the postmaster outlived the killed server and was adopted; reach it the same way
        database = EmbeddedPostgres(data_dir / "postgres").start()
        asyncio.run(_check_recovered(second.url, database, acknowledged))
    finally:
        second.process.send_signal(signal.SIGTERM)
        code = second.process.wait(60)
    assert code == 0
    assert not (data_dir / "postgres" / "postmaster.pid").exists()  # PostgreSQL was stopped


def test_serve_failures_exit_with_one_line_reason(tmp_path: Path, env: dict[str, str]) -> None:
    unreachable = subprocess.run(
        [*SERVE, "--port", "0", "--database-url", "postgresql://lz:pw@127.0.0.1:1/lz"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert unreachable.returncode != 0
    last = unreachable.stderr.strip().splitlines()[-1]
    assert last.startswith("lagezentrum: error: start-up failed")
    assert "PostgreSQL" in last or "connect" in last

    config = tmp_path / "lz.toml"
    config.write_text("snapshot_intervall = 5\n")
    typo = subprocess.run(
        [*SERVE, "--config", str(config)], capture_output=True, text=True, env=env, timeout=60
    )
    assert typo.returncode != 0
    assert typo.stderr.strip() == (
        "lagezentrum: error: snapshot_intervall: Extra inputs are not permitted"
    )
