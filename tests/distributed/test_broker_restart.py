"""The Kafka broker restarted under load (its own broker on a fixed data directory and port):
every report the publisher acknowledged is on the report topic, retried refusals lose nothing,
no incident is duplicated, and the picture after recovery equals the embedded replay of the
acknowledged reports.

The feeder behaves like an agency's client: a refused batch (``BusUnavailable``, a 503 at the
HTTP edge) is sent again until it is acknowledged. The second part of the scenario is only
sent once the outage has begun, so the restart always falls in the middle of the load.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from correlation.rules import Rules
from ingest.bus.errors import BusUnavailable
from ingest.bus.publisher import KafkaReportLog
from ingest.bus.regions import RegionOf
from ingest.bus.wire import decode_from_bus
from ingest.report import Report
from ops.kafka.broker import KafkaBroker
from ops.kafka.errors import KafkaError
from tests.distributed.conftest import bus_source, converge, essence, scenario, services
from tests.distributed.test_pipeline import assert_same, bus_picture, embedded_picture

BATCH = 5
# The ingest publisher's patience; an HTTP ingest answers 503 after it, and the client retries.
# Shorter than any restart, so every outage refuses some appends.
ACK_TIMEOUT = 2.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture(scope="module")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    """This module's broker: fixed data directory and port, so a restart keeps its address."""
    broker = KafkaBroker(data_dir=tmp_path_factory.mktemp("kafka-restart"), port=_free_port())
    try:
        broker.start()
    except KafkaError as exc:
        pytest.fail(f"the Kafka test broker did not start: {exc}")
    yield broker
    broker.stop()


@dataclass
class Feeder:
    """Appends in small batches; a refused batch is retried until acknowledged. At each index of
    ``pauses`` it waits for the matching event (an outage has begun)."""

    publisher: KafkaReportLog
    reports: tuple[Report, ...]
    pauses: dict[int, asyncio.Event]
    acknowledged: list[Report] = field(default_factory=list)
    refused: set[tuple[str, str, int]] = field(default_factory=set)
    refusals: int = 0

    async def run(self) -> None:
        for start in range(0, len(self.reports), BATCH):
            if start in self.pauses:
                await self.pauses[start].wait()
            chunk = self.reports[start : start + BATCH]
            while True:
                try:
                    appended = await self.publisher.append([(r, b"") for r in chunk])
                except BusUnavailable:
                    self.refusals += 1
                    self.refused.update(r.key for r in chunk)
                    await asyncio.sleep(0.2)  # the client's back-off, as on a 503
                    continue
                assert len(appended) == len(chunk)
                self.acknowledged.extend(chunk)
                break
            await asyncio.sleep(0.01)  # a steady stream, not one burst


async def topic_keys(bootstrap: str, topic: str) -> list[tuple[str, str, int]]:
    """Every report key on ``topic`` (broadcast copies and at-least-once repeats included)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(topic) or await _partitions(consumer, topic)
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends: dict[Any, int] = await consumer.end_offsets(tps)
        keys: list[tuple[str, str, int]] = []
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            batch = await consumer.getmany(timeout_ms=1000)
            for records in batch.values():
                keys += [decode_from_bus(r.value, r.offset).key for r in records]
        return keys
    finally:
        await consumer.stop()


async def _partitions(consumer: Any, topic: str) -> set[int]:
    cluster = await consumer._client.fetch_all_metadata()
    parts: set[int] = cluster.partitions_for_topic(topic) or set()
    assert parts, f"topic {topic} missing"
    return parts


async def restart_broker(broker: KafkaBroker, *, kill: bool) -> float:
    """Stop (SIGTERM, or SIGKILL) and start again on the same directory and port; returns the
    seconds the broker was not serving."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    if kill:
        assert broker.pid is not None
        os.kill(broker.pid, signal.SIGKILL)
    await asyncio.to_thread(broker.stop)
    await asyncio.sleep(1.5)  # the outage itself: nothing to wait for
    await asyncio.to_thread(broker.start)
    return loop.time() - began


async def test_broker_restarts_under_load_lose_and_duplicate_nothing(
    kafka_broker: KafkaBroker,
    bus_url: str,
    workers: Callable[[], subprocess.Popen[bytes]],
) -> None:
    """A clean stop (SIGTERM) after the first third of the load, a SIGKILL after the second."""
    bootstrap = bus_url.removeprefix("kafka://")
    plan = scenario(seed=29, incidents=60)
    reference = essence(await embedded_picture(plan.reports))
    assert len(reference["incidents"]) >= 20  # type: ignore[arg-type]
    workers()
    third = (len(plan.reports) // 3) // BATCH * BATCH
    outages = {third: asyncio.Event(), 2 * third: asyncio.Event()}
    downtime: list[float] = []
    publisher = KafkaReportLog(
        bootstrap, topic="lz.reports.v1", region=RegionOf(Rules.default()), timeout=ACK_TIMEOUT
    )
    await publisher.start()
    async with services("memory://", bus=bus_url) as api:
        feeder = Feeder(publisher, plan.reports, outages)
        feeding = asyncio.create_task(feeder.run())
        loop = asyncio.get_running_loop()
        for (at, outage), kill in zip(outages.items(), (False, True), strict=True):
            deadline = loop.time() + 30
            # The worker must be running before the first outage (it does not retry its start).
            while (
                len(feeder.acknowledged) < at or bus_source(api).records == 0
            ) and loop.time() < deadline:
                assert not feeding.done(), feeding.exception()
                await asyncio.sleep(0.02)
            assert len(feeder.acknowledged) == at
            outage.set()  # the feeder goes on sending while the broker goes down
            downtime.append(await restart_broker(kafka_broker, kill=kill))
        try:
            await asyncio.wait_for(feeding, timeout=60)
        finally:
            await publisher.close()
        assert feeder.acknowledged == list(plan.reports)
        assert feeder.refusals > 0, "the outages must have refused some appends"
        on_topic = await topic_keys(bootstrap, "lz.reports.v1")
        # (1) every acknowledged report persisted, nothing else arrived.
        assert set(on_topic) == {r.key for r in feeder.acknowledged}
        got = await converge(lambda: essence(bus_picture(api)), reference, timeout=60)
        # (3) the picture after recovery is the embedded replay of the same reports.
        assert_same(got, reference)
        # (2) no incident twice: ids unique, every thread in exactly one incident.
        incidents: list[dict[str, Any]] = got["incidents"]  # type: ignore[assignment]
        ids = [i["id"] for i in incidents]
        assert len(ids) == len(set(ids))
        threads = [t for i in incidents for t in i["threads"]]
        assert len(threads) == len(set(threads))
    print(
        json.dumps(
            {
                "faults": ["broker SIGTERM", "broker SIGKILL"],
                "reports_acknowledged": len(feeder.acknowledged),
                "reports_refused_then_retried": len(feeder.refused),
                "refused_appends": feeder.refusals,
                "outage_seconds": [round(d, 1) for d in downtime],
                "records_on_topic": len(on_topic),
                "lost": 0,
            }
        )
    )
