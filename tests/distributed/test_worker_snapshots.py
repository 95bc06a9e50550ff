"""Engine snapshots of the correlation worker on the real broker: taken every few records and
split into many small records (as a large picture is split under Kafka's 1 MB limit), then a
worker killed with SIGKILL and a new one recovering from snapshot + journal: the picture equals
the embedded one, and the state table holds multi-chunk snapshots."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import Iterator

import pytest

from ops.distributed import start_worker
from ops.workers.correlate import changelog_topic
from tests.distributed.conftest import (
    PARTITIONS,
    bus_source,
    converge,
    essence,
    feed,
    scenario,
    services,
)
from tests.distributed.test_pipeline import assert_same, bus_picture, embedded_picture

OPTIONS = ("--snapshot-every", "12", "--snapshot-chunk-bytes", "2048")


@pytest.fixture
def snapshotting(bus_url: str) -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


async def _table_keys(bootstrap: str) -> list[str]:
    from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(changelog_topic(), p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        keys: list[str] = []
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                keys.extend((r.key or b"").decode() for r in records)
        return keys
    finally:
        await consumer.stop()


async def test_snapshots_in_many_records_survive_a_killed_worker(
    bus_url: str, snapshotting: list[subprocess.Popen[bytes]]
) -> None:
    plan = scenario(seed=31, incidents=40)
    reference = essence(await embedded_picture(plan.reports))
    snapshotting.append(start_worker(bus_url, PARTITIONS, extra=OPTIONS))
    async with services("memory://", bus=bus_url) as api:
        two_thirds = 2 * len(plan.reports) // 3
        await feed(api, plan.reports[:two_thirds])
        source = bus_source(api)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        # far enough in that every partition has snapshotted at least once
        while source.records < two_thirds and loop.time() < deadline:
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        os.killpg(snapshotting[0].pid, signal.SIGKILL)
        snapshotting[0].wait()
        keys = await _table_keys(bus_url.removeprefix("kafka://"))
        manifests = [k for k in keys if k.startswith("snap:")]
        chunks = [k for k in keys if k.startswith("s:")]
        assert manifests, "no snapshot was taken"
        assert any(k.endswith(":00001") for k in chunks), "no snapshot needed a second record"
        await feed(api, plan.reports[two_thirds:])
        snapshotting.append(start_worker(bus_url, PARTITIONS, extra=OPTIONS))
        got = await converge(lambda: essence(bus_picture(api)), reference, timeout=90)
        assert_same(got, reference)
