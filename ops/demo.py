"""``lagezentrum demo``: the embedded system plus a scenario simulator feeding it.

The same system as ``lagezentrum serve`` (embedded PostgreSQL, engine, API, display), on a fresh
temporary data directory unless ``--data-dir`` is given; once it listens, a simulator task sends
the flood and storm scenario of :mod:`ops.demo_scenario` through the real HTTP ingest API,
``--speed`` times faster than real time. Runs until Ctrl-C.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import httpx
import msgspec
import typer

from ops.cli import app, fail
from ops.demo_scenario import DemoScript, build_script, render_cap, stamp
from ops.loop import run as run_loop
from ops.serve import ServeFailed, _quiet_signals, run_server
from situation_api.settings import Settings, SettingsInvalid, load_settings

log = logging.getLogger(__name__)
_CAP = "application/cap+xml"


@dataclass
class SimulatorStats:
    reports: int = 0
    warnings: int = 0
    rejected: int = 0
    failures: int = 0
    done: bool = False


async def simulate(
    url: str,
    script: DemoScript,
    *,
    speed: float,
    stats: SimulatorStats | None = None,
    progress: Callable[[float, SimulatorStats], None] | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    token: str | None = None,
) -> SimulatorStats:
    """Send ``script`` to the API at ``url``, each post when its scenario time has come
    (with the feed ``token`` when the API requires one)."""
    stats = stats or SimulatorStats()
    loop = asyncio.get_running_loop()
    started = loop.time()
    sent: dict[str, datetime] = {}
    posts = script.posts
    index = 0
    next_progress = 1800.0
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=url, timeout=30.0, headers=headers) as client:
        while index < len(posts):
            due = started + posts[index].at / speed
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            elapsed = (loop.time() - started) * speed
            batch = []
            while index < len(posts) and posts[index].at <= elapsed:
                batch.append(posts[index])
                index += 1
            now = clock()
            reports = [stamp(p.report, now) for p in batch if p.report is not None]
            for post in batch:
                if post.cap is not None:
                    body = render_cap(post.cap, now, sent)
                    if await _send(client, "/api/v1/reports/cap", body, _CAP, stats):
                        sent[post.cap.identifier] = now
                        stats.warnings += 1
            if reports:
                payload = msgspec.json.encode(reports)
                if await _send(client, "/api/v1/reports", payload, "application/json", stats):
                    stats.reports += len(reports)
            if progress is not None and elapsed >= next_progress:
                progress(elapsed, stats)
                next_progress += 1800.0
    stats.done = True
    if progress is not None:
        progress(script.duration, stats)
    return stats


async def _send(
    client: httpx.AsyncClient, path: str, body: bytes, media: str, stats: SimulatorStats
) -> bool:
    """POST with a few retries (the log answers 503 while it is busy); False if it never took."""
    for attempt in range(5):
        try:
            response = await client.post(path, content=body, headers={"Content-Type": media})
        except httpx.ConnectError:
            break  # the server is gone (stopping): nothing to retry
        except httpx.HTTPError as error:
            log.warning("demo: %s failed: %s", path, error)
        else:
            if response.status_code == 202:
                rejected = response.json().get("rejected") or []
                stats.rejected += len(rejected)
                if rejected:
                    log.warning("demo: %d item(s) rejected: %s", len(rejected), rejected[:1])
                return True
            if response.status_code not in (429, 503):
                log.warning("demo: %s answered %s: %s", path, response.status_code, response.text)
                break
        await asyncio.sleep(0.5 * (attempt + 1))
    stats.failures += 1
    return False


@dataclass
class DemoTokens:
    """Made for this demo run when access control is on: the duty officer's token (printed)
    and the simulator's feed token (every source)."""

    operator: str | None = None
    feed: str | None = None


async def create_demo_tokens(database_url: str, tokens: DemoTokens) -> None:
    from ingest.store import Database
    from situation_api.auth.roles import SOURCES
    from situation_api.auth.tokens import PostgresTokenStore

    db = await Database.connect(database_url, min_size=1, max_size=1)
    try:
        store = await PostgresTokenStore.open(db)
        _, tokens.operator = await store.create("operator", [], "demo duty officer")
        _, tokens.feed = await store.create("feed", list(SOURCES), "demo simulator")
    finally:
        await db.close()


async def run_demo(
    settings: Settings,
    script: DemoScript,
    *,
    speed: float,
    on_started: Callable[[str, str | None], None],
    progress: Callable[[float, SimulatorStats], None] | None = None,
) -> SimulatorStats:
    """The system and the simulator until the server stops (SIGINT/SIGTERM). ``on_started``
    gets the URL and, with access control on, the operator token made for this run."""
    stats = SimulatorStats()
    tokens = DemoTokens()

    async def prepare(url: str) -> None:
        if settings.auth:
            await create_demo_tokens(url, tokens)

    listening: asyncio.Queue[str] = asyncio.Queue()
    simulator: asyncio.Task[SimulatorStats] | None = None

    def started(url: str) -> None:
        listening.put_nowait(url)

    server = asyncio.create_task(run_server(settings, on_started=started, prepare=prepare))
    waiter = asyncio.create_task(listening.get())
    try:
        await asyncio.wait({server, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if waiter.done():
            url = waiter.result()
            on_started(url, tokens.operator)
            simulator = asyncio.create_task(
                simulate(
                    url, script, speed=speed, stats=stats, progress=progress, token=tokens.feed
                )
            )
        await server
    finally:
        waiter.cancel()
        if simulator is not None:
            simulator.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await simulator
    return stats


@app.command()
def demo(
    host: Annotated[str | None, typer.Option(help="interface to listen on [127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port (0 = any free one) [8000]")] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="keep the demo's database here [a fresh temporary directory]"),
    ] = None,
    speed: Annotated[
        float, typer.Option(min=0.1, max=100_000, help="scenario seconds per real second")
    ] = 20.0,
    seed: Annotated[int, typer.Option(help="scenario seed (same seed, same scenario)")] = 1,
    incidents: Annotated[int, typer.Option(min=0, max=20_000, help="incidents to simulate")] = 300,
    config: Annotated[
        Path | None, typer.Option(help="TOML file with settings (keys as LAGEZENTRUM_* names)")
    ] = None,
) -> None:
    """Run the whole system with a simulated flood and storm in Rheinland-Pfalz.

    Police, fire, ambulance and weather reports (real DWD warnings, re-timed) arrive through the
    real ingest API over time; open the printed URL in a browser. Ctrl-C stops it."""
    from situation_api.app import configure_logging

    temporary = None
    if data_dir is None:
        temporary = Path(tempfile.mkdtemp(prefix="lagezentrum-demo-"))
    try:
        settings = load_settings(
            config, host=host, port=port, data_dir=data_dir or temporary, database_url=None
        )
    except SettingsInvalid as error:
        fail(str(error))
    configure_logging("warning" if settings.log_level == "info" else settings.log_level)
    script = build_script(seed, incidents=incidents)
    counts = script.counts()
    minutes = script.duration / speed / 60

    def started(url: str, token: str | None) -> None:
        login = f"#token={token}" if token else ""
        typer.echo(
            f"Lagezentrum demo: open {url}/{login} in a browser "
            f"(wall display: {url}/?kiosk=1{login})"
        )
        if token:
            typer.echo(f"Operator token (API: Authorization: Bearer <token>): {token}")
        typer.echo(
            f"Scenario: flood and storm in Rheinland-Pfalz, seed {seed}: {counts['reports']} "
            f"reports and {counts['warnings']} DWD warnings over {script.duration / 3600:.1f} h "
            f"of scenario time, at {speed:g}x in {minutes:.1f} min. Ctrl-C stops the demo."
        )
        sys.stdout.flush()

    def progress(elapsed: float, stats: SimulatorStats) -> None:
        state = "complete" if stats.done else f"{elapsed / 3600:.1f} h"
        typer.echo(
            f"scenario {state}: {stats.reports} reports, {stats.warnings} warnings sent"
            + (f", {stats.failures} failed" if stats.failures else "")
        )
        sys.stdout.flush()

    try:
        with _quiet_signals():
            run_loop(run_demo(settings, script, speed=speed, on_started=started, progress=progress))
    except ServeFailed as error:
        fail(str(error))
    except KeyboardInterrupt:
        pass
    finally:
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)
