"""The faust app of the correlation worker: topics, the state table, the agent that feeds the
:class:`~ops.workers.correlate.Correlator`, its clock timer and the consumer positions it may
correct; and :func:`run_worker`, the process's entry point."""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

from ingest.bus.wire import is_action
from ops.kafka.topics import DEADLETTER_TOPIC, REPORTS_TOPIC, SITUATION_TOPIC
from ops.workers.correlate import (
    EXIT_UNEXPECTED,
    TABLE,
    Correlator,
    WorkerConfig,
    changelog_spec,
)

log = logging.getLogger(__name__)


def build_app(config: WorkerConfig) -> tuple[Any, Correlator]:
    """The faust app and the correlator it drives."""
    import faust

    app = faust.App(
        config.app_id,
        broker=[f"kafka://{server}" for server in config.bootstrap.split(",")],
        store="memory://",
        web_enabled=False,  # several workers per machine; metrics come from the API processes
        topic_partitions=config.partitions,
        topic_replication_factor=config.replication_factor,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_linger_ms=1,
        broker_commit_every=1000,
        broker_commit_interval=0.5,
        table_standby_replicas=0,
        # A killed worker's partitions move on after this long without heartbeats.
        broker_session_timeout=8.0,
        broker_heartbeat_interval=1.0,
        processing_guarantee="at_least_once",
    )
    raw: dict[str, Any] = {
        "key_type": bytes,
        "value_type": bytes,
        "key_serializer": "raw",
        "value_serializer": "raw",
    }
    reports = app.topic(REPORTS_TOPIC, partitions=config.partitions, **raw)
    situation = app.topic(SITUATION_TOPIC, partitions=config.partitions, **raw)
    deadletter = app.topic(DEADLETTER_TOPIC, partitions=1, **raw)
    table = app.Table(
        TABLE,
        default=None,
        partitions=config.partitions,
        key_type=bytes,
        value_type=bytes,
    )
    correlator = Correlator(config, table, situation, deadletter, FaustPositions(app))

    @app.agent(reports, name="correlate")
    async def correlate(stream: Any) -> None:
        async for events in stream.take_events(config.batch, within=config.batch_seconds):
            try:
                await correlator.handle(
                    [
                        (m.partition, m.offset, m.value, is_action(m.headers))
                        for m in (e.message for e in events)
                    ]
                )
            except Exception:
                # Leaving the loop would acknowledge the batch (see the module docstring).
                log.critical(
                    "correlating a batch failed; exiting for a clean recovery", exc_info=True
                )
                logging.shutdown()
                os._exit(EXIT_UNEXPECTED)

    @app.timer(interval=config.tick_seconds)  # type: ignore[untyped-decorator]
    async def tick() -> None:
        await correlator.tick()

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]  # faust types it loosely
    async def revoked(sender: Any, *args: Any, signal: Any = None, **kwargs: Any) -> None:
        tps = args[0] if args else kwargs.get("revoked", ())
        correlator.revoke([tp.partition for tp in tps if tp.topic == REPORTS_TOPIC])

    return app, correlator


class FaustPositions:
    """:class:`Positions` over the faust app's consumer."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def ready(self) -> bool:
        app = self.app
        return not app.rebalancing and bool(app.tables.recovery.completed.is_set())

    async def ends(self) -> dict[int, int]:
        consumer = self.app.consumer
        tps = [tp for tp in consumer.assignment() if tp.topic == REPORTS_TOPIC]
        if not tps:
            return {}
        return {tp.partition: offset for tp, offset in (await consumer.highwaters(*tps)).items()}

    async def earliest(self, partition: int) -> int:
        tp = self._tp(partition)
        offsets = await self.app.consumer.earliest_offsets(tp)
        return int(offsets[tp])

    async def seek(self, partition: int, offset: int) -> None:
        await self.app.consumer.seek(self._tp(partition), offset)

    @staticmethod
    def _tp(partition: int) -> Any:
        from faust.types import TP

        return TP(REPORTS_TOPIC, partition)


def run_worker(config: WorkerConfig, *, loglevel: str = "warning") -> None:
    """Run one worker until SIGTERM/SIGINT (blocks; owns the event loop)."""
    from faust import Worker

    from ops.kafka.topics import ensure_topics, lagezentrum_topics

    asyncio.run(
        ensure_topics(
            config.bootstrap,
            [
                *lagezentrum_topics(
                    replication_factor=config.replication_factor,
                    region_partitions=config.partitions,
                ),
                changelog_spec(config.partitions, config.replication_factor, config.app_id),
            ],
        )
    )
    app, _ = build_app(config)
    worker = Worker(app, loglevel=loglevel.upper(), quiet=True)
    worker.execute_from_commandline()
