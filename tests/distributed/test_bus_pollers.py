"""Feed pollers in the distributed mode: a feed configured for an ingest instance is polled onto
``lz.reports.v1`` (acks=all) with its health in the feed status, like in the embedded mode."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ops.kafka.topics import REPORTS_TOPIC
from tests.distributed.conftest import PARTITIONS, services
from tests.ingest.pollers.conftest import FeedServer
from tests.ingest.pollers.conftest import feed_server as feed_server  # the fixture, shared


async def _records_on(bootstrap: str, topic: str) -> int:
    from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in range(PARTITIONS)])
        return int(sum(ends.values()))
    finally:
        await consumer.stop()


async def test_an_ingest_instance_polls_its_feeds_onto_the_bus(
    bus_url: str, feed_server: FeedServer, shared_data: Path, tmp_path: Path
) -> None:
    config = feed_server.mowas_config(shared_data, tmp_path)
    bootstrap = bus_url.removeprefix("kafka://")
    before = await _records_on(bootstrap, REPORTS_TOPIC)
    async with services("memory://", bus=bus_url, feeds_config=config) as ingest:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while loop.time() < deadline:
            statuses = await ingest.feeds.list()
            if statuses and statuses[0].last_success is not None:
                break
            await asyncio.sleep(0.1)
        assert await ingest.report_log.last_offset() == 36  # the 36 MoWaS alerts of that morning
        [status] = await ingest.feeds.list()
        assert status.feed == "mowas"
        assert status.items == 36
        assert status.last_success is not None
    # warnings are broadcast: one copy per partition of the report topic
    assert await _records_on(bootstrap, REPORTS_TOPIC) - before == 36 * PARTITIONS
    assert feed_server.hits["/mowas.json"] >= 1
