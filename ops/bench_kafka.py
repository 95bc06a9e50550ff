"""``lagezentrum bench kafka``: what a duty officer sees of the distributed mode — the latency
from the HTTP POST of a report to the websocket delta naming it, with ``--clients`` websocket
clients, on a real Apache Kafka broker.

The processes under test run as in production: ``--topology serve`` starts ``lagezentrum serve
--bus kafka://… --workers N`` (ingest, API, feed gate and archive in one process, N correlation
workers as its children); ``--topology split`` starts ``ingest``, ``api``, ``archive`` and N
``correlate`` processes, the load going to the ingest and the websocket clients to the API. The
load generator and the watchers are ``bench live``'s (open loop, persistent connections).

Access control stays on: tokens need a database, so the bench runs its own PostgreSQL (embedded,
in a temporary directory, unless ``--database-url`` names one), creates an admin token there and
gives the processes that database — which with ``serve`` also runs the archive, as a real
one-host installation with a database does. The per-token rate limit is off (``bench live`` does
the same: the bench is the one runaway sender the limit exists for).

A broker is started in a temporary directory unless ``--bus`` names one. Before the load one
report must come through (the workers are up); then the open-loop load runs. Prints one JSON
object: ``bench live``'s figures plus the topology, the load average before and at the end of
the load, the CPU each process used during it, and what the processes' logs show (worker exits,
lines per level, the first critical ones: a worker in a crash loop must not pass for a slow
one). ``--publisher`` measures the pipeline below HTTP and websockets instead
(:mod:`ops.bench_kafka_publisher`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Final

import typer

from ops.bench_cpu import Machine
from ops.bench_kafka_target import TOPOLOGIES, Target, start_target
from ops.cli import bench_app, fail

MAINZ: Final = (8.2473, 49.9929)


async def create_token(database_url: str) -> str:
    """An admin token in the bench's database: the load passes access control as an agency's
    would (the guard caches a verified token for a few seconds)."""
    from ingest.store import Database
    from situation_api.auth import PostgresTokenStore

    db = await Database.connect(database_url)
    try:
        store = await PostgresTokenStore.open(db)
        _, token = await store.create("admin", [], "bench kafka")
        return token
    finally:
        await db.close()


async def warm_up(target: Target, token: str, timeout: float = 180.0) -> float:
    """POST one report and wait until the API lists it: the workers are up. Returns seconds."""
    import httpx

    from ops.bench_live import _wait_ready

    await _wait_ready(target.ingest_url, timeout)
    await _wait_ready(target.stream_url, timeout)
    source_id = f"bench-kafka-warmup-{os.getpid()}-{time.time_ns()}"
    report = {
        "source": "police",
        "source_id": source_id,
        "category": "accident.traffic",
        "severity": "minor",
        "observed_at": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
        "headline": "bench kafka warm-up",
        "geometry": {"type": "Point", "coordinates": list(MAINZ)},
    }
    began = time.perf_counter()
    auth = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(headers=auth, timeout=30) as http:
        posted = await http.post(f"{target.ingest_url}/api/v1/reports", json=report)
        if posted.status_code != 202:
            raise RuntimeError(f"warm-up report refused: {posted.status_code} {posted.text[:200]}")
        while time.perf_counter() - began < timeout:
            listed = (await http.get(f"{target.stream_url}/api/v1/incidents")).json()
            if any(f"police:{source_id}" in i["threads"] for i in listed.get("incidents", ())):
                return time.perf_counter() - began
            await asyncio.sleep(0.2)
    raise RuntimeError(f"no report came through the workers within {timeout:.0f} s")


def run_live_bench(
    bus: str,
    database_url: str,
    *,
    rate: float,
    duration: float,
    clients: int,
    workers: int = 1,
    partitions: int = 6,
    topology: str = "serve",
    batch: int = 1,
    seed: int = 1,
    drain: float = 30.0,
    logs: Path | None = None,
) -> dict[str, Any]:
    """Start the processes under test (their logs in ``logs``, else a temporary directory), warm
    up, run ``bench live``'s load and watchers on them, stop them; ``bench live``'s result
    extended by the topology, CPU per process during the load, load averages, worker exits and
    the processes' log levels."""
    with contextlib.ExitStack() as temp:
        if logs is None:
            logs = Path(temp.enter_context(tempfile.TemporaryDirectory(prefix="lz-bench-logs-")))
            kept = None
        else:
            logs.mkdir(parents=True, exist_ok=True)
            kept = str(logs)
        result = _measure(
            bus, database_url, logs, rate=rate, duration=duration, clients=clients,
            workers=workers, partitions=partitions, topology=topology, batch=batch, seed=seed,
            drain=drain,
        )  # fmt: skip
    result["logs"] = kept
    return result


def _measure(
    bus: str,
    database_url: str,
    logs: Path,
    *,
    rate: float,
    duration: float,
    clients: int,
    workers: int,
    partitions: int,
    topology: str,
    batch: int,
    seed: int,
    drain: float,
) -> dict[str, Any]:
    from ops.bench_live import run_bench
    from ops.loop import run as run_loop

    load_before = os.getloadavg()
    token = run_loop(create_token(database_url))
    with ExitStack() as stack:
        target = start_target(
            stack, bus, database_url, logs,
            topology=topology, workers=workers, partitions=partitions,
        )  # fmt: skip
        warm = run_loop(warm_up(target, token))
        exits_before = len(target.worker_exits())
        machine = Machine(target.cpu_seconds)

        result = run_loop(
            run_bench(
                target.ingest_url,
                stream_url=target.stream_url,
                rate=rate,
                duration=duration,
                clients=clients,
                seed=seed,
                batch=batch,
                token=token,
                drain=drain,
                phase=machine.sample,
            )
        )
        exits = target.worker_exits()[exits_before:]
    result.update(machine.figures())
    result.update(
        {
            "benchmark": "kafka",
            "topology": topology,
            "processes": target.described,
            "workers": workers,
            "partitions": partitions,
            "stream_url": target.stream_url,
            "auth": "admin token in PostgreSQL (access control on; rate limit off)",
            "archive": True,
            "warmup_s": round(warm, 2),
            "loadavg_before": [round(x, 2) for x in load_before],
            "worker_exits": exits,
            "log_levels": target.log_levels(),
            "log_critical": target.log_problems(),
        }
    )
    return result


@contextlib.contextmanager
def _database(database_url: str | None) -> Iterator[str]:
    if database_url is not None:
        yield database_url
        return
    from ops.embedded_postgres import EmbeddedPostgres

    with tempfile.TemporaryDirectory(prefix="lz-bench-kafka-pg-") as temp:
        server = EmbeddedPostgres(Path(temp) / "postgres")
        url = server.start()
        try:
            yield url
        finally:
            server.stop(immediate=True)


@contextlib.contextmanager
def _broker(bus: str | None) -> Iterator[str]:
    if bus is not None:
        yield bus
        return
    from ops.kafka.broker import KafkaBroker

    with tempfile.TemporaryDirectory(prefix="lz-bench-kafka-") as temp:
        broker = KafkaBroker(data_dir=Path(temp))
        try:
            yield f"kafka://{broker.start()}"
        finally:
            broker.stop()


@bench_app.command("kafka")
def bench_kafka(
    rate: Annotated[float, typer.Option(min=1, help="reports per second (open loop)")] = 1000,
    duration: Annotated[float, typer.Option(min=1, help="seconds of load")] = 15,
    clients: Annotated[int, typer.Option(min=0, help="websocket clients on the stream")] = 200,
    workers: Annotated[int, typer.Option(min=1, help="correlation worker processes")] = 1,
    partitions: Annotated[int, typer.Option(min=1, help="topic partitions")] = 6,
    topology: Annotated[
        str, typer.Option(help="serve: one `serve --bus`; split: ingest, api, archive, correlate")
    ] = "serve",
    batch: Annotated[
        int | None, typer.Option(min=1, help="reports per POST [1; --publisher: 50 per publish]")
    ] = None,
    seed: Annotated[int, typer.Option(help="random seed of the report generator")] = 1,
    bus: Annotated[
        str | None, typer.Option(help="kafka://host:port; default: start a broker in a temp dir")
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(help="postgresql:// URL for tokens and archive; default: embedded, temp dir"),
    ] = None,
    logs: Annotated[
        Path | None, typer.Option(help="keep the processes' logs in this directory")
    ] = None,
    publisher: Annotated[
        bool, typer.Option(help="measure publisher → stream hub instead (no HTTP, no websockets)")
    ] = False,
    reports: Annotated[int, typer.Option(min=10, help="--publisher: reports to publish")] = 5_000,
    pace: Annotated[
        float, typer.Option(min=0, help="--publisher: seconds between batches (0 = flat out)")
    ] = 0,
) -> None:
    """POST → websocket delta latency of the distributed mode on a real broker (prints JSON)."""
    from ops.kafka.errors import KafkaError
    from ops.serve_process import ServeDidNotStart

    if topology not in TOPOLOGIES:
        fail(f"bench kafka: --topology must be one of {', '.join(TOPOLOGIES)}")
    try:
        with _broker(bus) as url:
            if publisher:
                from ops.bench_kafka_publisher import run_publisher_bench

                result = asyncio.run(
                    run_publisher_bench(
                        url,
                        reports=reports,
                        batch=batch or 50,
                        workers=workers,
                        partitions=partitions,
                        pace=pace,
                    )
                )
            else:
                with _database(database_url) as database:
                    result = run_live_bench(
                        url,
                        database,
                        rate=rate,
                        duration=duration,
                        clients=clients,
                        workers=workers,
                        partitions=partitions,
                        topology=topology,
                        batch=batch or 1,
                        seed=seed,
                        logs=logs,
                    )
    except (KafkaError, RuntimeError, OSError, ServeDidNotStart) as error:
        fail(f"bench kafka: {error}")
    typer.echo(json.dumps(result))
