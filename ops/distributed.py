"""The distributed mode's processes: ``lagezentrum ingest | correlate | api | archive`` and
``lagezentrum serve --bus kafka://…`` (all of them on one machine).

- ``ingest``: HTTP ingest (the API app, whose report log publishes to ``lz.reports.v1``), the
  feed pollers of ``LAGEZENTRUM_FEEDS_CONFIG`` publishing there too, and the gate of the
  ``lz.feed.<agency>`` topics; scale it behind a load balancer.
- ``correlate``: a faust-streaming worker (:mod:`ops.workers.correlate`); start N of them, Kafka
  spreads the report partitions over them.
- ``api``: REST + websockets from the picture rebuilt from ``lz.situation.v1``; start N (no
  pollers: a feeds configuration is ignored here).
- ``archive``: reports and changes into PostgreSQL/TimescaleDB (``--database-url``).

Every command first ensures the topics (created if missing, checked if present), waiting for the
brokers as long as ``--broker-wait`` allows (default: as long as it takes, see
:mod:`ops.kafka.wait`).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ops.cli import app, fail
from ops.workers.snapshots import CHUNK_BYTES
from situation_api.settings import Settings, SettingsInvalid, load_settings

if TYPE_CHECKING:
    from ingest.bus.feeds import FeedGate
    from ingest.bus.publisher import KafkaReportLog

BusOption = Annotated[
    str | None, typer.Option(help="kafka://host:port of the brokers [LAGEZENTRUM_BUS]")
]
PartitionsOption = Annotated[
    int, typer.Option(help="partitions of the report and situation topics (fixed once created)")
]
ReplicationOption = Annotated[int, typer.Option(help="replication factor of the topics")]
BrokerWaitOption = Annotated[
    float | None,
    typer.Option(
        envvar="LAGEZENTRUM_BROKER_WAIT",
        min=0,
        help="seconds to wait for the Kafka brokers at start, retrying with backoff"
        " [LAGEZENTRUM_BROKER_WAIT; default: keep trying]",
    ),
]


async def prepare_topics(bootstrap: str, partitions: int, replication: int) -> None:
    from ops.kafka.topics import ensure_topics, lagezentrum_topics
    from ops.workers.correlate import changelog_spec

    await ensure_topics(
        bootstrap,
        [
            *lagezentrum_topics(replication_factor=replication, region_partitions=partitions),
            changelog_spec(partitions, replication),
        ],
    )


async def prepare_topics_patiently(
    bootstrap: str, partitions: int, replication: int, patience: float | None = None
) -> None:
    """:func:`prepare_topics` once the brokers answer (see :mod:`ops.kafka.wait`)."""
    from ops.kafka.wait import wait_for_broker

    await wait_for_broker(
        bootstrap,
        lambda: prepare_topics(bootstrap, partitions, replication),
        what="creating or checking the topics",
        patience=patience,
    )


def worker_command(
    bus: str,
    partitions: int,
    replication: int = 1,
    *,
    parent: int | None = None,
    extra: Sequence[str] = (),
) -> list[str]:
    """The command line of one correlation worker process; with ``parent`` (a pid) the worker
    ends when that process does (see :func:`ops.supervisor.exit_with_parent`)."""
    command = [
        sys.executable,
        "-c",
        "from ops.cli import main; main()",
        "correlate",
        "--bus",
        bus,
        "--partitions",
        str(partitions),
        "--replication",
        str(replication),
        *extra,
    ]
    return command if parent is None else [*command, "--parent", str(parent)]


def start_worker(
    bus: str, partitions: int, replication: int = 1, extra: Sequence[str] = ()
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        worker_command(bus, partitions, replication, extra=extra), start_new_session=True
    )


async def run_distributed(
    settings: Settings,
    *,
    partitions: int,
    replication: int = 1,
    workers: int = 1,
    on_started: Callable[[str], None] | None = None,
    broker_wait: float | None = None,
) -> None:
    """``serve --bus``: topics, N correlation workers (subprocesses), the feed gate, the archive
    (with a database URL) and the API/ingest server, until SIGTERM/SIGINT. Waits for the brokers
    first (``broker_wait`` seconds; None: as long as it takes).

    A worker that exits is started again (:class:`~ops.supervisor.Supervisor`); the workers end
    with serve, even a killed one. A failing archive ends serve with :class:`ServeFailed`: it has
    no supervisor of its own in this process, and serving on without archiving would lose the
    history silently."""
    import uvicorn

    from ingest.bus.url import bootstrap_of
    from ops.archive import Archive
    from ops.kafka.errors import KafkaError
    from ops.kafka.topics import AGENCIES
    from ops.serve import ServeFailed, _announce, server_config
    from ops.supervisor import Supervisor
    from situation_api.app import create_app

    assert settings.bus is not None
    bootstrap = bootstrap_of(settings.bus)
    try:
        await prepare_topics_patiently(bootstrap, partitions, replication, broker_wait)
    except KafkaError as error:
        raise ServeFailed(str(error)) from None
    supervisor = Supervisor(
        worker_command(settings.bus, partitions, replication, parent=os.getpid()), workers
    )
    supervisor.start()
    failures: list[str] = []
    guards: list[asyncio.Task[None]] = []
    archive: Archive | None = None
    try:
        application = create_app(settings, database_url=settings.database_url or "memory://")
        server = uvicorn.Server(server_config(settings, application))

        def guard(what: str, body: Coroutine[Any, Any, None]) -> None:
            """Serving ends when ``body`` fails (or returns, which it must not)."""

            async def watch() -> None:
                try:
                    await body
                    failures.append(f"{what} stopped")
                except Exception as error:
                    failures.append(f"{what} failed: {_one_line(error)}")
                server.should_exit = True

            guards.append(asyncio.create_task(watch(), name=f"serve-guard-{what}"))

        guard("worker supervision", supervisor.run())
        if settings.database_url is not None:
            archive = Archive(bootstrap, settings.database_url)
            try:
                await archive.start()
            except Exception as error:
                raise ServeFailed(f"archive did not start: {_one_line(error)}") from None
            guard("archive", archive.wait(asyncio.Event()))
        gate = await _start_gate(bootstrap, AGENCIES, settings.rules_file)
        watcher = asyncio.create_task(_announce(server, on_started))
        try:
            await server.serve()
        finally:
            watcher.cancel()
            await gate.stop()
        if failures:
            raise ServeFailed(failures[0])
        if not server.started:
            raise ServeFailed("start-up failed: see the log above")
    finally:
        for task in guards:
            task.cancel()
        await asyncio.gather(*guards, return_exceptions=True)
        if archive is not None:
            await archive.stop()
        await supervisor.stop()


def _one_line(error: BaseException) -> str:
    return " ".join(f"{type(error).__name__}: {error}".split())


async def _start_gate(
    bootstrap: str, agencies: tuple[str, ...], rules_file: Path | None = None
) -> _GateHandle:
    """The feed gate with its own publisher (the API's publisher lives in its lifespan), routing
    by the same rules as the HTTP ingest beside it."""
    from correlation.rules import Rules
    from ingest.bus.feeds import FeedGate
    from ingest.bus.publisher import KafkaReportLog
    from ingest.bus.regions import RegionOf
    from ops.kafka.topics import REPORTS_TOPIC

    publisher = KafkaReportLog(
        bootstrap,
        topic=REPORTS_TOPIC,
        region=RegionOf(Rules.load(rules_file) if rules_file else Rules.default()),
        client_id="lz-gate",
    )
    await publisher.start()
    gate = FeedGate(bootstrap, publisher, agencies=agencies)
    await gate.start()
    return _GateHandle(gate, publisher)


class _GateHandle:
    def __init__(self, gate: FeedGate, publisher: KafkaReportLog) -> None:
        self.gate = gate
        self.publisher = publisher

    async def stop(self) -> None:
        await self.gate.stop()
        await self.publisher.close()


def _settings(config: Path | None, **given: object) -> Settings:
    try:
        settings = load_settings(config, **given)
    except SettingsInvalid as error:
        fail(str(error))
    if settings.bus is None:
        fail("no bus configured: pass --bus kafka://host:port or set LAGEZENTRUM_BUS")
    return settings


def _bootstrap(settings: Settings) -> str:
    from ingest.bus.errors import BusURLInvalid
    from ingest.bus.url import bootstrap_of

    assert settings.bus is not None
    try:
        return bootstrap_of(settings.bus)
    except BusURLInvalid as error:
        fail(str(error))


@app.command()
def correlate(
    bus: BusOption = None,
    partitions: PartitionsOption = 6,
    replication: ReplicationOption = 1,
    rules_file: Annotated[Path | None, typer.Option(help="correlation rules (TOML)")] = None,
    config: Annotated[Path | None, typer.Option(help="TOML settings file")] = None,
    broker_wait: BrokerWaitOption = None,
    parent: Annotated[
        int | None, typer.Option(hidden=True, help="pid of the process to end with")
    ] = None,
    snapshot_every: Annotated[
        int, typer.Option(min=1, help="records per partition between engine snapshots")
    ] = 2_000,
    snapshot_chunk_bytes: Annotated[
        int, typer.Option(min=64, max=900_000, hidden=True, help="bytes per snapshot record")
    ] = CHUNK_BYTES,
) -> None:
    """Run one correlation worker (faust-streaming) on the report topic's partitions."""
    from ops.kafka.errors import KafkaError
    from ops.workers.correlate import WorkerConfig
    from ops.workers.faust_app import run_worker
    from situation_api.app import configure_logging

    if parent is not None:
        from ops.supervisor import exit_with_parent

        exit_with_parent(parent)
    settings = _settings(config, bus=bus, rules_file=rules_file)
    # Until faust sets up its own logging: the waiting for the brokers must be visible.
    configure_logging(settings.log_level)
    try:
        asyncio.run(
            prepare_topics_patiently(_bootstrap(settings), partitions, replication, broker_wait)
        )
    except KafkaError as error:
        fail(str(error))
    worker = WorkerConfig(
        bootstrap=_bootstrap(settings),
        partitions=partitions,
        replication_factor=replication,
        rules_file=str(settings.rules_file) if settings.rules_file else None,
        engine=settings.engine,
        snapshot_every=snapshot_every,
        snapshot_chunk_bytes=snapshot_chunk_bytes,
    )
    try:
        run_worker(worker, loglevel=settings.log_level)
    except Exception as error:
        fail(f"correlation worker failed: {type(error).__name__}: {error}")


def _serve_http(
    settings: Settings,
    partitions: int,
    replication: int,
    *,
    gate: bool,
    role: str,
    broker_wait: float | None,
) -> None:
    import uvicorn

    from ops.kafka.topics import AGENCIES
    from ops.serve import ServeFailed, _announce, _quiet_signals, server_config
    from situation_api.app import configure_logging, create_app

    configure_logging(settings.log_level)
    bootstrap = _bootstrap(settings)

    def started(url: str) -> None:
        # The first line on stdout, as with ``serve``: scripts and tests read the port from it.
        typer.echo(f"Lagezentrum {role} serving on {url}")
        sys.stdout.flush()

    async def run() -> None:
        await prepare_topics_patiently(bootstrap, partitions, replication, broker_wait)
        application = create_app(settings, database_url=settings.database_url or "memory://")
        handle = await _start_gate(bootstrap, AGENCIES, settings.rules_file) if gate else None
        server = uvicorn.Server(server_config(settings, application))
        watcher = asyncio.create_task(_announce(server, started))
        try:
            await server.serve()
        except SystemExit:
            raise ServeFailed("start-up failed: see the log above") from None
        finally:
            watcher.cancel()
            if handle is not None:
                await handle.stop()
        if not server.started:
            raise ServeFailed("start-up failed: see the log above")

    try:
        with _quiet_signals():
            asyncio.run(run())
    except KeyboardInterrupt:
        pass
    except Exception as error:
        fail(f"{type(error).__name__}: {error}")


@app.command()
def ingest(
    bus: BusOption = None,
    host: Annotated[str | None, typer.Option(help="interface [127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port [8000]")] = None,
    partitions: PartitionsOption = 6,
    replication: ReplicationOption = 1,
    config: Annotated[Path | None, typer.Option(help="TOML settings file")] = None,
    broker_wait: BrokerWaitOption = None,
) -> None:
    """HTTP ingest publishing to Kafka (acks=all) and the lz.feed.<agency> gate."""
    settings = _settings(config, bus=bus, host=host, port=port)
    _serve_http(
        settings, partitions, replication, gate=True, role="ingest", broker_wait=broker_wait
    )


@app.command()
def api(
    bus: BusOption = None,
    host: Annotated[str | None, typer.Option(help="interface [127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port [8000]")] = None,
    database_url: Annotated[
        str | None, typer.Option(help="postgresql:// URL of the archive (history queries)")
    ] = None,
    partitions: PartitionsOption = 6,
    replication: ReplicationOption = 1,
    config: Annotated[Path | None, typer.Option(help="TOML settings file")] = None,
    broker_wait: BrokerWaitOption = None,
) -> None:
    """REST + websockets from the picture on lz.situation.v1 (rebuilt at start)."""
    settings = _settings(config, bus=bus, host=host, port=port, database_url=database_url)
    # Feeds are polled by the ingest processes; N API instances polling too would fetch N times.
    settings = settings.model_copy(update={"feeds_config": None})
    _serve_http(settings, partitions, replication, gate=False, role="api", broker_wait=broker_wait)


@app.command()
def archive(
    bus: BusOption = None,
    database_url: Annotated[
        str | None, typer.Option(help="postgresql:// URL [LAGEZENTRUM_DATABASE_URL]")
    ] = None,
    partitions: PartitionsOption = 6,
    replication: ReplicationOption = 1,
    config: Annotated[Path | None, typer.Option(help="TOML settings file")] = None,
    broker_wait: BrokerWaitOption = None,
) -> None:
    """Write reports and situation changes from Kafka into PostgreSQL/TimescaleDB."""
    from ops.archive import Archive
    from situation_api.app import configure_logging

    settings = _settings(config, bus=bus, database_url=database_url)
    if settings.database_url is None:
        fail("archive needs --database-url or LAGEZENTRUM_DATABASE_URL")
    configure_logging(settings.log_level)
    bootstrap = _bootstrap(settings)

    async def run() -> None:
        await prepare_topics_patiently(bootstrap, partitions, replication, broker_wait)
        assert settings.database_url is not None
        archive = Archive(bootstrap, settings.database_url)
        await archive.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            await archive.wait(stop)
        finally:
            await archive.stop()

    try:
        asyncio.run(run())
    except Exception as error:
        fail(f"{type(error).__name__}: {error}")
