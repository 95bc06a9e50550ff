"""``lagezentrum serve``: the whole system in one process on the embedded default.

Starts the embedded PostgreSQL (unless a database URL is configured), then uvicorn with the
situation API, whose lifespan applies migrations and runs the engine. SIGTERM/SIGINT shut down
gracefully: websockets closed, the runtime's last changes and a snapshot persisted, PostgreSQL
stopped. Any failure exits non-zero with a one-line reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn

from ops.cli import app, fail
from ops.loop import run as run_loop
from ops.loop import settle_heap
from situation_api.broadcast import BroadcastWebSocketProtocol
from situation_api.settings import Settings, SettingsInvalid, load_settings


class ServeFailed(RuntimeError):
    """The server could not start or died; the message is the one-line reason."""


def server_config(settings: Settings, application: object) -> uvicorn.Config:
    return uvicorn.Config(
        application,  # type: ignore[arg-type]
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        lifespan="on",
        # The stream writes each delta's frame once for all clients, compressed once too (the
        # protocol negotiates per-message deflate itself; uvicorn's per-client one stays off).
        ws=BroadcastWebSocketProtocol,
        ws_per_message_deflate=False,
        ws_ping_interval=20.0,
        ws_ping_timeout=20.0,
        timeout_graceful_shutdown=5,
        limit_concurrency=4096,
        backlog=2048,
    )


async def run_server(
    settings: Settings,
    *,
    on_started: Callable[[str], None] | None = None,
    prepare: Callable[[str], Awaitable[None]] | None = None,
) -> None:
    """Run until SIGTERM/SIGINT (or ``should_exit``); raise :class:`ServeFailed` on failure.
    ``prepare`` gets the database URL before the API starts (the demo creates its tokens)."""
    from ops.embedded_postgres import EmbeddedPostgres, EmbeddedPostgresError
    from situation_api.app import create_app

    embedded: EmbeddedPostgres | None = None
    url = settings.database_url
    if url is None:
        embedded = EmbeddedPostgres(settings.data_dir / "postgres")
        try:
            url = await asyncio.to_thread(embedded.start)
        except (EmbeddedPostgresError, OSError) as error:
            raise ServeFailed(f"embedded PostgreSQL did not start: {error}") from None
    try:
        if prepare is not None:
            await prepare(url)
        application = create_app(settings, database_url=url)
        server = uvicorn.Server(server_config(settings, application))
        watcher = asyncio.create_task(_announce(server, on_started))
        try:
            await server.serve()
        except SystemExit:
            raise ServeFailed(_startup_failure(application)) from None
        finally:
            watcher.cancel()
        if not server.started:
            raise ServeFailed(_startup_failure(application))
    finally:
        if embedded is not None:
            with contextlib.suppress(EmbeddedPostgresError):
                await asyncio.to_thread(embedded.stop)


def _startup_failure(application: Any) -> str:
    reason = getattr(application.state, "startup_error", None)
    return f"start-up failed: {reason or 'see the log above'}"


async def _announce(server: uvicorn.Server, on_started: Callable[[str], None] | None) -> None:
    while not server.started:
        await asyncio.sleep(0.05)
    host, port = server.config.host, server.config.port
    for listener in server.servers:
        for sock in listener.sockets:
            host, port = sock.getsockname()[:2]
            break
    url = f"http://{host}:{port}"
    settle_heap()  # start-up is over: what it left need not be walked by the collector again
    if on_started is not None:
        on_started(url)


@contextlib.contextmanager
def _quiet_signals() -> Iterator[None]:
    """uvicorn re-raises the signal it shut down for; with the default SIGTERM action that would
    kill us before PostgreSQL is stopped. Handlers that do nothing make the re-raise harmless
    (uvicorn installs its own while serving)."""
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="interface to listen on [127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port (0 = any free one) [8000]")] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="where the embedded PostgreSQL keeps its data [user data dir]"),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(help="postgresql:// URL of an external server (no embedded server then)"),
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="TOML file with settings (keys as LAGEZENTRUM_* names)")
    ] = None,
    bus: Annotated[
        str | None,
        typer.Option(help="kafka://host:port: run the distributed mode's processes together"),
    ] = None,
    workers: Annotated[int, typer.Option(help="correlation workers with --bus")] = 1,
    partitions: Annotated[int, typer.Option(help="topic partitions with --bus")] = 6,
) -> None:
    """Run the situation centre: ingest, engine, REST + websocket API, on one machine.

    Every option also reads LAGEZENTRUM_HOST, _PORT, _DATA_DIR, _DATABASE_URL (and more from
    --config)."""
    from situation_api.app import configure_logging

    try:
        settings = load_settings(
            config, host=host, port=port, data_dir=data_dir, database_url=database_url, bus=bus
        )
    except SettingsInvalid as error:
        fail(str(error))
    configure_logging(settings.log_level)

    def started(url: str) -> None:
        typer.echo(f"Lagezentrum serving on {url} (API docs: {url}/docs)")
        sys.stdout.flush()

    if settings.bus is not None:
        from ops.distributed import run_distributed

        main = run_distributed(settings, partitions=partitions, workers=workers, on_started=started)
    else:
        main = run_server(settings, on_started=started)
    try:
        with _quiet_signals():
            run_loop(main)
    except ServeFailed as error:
        fail(str(error))
    except KeyboardInterrupt:
        pass
