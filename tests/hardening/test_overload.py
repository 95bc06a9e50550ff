"""Overload: ``lagezentrum serve`` (subprocess, real PostgreSQL) driven at several times the rate
it sustains. It must shed with 503 + Retry-After (never time out, never 5xx otherwise), keep
serving a viewer's picture and websocket deltas, keep its memory bounded, and have stored
exactly the acknowledged reports and none of the refused ones. Figures: docs/RELIABILITY.md."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from datetime import UTC, datetime
from typing import Any

import msgspec
from websockets.asyncio.client import connect

from ingest.store import Database, PostgresReportLog
from tests.hardening.load import Connection, ServeProcess, Tally, percentile
from tests.situation_api.live_server import PLACES

MEASURE_SECONDS = 4.0
OVERLOAD_SECONDS = 8.0
OVERLOAD_FACTOR = 4
MAX_CONNECTIONS = 400
TIMEOUT = 15.0


def _body(source_id: str, index: int) -> bytes:
    lon, lat = list(PLACES.values())[index % 3]
    return msgspec.json.encode(
        {
            "source": "fire",
            "source_id": source_id,
            "category": "fire.building",
            "severity": "moderate",
            "observed_at": datetime.now(UTC).isoformat(),
            # 1 km steps: many separate incidents, as in a real storm night
            "geometry": {"type": "Point", "coordinates": [lon + (index % 40) / 70.0, lat]},
        }
    )


async def _post(connection: Connection, source_id: str, index: int, tally: Tally) -> None:
    started = time.perf_counter()
    try:
        response = await asyncio.wait_for(
            connection.request("POST", "/api/v1/reports", _body(source_id, index)), TIMEOUT
        )
    except (TimeoutError, OSError, asyncio.IncompleteReadError) as error:
        tally.error(error)
        return
    tally.record(source_id, response, time.perf_counter() - started)


async def closed_loop(server: ServeProcess, prefix: str, workers: int, seconds: float) -> Tally:
    tally = Tally()
    deadline = time.monotonic() + seconds

    async def worker(w: int) -> None:
        connection = Connection(server.host, server.port)
        index = 0
        while time.monotonic() < deadline:
            await _post(connection, f"{prefix}-{w}-{index}", index, tally)
            index += 1
        connection.close()

    await asyncio.gather(*(worker(w) for w in range(workers)))
    return tally


async def open_loop(server: ServeProcess, prefix: str, rate: float, seconds: float) -> Tally:
    """Requests started at ``rate`` per second whatever the answers (up to MAX_CONNECTIONS
    concurrently), as independent senders would."""
    tally = Tally()
    idle: list[Connection] = []
    slots = asyncio.Semaphore(MAX_CONNECTIONS)
    tasks: set[asyncio.Task[None]] = set()

    async def one(index: int) -> None:
        async with slots:
            connection = idle.pop() if idle else Connection(server.host, server.port)
            await _post(connection, f"{prefix}-{index}", index, tally)
            idle.append(connection)

    started = time.monotonic()
    launched = 0
    while (elapsed := time.monotonic() - started) < seconds:
        due = int(rate * elapsed)
        for index in range(launched, due):
            task = asyncio.create_task(one(index))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        launched = max(launched, due)
        await asyncio.sleep(0.005)
    await asyncio.gather(*tasks)
    for connection in idle:
        connection.close()
    return tally


class Viewer:
    """A duty officer's display: the picture every 250 ms and the websocket stream, in a thread
    with its own event loop so the load generator's loop does not delay what it measures."""

    def __init__(self, server: ServeProcess) -> None:
        self.server = server
        self.picture_latencies: list[float] = []
        self.picture_failures = 0
        self.message_times: list[float] = []
        self.seqs: list[int] = []
        self.stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self) -> None:
        self.stop.set()
        self._thread.join(30)
        assert not self._thread.is_alive()

    async def _main(self) -> None:
        await asyncio.gather(self.poll_picture(), self.watch_stream())

    async def poll_picture(self) -> None:
        connection = Connection(self.server.host, self.server.port)
        while not self.stop.is_set():
            started = time.perf_counter()
            try:
                response = await asyncio.wait_for(
                    connection.request("GET", "/api/v1/situation"), TIMEOUT
                )
                assert response.status == 200, response.status
                json.loads(response.body)
                self.picture_latencies.append(time.perf_counter() - started)
            except (TimeoutError, OSError, asyncio.IncompleteReadError):
                self.picture_failures += 1
            await asyncio.sleep(0.25)
        connection.close()

    async def watch_stream(self) -> None:
        url = f"ws://{self.server.host}:{self.server.port}/api/v1/situation/stream"
        async with connect(url, max_size=None) as ws:
            while not self.stop.is_set():
                try:
                    raw = await asyncio.wait_for(ws.recv(), 1.0)
                except TimeoutError:
                    continue
                message: dict[str, Any] = json.loads(raw)
                self.message_times.append(time.monotonic())
                self.seqs.append(int(message.get("seq", 0)))

    def max_gap(self) -> float:
        times = self.message_times
        return max((b - a for a, b in itertools.pairwise(times)), default=0.0)


async def _logged_ids(database_url: str) -> set[str]:
    db = await Database.connect(database_url)
    try:
        log = await PostgresReportLog.open(db)
        return {r.source_id for r in await log.read(0, 10_000_000)}
    finally:
        await db.close()


async def _wait_caught_up(server: ServeProcess) -> dict[str, Any]:
    connection = Connection(server.host, server.port)
    try:
        for _ in range(600):
            ready: dict[str, Any] = (await connection.request("GET", "/api/v1/readyz")).json()
            if ready.get("offset") == ready.get("log_offset"):
                return ready
            await asyncio.sleep(0.1)
    finally:
        connection.close()
    raise AssertionError("the engine never caught up")


def test_overload_is_shed_with_503_while_viewers_are_served(pg_fresh_url: str) -> None:
    server = ServeProcess(
        pg_fresh_url,
        {"LAGEZENTRUM_HEARTBEAT_SECONDS": "0.5", "LAGEZENTRUM_TICK_SECONDS": "0.5"},
    )
    try:
        asyncio.run(_run(server, pg_fresh_url))
    finally:
        assert server.stop() == 0


async def _run(server: ServeProcess, database_url: str) -> dict[str, Any]:
    await _wait_caught_up(server)
    idle_rss = server.rss_mb()
    await closed_loop(server, "warm", 8, 1.0)  # JIT-free, but pools and caches warm up
    measured = await closed_loop(server, "measure", 16, MEASURE_SECONDS)
    sustained = measured.count(202) / MEASURE_SECONDS
    assert measured.count(202) > 50, measured.statuses
    assert not measured.errors, measured.errors
    await _wait_caught_up(server)
    rss_before = server.rss_mb()

    viewer = Viewer(server)
    viewer.start()
    rss: list[float] = []

    async def sample_rss() -> None:
        while not viewer.stop.is_set():
            rss.append(server.rss_mb())
            await asyncio.sleep(0.25)

    sampler = asyncio.create_task(sample_rss())
    await asyncio.sleep(1.0)  # the viewer's baseline
    baseline = list(viewer.picture_latencies)
    seq_before = viewer.seqs[-1] if viewer.seqs else 0
    started = time.monotonic()
    overload = await open_loop(server, "over", OVERLOAD_FACTOR * sustained, OVERLOAD_SECONDS)
    duration = time.monotonic() - started
    seq_during = viewer.seqs[-1] if viewer.seqs else 0
    viewer.join()
    await sampler
    ready = await _wait_caught_up(server)

    offered = overload.sent / OVERLOAD_SECONDS
    shed = overload.count(503) + overload.count(429)
    during = viewer.picture_latencies[len(baseline) :]
    figures = {
        "sustained_per_s": round(sustained),
        "offered_per_s": round(offered),
        "requests_tried": overload.sent,
        "accepted_202": overload.count(202),
        "shed_503": overload.count(503),
        "shed_429": overload.count(429),
        "other_statuses": {k: v for k, v in overload.statuses.items() if k not in (202, 429, 503)},
        "errors_or_timeouts": overload.errors,
        "goodput_per_s": round(overload.count(202) / duration),
        "post_p50_ms": round(percentile(overload.latencies, 0.5) * 1000),
        "post_p99_ms": round(percentile(overload.latencies, 0.99) * 1000),
        "viewer_get_idle_p50_ms": round(percentile(baseline, 0.5) * 1000),
        "viewer_get_p50_ms": round(percentile(during, 0.5) * 1000),
        "viewer_get_max_ms": round(max(during, default=0) * 1000),
        "viewer_get_failures": viewer.picture_failures,
        "ws_messages": len(viewer.message_times),
        "ws_max_gap_s": round(viewer.max_gap(), 2),
        "rss_idle_mb": round(idle_rss),
        "rss_before_mb": round(rss_before),
        "rss_max_mb": round(max(rss)),
        "log_offset": ready["log_offset"],
    }
    print("overload figures:", json.dumps(figures))
    # the load really was several times what the server sustains, and it was shed, not queued
    assert offered >= 3 * sustained, figures
    assert shed > 0, figures
    assert not overload.errors, figures
    assert set(overload.statuses) <= {202, 429, 503}, figures
    assert overload.retry_after == overload.shed, "every refusal says when to retry"
    assert percentile(overload.latencies, 0.99) < TIMEOUT, figures  # answered, not timed out
    # writers still get through (each refusal still costs ~1 ms of HTTP handling in uvicorn, so
    # goodput drops while senders ignore Retry-After; it must not drop to nothing)
    assert overload.count(202) / duration >= 0.05 * sustained, figures
    assert viewer.picture_failures == 0, figures
    assert len(during) >= OVERLOAD_SECONDS, figures
    assert percentile(during, 0.5) < 1.5, figures
    assert max(during) < 5.0, figures
    assert seq_during > seq_before, "deltas kept flowing to the websocket viewer"
    assert viewer.max_gap() < 3.0, figures
    assert max(rss) < rss_before + 400, figures  # MiB: bounded, whatever the offered load
    # acknowledged = stored; refused = not stored
    logged = await _logged_ids(database_url)
    assert overload.acknowledged <= logged
    assert not (overload.shed & logged)
    assert len(logged) == ready["log_offset"]
    return figures
