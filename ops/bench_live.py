"""``lagezentrum bench live``: open-loop HTTP load with websocket clients watching the stream.

Reports are POSTed ``--batch`` per request (default one) at a fixed rate (open loop: the
schedule never waits for answers, so a slow server shows up as latency instead of a lower
offered rate) over persistent HTTP/1.1 connections, while ``--clients`` websocket clients read
the situation stream. Prints ONE JSON object: accept latency (POST sent → 202) and POST → delta
latency (POST sent → the delta naming the report's thread arrives, measured on a first, middle
and last client), p50/p99/p99.9, the sustained accept rate and the errors.

Reports come from a set of ``2 × rate`` scenes in Rheinland-Pfalz, so most join an existing
incident (as in a real large event) instead of opening one each; every report is a new thread.
A scene falls quiet after :data:`SCENE_REPORTS` reports and a new one starts elsewhere: the load
stays the same however long it runs. (With scenes that never fell quiet, incidents would gather
threads for the whole run — 60 each after two minutes — and every change would carry an ever
larger view: a longer run would measure a different load, not a longer one.)
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import random
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Final
from urllib.parse import urlsplit

import msgspec
import typer
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from ops.bench_cpu import Machine, server_roles
from ops.bench_drain import Drainer
from ops.cli import bench_app, fail
from ops.loop import run as run_loop
from ops.serve_process import CLI, ServeDidNotStart, spawn_serve

CATEGORIES: Final = ("fire.building", "accident.traffic", "rescue.technical", "medical.emergency")
SOURCES: Final = ("police", "fire", "health")
SEVERITIES: Final = ("minor", "moderate", "severe")
# Rheinland-Pfalz, roughly
LON: Final = (6.2, 8.4)
LAT: Final = (49.1, 50.8)
# reports per scene: 15 s at 1,000/s gave each 7.5 when scenes never fell quiet
SCENE_REPORTS: Final = 8
TOKEN: Final = (*CLI, "token", "create")


def percentiles(samples: list[float]) -> dict[str, float | int | None]:
    if not samples:
        return {"count": 0, "p50": None, "p99": None, "p99_9": None, "max": None}
    ordered = sorted(samples)

    def at(q: float) -> float:
        return round(ordered[min(int(q * len(ordered)), len(ordered) - 1)] * 1000, 2)

    return {
        "count": len(ordered),
        "p50": at(0.50),
        "p99": at(0.99),
        "p99_9": at(0.999),
        "max": round(ordered[-1] * 1000, 2),
    }


class _Conn:
    """One persistent HTTP/1.1 connection; requests on it are strictly sequential."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def post(self, head: bytes, body: bytes) -> int:
        self.writer.write(head + str(len(body)).encode() + b"\r\n\r\n" + body)
        status_line = await self.reader.readuntil(b"\r\n")
        status = int(status_line.split(b" ", 2)[1])
        length = 0
        while True:
            line = await self.reader.readuntil(b"\r\n")
            if line == b"\r\n":
                break
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length:
            await self.reader.readexactly(length)
        return status


@dataclass
class _Stats:
    sent: int = 0
    accepted: int = 0
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)
    accept: list[float] = field(default_factory=list)
    schedule_lag: list[float] = field(default_factory=list)
    sent_at: dict[str, float] = field(default_factory=dict)
    pending: list[dict[str, float]] = field(default_factory=list)  # per measuring client
    delta: list[float] = field(default_factory=list)
    frames: int = 0
    snapshots: int = 0
    stale_retries: int = 0

    def error(self, kind: str) -> None:
        self.errors += 1
        self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1


class _Load:
    def __init__(
        self,
        url: str,
        rate: float,
        duration: float,
        stats: _Stats,
        seed: int,
        *,
        batch: int = 1,
        token: str | None = None,
    ) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.rate, self.duration, self.stats, self.batch = rate, duration, stats, batch
        self.random = random.Random(seed)
        self.run = f"{os.getpid()}-{int(time.time())}"
        self.idle: list[_Conn] = []
        self.scenes = [self._scene() for _ in range(max(int(rate * 2), 50))]
        self.scene_reports = [0] * len(self.scenes)
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        self.head = (
            f"POST /api/v1/reports HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{auth}"
            "Content-Type: application/json\r\nContent-Length: "
        ).encode()
        self.encoder = msgspec.json.Encoder()

    def _scene(self) -> tuple[float, float]:
        return self.random.uniform(*LON), self.random.uniform(*LAT)

    def report(self, index: int) -> tuple[str, dict[str, Any]]:
        scene = self.random.randrange(len(self.scenes))
        lon, lat = self.scenes[scene]
        self.scene_reports[scene] += 1
        if self.scene_reports[scene] == SCENE_REPORTS:  # quiet from now on; a new one elsewhere
            self.scenes[scene], self.scene_reports[scene] = self._scene(), 0
        source = SOURCES[index % len(SOURCES)]
        source_id = f"bench-{self.run}-{index}"
        body = {
            "source": source,
            "source_id": source_id,
            "category": CATEGORIES[index % len(CATEGORIES)],
            "severity": SEVERITIES[index % len(SEVERITIES)],
            "observed_at": datetime.now(UTC).isoformat(),
            "geometry": {
                "type": "Point",
                "coordinates": [
                    round(lon + self.random.uniform(-0.0005, 0.0005), 6),
                    round(lat + self.random.uniform(-0.0005, 0.0005), 6),
                ],
            },
            "headline": f"bench report {index}",
            "metrics": {"injured": index % 3},
        }
        return f"{source}:{source_id}", body

    async def _conn(self) -> _Conn:
        if self.idle:
            return self.idle.pop()
        return await self._fresh()

    async def _fresh(self) -> _Conn:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        return _Conn(reader, writer)

    async def one(self, index: int, scheduled: float) -> None:
        items = [self.report(index * self.batch + k) for k in range(self.batch)]
        threads = [thread for thread, _ in items]
        bodies = [body for _, body in items]
        body = self.encoder.encode(bodies[0] if self.batch == 1 else bodies)
        stats = self.stats
        reused = bool(self.idle)
        try:
            conn = await self._conn()
        except OSError as error:
            stats.error(type(error).__name__)
            return
        started = time.perf_counter()
        stats.schedule_lag.append(started - scheduled)
        stats.sent += self.batch
        for thread in threads:
            stats.sent_at[thread] = started
            for pending in stats.pending:
                pending[thread] = started
        while True:
            try:
                status = await conn.post(self.head, body)
                break
            except (OSError, asyncio.IncompleteReadError, ValueError) as error:
                conn.writer.close()
                if not (reused and _unanswered(error)):
                    stats.error(type(error).__name__)
                    return
            # The server closed the idle keep-alive connection (uvicorn: after 5 s) before this
            # request reached it; an HTTP client sends it again on a new one, and so do we.
            stats.stale_retries += 1
            reused = False
            try:
                conn = await self._fresh()
            except OSError as error:
                stats.error(type(error).__name__)
                return
        self.idle.append(conn)
        if status == 202:
            stats.accepted += self.batch
            stats.accept.append(time.perf_counter() - started)
        else:
            stats.error(f"http_{status}")
            # refused, so stored nothing: no delta will name it, and none is missing
            for thread in threads:
                for pending in stats.pending:
                    pending.pop(thread, None)

    async def drive(self) -> float:
        tasks: set[asyncio.Task[None]] = set()
        start = time.perf_counter()
        requests_per_s = self.rate / self.batch
        total = int(requests_per_s * self.duration)
        for index in range(total):
            scheduled = start + index / requests_per_s
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(self.one(index, scheduled))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(tasks, timeout=30)
        elapsed = time.perf_counter() - start
        for conn in self.idle:
            conn.writer.close()
        return elapsed


def _unanswered(error: Exception) -> bool:
    """The connection was gone before any byte of an answer came back."""
    if isinstance(error, asyncio.IncompleteReadError):
        return not error.partial
    return isinstance(error, (ConnectionResetError, BrokenPipeError))


_delta_decoder: Final = msgspec.json.Decoder()


async def _watch(ws: ClientConnection, stats: _Stats, pending: dict[str, float]) -> None:
    with contextlib.suppress(Exception):
        while True:
            frame = await ws.recv(decode=False)
            stats.frames += 1
            now = time.perf_counter()
            message = _delta_decoder.decode(frame)
            if message.get("type") == "snapshot":
                stats.snapshots += 1
                continue
            for change in message.get("changes", ()):
                view = change.get("view") or {}
                for thread in view.get("threads", ()):
                    sent = pending.pop(thread, None)
                    if sent is not None:
                        stats.delta.append(now - sent)


def _create_token(data_dir: Path) -> str:
    """An admin token for the benchmark's own installation: the load goes through access
    control exactly as an agency's would."""
    done = subprocess.run(
        [*TOKEN, "--role", "admin", "--name", "bench live", "--data-dir", str(data_dir)],
        capture_output=True, text=True, check=False, timeout=180,
    )  # fmt: skip
    if done.returncode != 0 or not done.stdout.strip():
        raise RuntimeError(f"token create failed: {done.stderr.strip()[-300:]}")
    return done.stdout.strip()


def _start_server(data_dir: Path) -> tuple[subprocess.Popen[str], str]:
    # The per-token rate limit protects a real installation from one runaway sender; the
    # benchmark is that one sender on purpose, so its own server runs without it.
    env = {**os.environ, "LAGEZENTRUM_RATE_LIMIT": "0"}
    return spawn_serve(["--port", "0", "--data-dir", str(data_dir)], env=env, timeout=180)


async def _wait_ready(url: str, timeout: float = 120.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=url) as client:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get("/api/v1/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} did not become ready")


async def run_bench(
    url: str,
    *,
    rate: float,
    duration: float,
    clients: int,
    seed: int = 1,
    batch: int = 1,
    token: str | None = None,
    stream_url: str | None = None,
    drain: float = 1.0,
    phase: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Load on ``url`` with the websocket clients on ``stream_url`` (default: ``url``), waiting
    up to ``drain`` seconds after the load for the last deltas. ``phase`` hears ``"load"`` when
    the load begins (the clients are connected) and ``"loaded"`` when it ends."""
    await _wait_ready(url)
    if stream_url is not None:
        await _wait_ready(stream_url)
    stats = _Stats()
    ws_url = (stream_url or url).replace("http://", "ws://", 1) + "/api/v1/situation/stream"
    subprotocols = ["lagezentrum", f"bearer.{token}"] if token else []
    measuring = sorted({0, clients // 2, max(clients - 1, 0)}) if clients else []
    sockets: list[ClientConnection] = []
    drainers: list[Drainer] = []
    watchers: list[asyncio.Task[None]] = []
    target = urlsplit(ws_url)
    for index in range(clients):
        if index not in measuring:  # the network load of a display (see ops.bench_drain)
            drainer = await Drainer.open(
                target.hostname or "127.0.0.1", target.port or 80, target.path, subprotocols
            )
            drainers.append(drainer)
            watchers.append(asyncio.create_task(drainer.run()))
            continue
        ws = await connect(
            ws_url,
            compression="deflate",  # as browsers do
            max_size=None,
            open_timeout=30,
            subprotocols=[Subprotocol(p) for p in subprotocols] or None,
        )
        sockets.append(ws)
        pending: dict[str, float] = {}
        stats.pending.append(pending)
        watchers.append(asyncio.create_task(_watch(ws, stats, pending)))
    load = _Load(url, rate, duration, stats, seed, batch=batch, token=token)
    # 200 clients make a large heap whose full collections would pause this process and count
    # as latency: exempt what exists now (the process ends with the benchmark).
    gc.collect()
    gc.freeze()
    if phase is not None:
        phase("load")
    elapsed = await load.drive()
    if phase is not None:
        phase("loaded")
    settled = time.perf_counter() + drain
    while any(stats.pending) and time.perf_counter() < settled:  # the last deltas
        await asyncio.sleep(0.05)
    missing = sum(len(p) for p in stats.pending)
    for task in watchers:
        task.cancel()
    for ws in sockets:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(), 2)
    for drainer in drainers:
        await drainer.close()
    drained = [d.drained for d in drainers]
    return {
        "benchmark": "live",
        "url": url,
        "rate_target": rate,
        "duration_s": round(elapsed, 2),
        "clients": clients,
        "reports_per_request": batch,
        "sent": stats.sent,
        "accepted": stats.accepted,
        "errors": stats.errors,
        "error_kinds": stats.error_kinds,
        "stale_connection_retries": stats.stale_retries,
        "sustained_rate": round(stats.accepted / elapsed, 1) if elapsed else 0.0,
        "accept_latency_ms": percentiles(stats.accept),
        "post_to_delta_ms": percentiles(stats.delta),
        "post_to_delta_clients": len(measuring),
        "deltas_missing": missing,
        "send_schedule_lag_ms": percentiles(stats.schedule_lag),
        "stream_messages_measuring": stats.frames,
        "stream_snapshots_measuring": stats.snapshots,
        "stream_messages_drained": sum(d.messages for d in drained),
        "stream_payload_bytes_drained": sum(d.payload_bytes for d in drained),
        "cpus": os.cpu_count(),
    }


@bench_app.command("live")
def bench_live(
    rate: Annotated[float, typer.Option(min=1, help="reports per second (open loop)")] = 1000,
    duration: Annotated[float, typer.Option(min=1, help="seconds of load")] = 30,
    clients: Annotated[int, typer.Option(min=0, help="websocket clients on the stream")] = 200,
    url: Annotated[
        str | None, typer.Option(help="a running server; default: start one on a temp data dir")
    ] = None,
    seed: Annotated[int, typer.Option(help="random seed of the report generator")] = 1,
    batch: Annotated[int, typer.Option(min=1, help="reports per POST (a JSON array)")] = 1,
    token: Annotated[
        str | None,
        typer.Option(envvar="LAGEZENTRUM_TOKEN", help="token for --url (feed or admin role)"),
    ] = None,
) -> None:
    """Live system benchmark: POST rate with websocket clients; prints one JSON object."""
    process: subprocess.Popen[str] | None = None
    temp: tempfile.TemporaryDirectory[str] | None = None
    try:
        if url is None:
            temp = tempfile.TemporaryDirectory(prefix="lz-bench-")
            data_dir = Path(temp.name) / "data"
            token = _create_token(data_dir)
            process, url = _start_server(data_dir)
        machine = Machine(
            server_roles(process.pid, str(Path(temp.name) / "data" / "postgres"))
            if process is not None and temp is not None
            else None
        )
        result = run_loop(
            run_bench(
                url,
                rate=rate,
                duration=duration,
                clients=clients,
                seed=seed,
                batch=batch,
                token=token,
                phase=machine.sample,
            )
        )
        result.update(machine.figures())
    except (RuntimeError, OSError, ServeDidNotStart) as error:
        fail(f"bench live: {error}")
    finally:
        if process is not None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
        if temp is not None:
            temp.cleanup()
    typer.echo(json.dumps(result))
