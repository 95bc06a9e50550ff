"""The FastAPI application of the embedded mode: :func:`create_app` and its lifespan.

The lifespan opens the stores (one PostgreSQL pool shared by the report log, feed status and
history; migrations applied on open), restores the runtime from its latest snapshot and starts
it and the stream hub; shutdown stops accepting, closes the websockets, persists what the
runtime still holds and closes the stores. Routes reach all of it through ``app.state``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Final

from fastapi import Depends, FastAPI, Query, Request, WebSocket

from correlation.engines import factories
from correlation.rules import Rules
from ingest.pollers.config import load_config
from ingest.pollers.poller import serve_feeds
from ingest.report import Report
from ingest.store import (
    Database,
    MemoryFeedStatusStore,
    MemoryReportLog,
    PostgresFeedStatusStore,
    PostgresReportLog,
    StoreUnavailable,
    is_postgres_url,
)
from ingest.store.port import Appended, FeedStatusStore, ReportLog
from situation_api.auth import (
    Authenticator,
    MemoryTokenStore,
    PostgresTokenStore,
    TokenStore,
    require,
    websocket_principal,
    websocket_token,
)
from situation_api.auth.hardening import harden
from situation_api.export_routes import export_router
from situation_api.history import HistoryStore, MemoryHistoryStore, PostgresHistoryStore
from situation_api.ingest_routes import ingest_router
from situation_api.journal import JournalStore, MemoryJournal, PostgresJournal
from situation_api.journal.service import Journal
from situation_api.operator_routes import journal_router, operator_router
from situation_api.problems import install_problem_handlers
from situation_api.reports.schedule import scheduler_for
from situation_api.runtime import Clock, Runtime, RuntimeConfig, wall_clock
from situation_api.services import Services
from situation_api.settings import Settings
from situation_api.shedding import install_load_shedding
from situation_api.situation_routes import health_router, situation_router
from situation_api.stream import open_hub
from situation_api.ui_routes import mount_ui

log = logging.getLogger(__name__)

API_VERSION: Final = "1.0.0"


class _LateLog:
    """The report log as the ingest router sees it: bound when the lifespan has opened it, so the
    app (and its OpenAPI schema) can be built before any database exists."""

    def __init__(self) -> None:
        self.target: ReportLog | None = None

    def _log(self) -> ReportLog:
        if self.target is None:
            raise StoreUnavailable("the report log is not open (starting or stopping)")
        return self.target

    async def append(self, items: Sequence[tuple[Report, bytes]]) -> list[Appended]:
        return await self._log().append(items)

    async def read(self, after: int, limit: int) -> list[Report]:
        return await self._log().read(after, limit)

    async def read_raw(self, offset: int) -> bytes | None:
        return await self._log().read_raw(offset)

    async def last_offset(self) -> int:
        return await self._log().last_offset()

    async def wait_for(self, after: int, timeout: float) -> bool:
        return await self._log().wait_for(after, timeout)

    async def close(self) -> None:
        if self.target is not None:
            await self.target.close()


async def open_services(
    settings: Settings,
    url: str,
    *,
    clock: Clock = wall_clock,
    runtime_config: RuntimeConfig | None = None,
    stack: AsyncExitStack,
) -> Services:
    """Open the stores at ``url`` and start runtime and hub; ``stack`` closes them in reverse."""
    if settings.bus is not None:  # the distributed mode: picture and reports on Kafka
        from situation_api.bus_source import open_bus_services

        services: Services = await open_bus_services(settings, url, stack=stack)
        return services
    report_log: ReportLog
    feeds: FeedStatusStore
    history: HistoryStore
    tokens: TokenStore
    if url.startswith("memory://"):
        report_log, feeds, history = (
            MemoryReportLog(),
            MemoryFeedStatusStore(),
            MemoryHistoryStore(),
        )
        tokens = MemoryTokenStore()
        journal_store: JournalStore = MemoryJournal()
    elif is_postgres_url(url):
        db = await Database.connect(url)
        stack.push_async_callback(db.close)
        report_log = await PostgresReportLog.open(db)
        stack.push_async_callback(report_log.close)
        feeds = await PostgresFeedStatusStore.open(db)
        history = await PostgresHistoryStore.open(db)
        tokens = await PostgresTokenStore.open(db)
        journal_store = await PostgresJournal.open(db)
    else:
        raise StoreUnavailable(f"unsupported database URL {url.partition('://')[0]!r}")
    rules = Rules.load(settings.rules_file) if settings.rules_file else None
    config = runtime_config or RuntimeConfig(
        tick_seconds=settings.tick_seconds,
        snapshot_interval=settings.snapshot_interval,
        snapshot_changes=settings.snapshot_changes,
    )
    journal = Journal(journal_store)
    new_engine, restore_engine = factories(settings.engine, rules)
    runtime = Runtime(
        report_log,
        history,
        engine_factory=new_engine,
        restore=restore_engine,
        clock=clock,
        config=config,
        actions_after=journal.actions_after,
    )
    await journal.start()  # level changes are journaled from the first one on
    stack.push_async_callback(journal.stop)
    runtime.subscribe(journal.publish)
    await runtime.start()
    stack.push_async_callback(runtime.stop)
    hub = await open_hub(runtime, settings, stack)
    if settings.feeds_config is not None:
        await start_pollers(settings.feeds_config, report_log, feeds, stack)
    return Services(
        settings=settings,
        report_log=report_log,
        history=history,
        feeds=feeds,
        runtime=runtime,
        hub=hub,
        tokens=tokens,
        extra={"journal": journal},
    )


async def start_pollers(
    path: Path, report_log: ReportLog, feeds: FeedStatusStore, stack: AsyncExitStack
) -> None:
    """Poll the configured feeds into the log until shutdown; a bad config stops the start."""
    config = load_config(path)
    task = asyncio.create_task(serve_feeds(config, log=report_log, status=feeds), name="pollers")

    async def stop() -> None:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task

    stack.push_async_callback(stop)
    log.info("feed pollers started", extra={"feeds": len(config.feeds)})


def create_app(
    settings: Settings,
    *,
    database_url: str | None = None,
    clock: Clock = wall_clock,
    runtime_config: RuntimeConfig | None = None,
) -> FastAPI:
    """The API on the database at ``database_url`` (else ``settings.database_url``; the caller
    starts an embedded server first when both are None, as ``lagezentrum serve`` does)."""
    url = database_url or settings.database_url
    if url is None:
        raise ValueError("create_app needs a database URL (start the embedded server first)")
    late_log = _LateLog()
    auth = Authenticator(enabled=settings.auth, rate=settings.rate_limit, burst=settings.rate_burst)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            try:
                services = await open_services(
                    settings, url, clock=clock, runtime_config=runtime_config, stack=stack
                )
            except Exception as error:
                # `lagezentrum serve` turns this into its one-line reason.
                app.state.startup_error = f"{type(error).__name__}: {error}"
                raise
            late_log.target = services.report_log
            auth.store = services.tokens
            app.state.services = services
            scheduler = scheduler_for(services, clock=clock)
            if scheduler is not None:
                scheduler.start()
                stack.push_async_callback(scheduler.stop)
            log.info("situation API started", extra={"seq": services.runtime.seq})
            try:
                yield
            finally:
                services.closing = True
                late_log.target = None
                auth.store = None
        log.info("situation API stopped")

    app = FastAPI(
        title="Lagezentrum situation API",
        version=API_VERSION,
        description=(
            "Reports in, live situation picture out (contract 3 of the design): REST under "
            "`/api/v1`, the websocket stream at `/api/v1/situation/stream?since=SEQ`."
        ),
        lifespan=lifespan,
    )
    app.state.services = None
    app.state.auth = auth
    install_problem_handlers(app)
    install_load_shedding(app, max_body_bytes=settings.max_body_bytes)
    harden(
        app,
        tile_url=settings.tile_url,
        cors_origins=settings.cors_origins,
        max_request_bytes=settings.max_request_bytes,
        max_ingest_bytes=settings.max_body_bytes,
    )

    def services_of(request: Request) -> Services:
        services: Services | None = request.app.state.services
        if services is None:
            from situation_api.problems import ProblemError

            raise ProblemError(503, "starting", kind="not-ready", title="Not ready")
        return services

    def maybe_services(request: Request) -> Services | None:
        services: Services | None = request.app.state.services
        return services

    app.include_router(
        ingest_router(late_log, max_body_bytes=settings.max_body_bytes),
        dependencies=[Depends(require("feed"))],
    )
    app.include_router(situation_router(services_of), dependencies=[Depends(require("viewer"))])
    app.include_router(health_router(maybe_services))
    app.include_router(
        operator_router(services_of, clock), dependencies=[Depends(require("operator"))]
    )
    app.include_router(journal_router(services_of), dependencies=[Depends(require("viewer"))])
    app.include_router(export_router(services_of), dependencies=[Depends(require("staff"))])
    mount_ui(app, tile_url=settings.tile_url, tile_attribution=settings.tile_attribution)

    @app.websocket("/api/v1/situation/stream")
    async def situation_stream(
        websocket: WebSocket,
        since: Annotated[
            int | None,
            Query(
                ge=0,
                le=2**63 - 1,
                description="last seq the client has; only later changes are sent",
            ),
        ] = None,
    ) -> None:
        services: Services | None = websocket.app.state.services
        if services is None or services.closing:
            await websocket.close(1013, "starting or stopping")
            return
        if await websocket_principal(websocket, "viewer") is None:
            await websocket.close(1008, "token required (subprotocol bearer.<token>)")
            return
        _, selected = websocket_token(websocket)
        await websocket.accept(subprotocol=selected)
        await services.hub.serve(websocket, since)

    return app


# -- structured logs ------------------------------------------------------------------------------

_STANDARD: Final = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys() | {"message", "asctime"}
)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and any ``extra=`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
