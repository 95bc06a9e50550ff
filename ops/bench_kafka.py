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
object: ``bench live``'s figures plus the topology, the load average before and after, and the
CPU each process used. ``--publisher`` measures the pipeline below HTTP and websockets instead
(:mod:`ops.bench_kafka_publisher`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Annotated, Any, Final

import typer

from ops.cli import bench_app, fail

TOPOLOGIES: Final = ("serve", "split")
MAINZ: Final = (8.2473, 49.9929)
_TICKS: Final = os.sysconf("SC_CLK_TCK")


@dataclass
class Target:
    """The processes under test: POSTs go to ``ingest_url``, websockets to ``stream_url``."""

    ingest_url: str
    stream_url: str
    roles: dict[str, list[int]] = field(default_factory=dict)  # role → pids, for the CPU figures
    described: list[str] = field(default_factory=list)


def _stop(process: subprocess.Popen[Any], timeout: float = 60.0) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _drain(stream: IO[str] | None) -> None:
    """Keep reading a child's stdout after its announcement: a full pipe would stall it."""
    if stream is not None:
        threading.Thread(target=stream.read, daemon=True).start()


def _announcing(
    stack: ExitStack, command: str, args: list[str], env: dict[str, str]
) -> tuple[subprocess.Popen[str], str]:
    from ops.serve_process import spawn_serve

    process, url = spawn_serve(args, env=env, timeout=180, command=command)
    stack.callback(_stop, process)
    _drain(process.stdout)
    return process, url


def start_target(
    stack: ExitStack,
    bus: str,
    database_url: str,
    *,
    topology: str,
    workers: int,
    partitions: int,
) -> Target:
    """Start the processes under test; ``stack`` stops them. Call it on a thread that outlives
    them (the main thread): the split topology's workers end with the thread that started them
    (see :func:`ops.supervisor.exit_with_parent`)."""
    from ops.distributed import worker_command
    from ops.serve_process import CLI

    # Only the bench's own settings reach the processes, not an ambient installation's.
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAGEZENTRUM_")}
    env["LAGEZENTRUM_RATE_LIMIT"] = "0"
    common = ["--bus", bus, "--partitions", str(partitions)]
    if topology == "serve":
        serve, url = _announcing(
            stack,
            "serve",
            [*common, "--port", "0", "--workers", str(workers), "--database-url", database_url],
            env,
        )
        return Target(
            url,
            url,
            {"serve": [serve.pid], "workers": _children(serve.pid)},
            [f"serve --bus --workers {workers} (ingest, API, feed gate, archive)"],
        )
    if topology != "split":
        raise ValueError(f"topology must be one of {', '.join(TOPOLOGIES)}, not {topology!r}")
    pids: list[int] = []
    for _ in range(workers):
        worker = _quiet(stack, worker_command(bus, partitions, parent=os.getpid()), env)
        pids.append(worker.pid)
    archive = _quiet(stack, [*CLI, "archive", *common, "--database-url", database_url], env)
    ingest, ingest_url = _announcing(
        stack, "ingest", [*common, "--port", "0"], {**env, "LAGEZENTRUM_DATABASE_URL": database_url}
    )
    api, api_url = _announcing(
        stack, "api", [*common, "--port", "0", "--database-url", database_url], env
    )
    return Target(
        ingest_url,
        api_url,
        {"ingest": [ingest.pid], "api": [api.pid], "archive": [archive.pid], "workers": pids},
        ["ingest (HTTP + feed gate)", "api (websockets)", "archive", f"correlate ×{workers}"],
    )


def _quiet(stack: ExitStack, command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )
    stack.callback(_stop, process)
    return process


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = (entry / "stat").read_text()
                if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (0 once it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


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
) -> dict[str, Any]:
    """Start the processes under test, warm up, run ``bench live``'s load and watchers on them,
    stop them; ``bench live``'s result extended by the topology, load averages and CPU."""
    from ops.bench_live import run_bench
    from ops.loop import run as run_loop

    load_before = os.getloadavg()
    token = run_loop(create_token(database_url))
    with ExitStack() as stack:
        target = start_target(
            stack, bus, database_url, topology=topology, workers=workers, partitions=partitions
        )
        warm = run_loop(warm_up(target, token))
        if topology == "serve":  # a worker restarted meanwhile has another pid
            target.roles["workers"] = _children(target.roles["serve"][0])
        samples: dict[str, tuple[float, dict[str, float], tuple[float, ...]]] = {}

        def sample(phase: str) -> None:
            cpu = {role: sum(map(_cpu_seconds, pids)) for role, pids in target.roles.items()}
            cpu["bench (load + websocket clients)"] = _own_cpu_seconds()
            samples[phase] = (time.perf_counter(), cpu, os.getloadavg())

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
                phase=sample,
            )
        )
        (began, before, _), (ended, after, load_after) = samples["load"], samples["loaded"]
        window = ended - began
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
            "cpu_window_s": round(window, 2),
            # CPU while the load ran, in % of one core (the machine has os.cpu_count())
            "cpu_percent": {
                role: round(100 * (after[role] - before[role]) / window, 1) for role in before
            },
            "loadavg_before": [round(x, 2) for x in load_before],
            "loadavg_at_end_of_load": [round(x, 2) for x in load_after],
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
                    )
    except (KafkaError, RuntimeError, OSError, ServeDidNotStart) as error:
        fail(f"bench kafka: {error}")
    typer.echo(json.dumps(result))
