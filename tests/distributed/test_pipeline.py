"""The distributed mode end to end on a real Kafka broker: the same log gives the embedded
picture, and two API instances serve identical pictures and streams."""

from __future__ import annotations

import asyncio
import functools
import json
import subprocess
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from ingest.report import Report
from situation_api.services import Services
from tests.distributed.conftest import bus_source, converge, essence, feed, scenario, services

_json = msgspec.json.Decoder()


async def embedded_picture(reports: Sequence[Report]) -> dict[str, object]:
    async with services("memory://") as embedded:
        await feed(embedded, tuple(reports))
        runtime = embedded.runtime
        assert await runtime.wait_processed(len(reports), timeout=30)
        await asyncio.sleep(0.5)  # a tick: the timers the clock passed have fired
        picture: dict[str, object] = _json.decode(runtime.picture_json())
        return picture


def assert_same(got: dict[str, object], want: dict[str, object]) -> None:
    """Equal, or a failure that names the first differing entity and fields."""
    for layer in ("incidents", "warnings"):
        have = {v["id"]: v for v in got[layer]}  # type: ignore[attr-defined]
        need = {v["id"]: v for v in want[layer]}  # type: ignore[attr-defined]
        assert sorted(have) == sorted(need), layer
        for ident, view in need.items():
            diff = {k: (have[ident].get(k), v) for k, v in view.items() if have[ident].get(k) != v}
            assert not diff, f"{layer} {ident}: {diff}"
    assert got == want


def picture_essence(api: Services) -> dict[str, object]:
    return essence(bus_picture(api))


def bus_picture(api: Services) -> dict[str, object]:
    picture: dict[str, object] = _json.decode(api.runtime.picture_json())
    return picture


def entity_histories(stream: Sequence[tuple[int, bytes]]) -> dict[tuple[str, str], list[object]]:
    """Per entity, the views a stream sent, in order (None: removed)."""
    histories: dict[tuple[str, str], list[object]] = {}
    for _, encoded in stream:
        change = _json.decode(encoded)
        histories.setdefault((change["entity"], change["id"]), []).append(change["view"])
    return histories


async def test_same_log_same_picture_and_two_apis_agree(
    bus_url: str, workers: Callable[[], subprocess.Popen[bytes]]
) -> None:
    """Two API instances running side by side stream every entity through the same states in
    the same order and end with the same picture and seq; a third started afterwards rebuilds
    that picture from the compacted topic. (Across partitions the two streams may interleave
    differently: Kafka orders records per partition only.)"""
    plan = scenario(seed=11)
    reference = essence(await embedded_picture(plan.reports))
    assert len(reference["incidents"]) >= 10  # type: ignore[arg-type]
    assert reference["warnings"], "the scenario's warnings must be live"
    workers()
    streamed: list[list[tuple[int, bytes]]] = [[], [], []]
    async with (
        services("memory://", bus=bus_url) as first,
        services("memory://", bus=bus_url) as second,
    ):
        bus_source(first).subscribe(streamed[0].extend)
        bus_source(second).subscribe(streamed[1].extend)
        await feed(first, plan.reports)
        for api in (first, second):
            got = await converge(functools.partial(picture_essence, api), reference, timeout=60)
            assert_same(got, reference)
        await bus_source(first).wait_seq(second.runtime.seq, 10)
        await bus_source(second).wait_seq(first.runtime.seq, 10)
        assert first.runtime.seq == second.runtime.seq
        assert first.runtime.picture_json() == second.runtime.picture_json()
        histories = [entity_histories(stream) for stream in streamed[:2]]
        assert histories[0] == histories[1]
        assert {k for k, views in histories[0].items() if k[0] == "incident" and views[-1]} == {
            ("incident", i["id"])
            for i in reference["incidents"]  # type: ignore[attr-defined]
        }
        # A third instance started later rebuilds the same picture from the compacted topic; what
        # it streams from then on is the tail of what the others streamed.
        async with services("memory://", bus=bus_url) as late:
            bus_source(late).subscribe(streamed[2].extend)
            again = await converge(lambda: essence(bus_picture(late)), reference, timeout=30)
            assert_same(again, reference)
            await bus_source(late).wait_seq(first.runtime.seq, 10)
            assert late.runtime.seq == first.runtime.seq
            assert late.runtime.picture_json() == first.runtime.picture_json()
            for key, views in entity_histories(streamed[2]).items():
                assert views == histories[0][key][-len(views) :], key


async def test_plain_kafka_client_on_feed_topic_reaches_the_map(
    bus_url: str, workers: Callable[[], subprocess.Popen[bytes]]
) -> None:
    """A record produced by a plain Kafka client to lz.feed.police is on the picture; invalid
    records land on the dead-letter topic with field and reason."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # type: ignore[import-untyped]

    from correlation.rules import Rules
    from ingest.bus.feeds import FeedGate
    from ingest.bus.publisher import KafkaReportLog
    from ingest.bus.regions import RegionOf

    bootstrap = bus_url.removeprefix("kafka://")
    observed = (datetime.now(UTC) - timedelta(minutes=3)).isoformat()
    valid = {
        "source": "police",
        "source_id": "PP-MZ-feed-1",
        "category": "accident.traffic",
        "severity": "severe",
        "observed_at": observed,
        "headline": "Verkehrsunfall A60",
        "geometry": {"type": "Point", "coordinates": [8.2473, 49.9929]},
    }
    wrong_source = {**valid, "source": "fire", "source_id": "BF-1"}
    no_category = {k: v for k, v in valid.items() if k != "category"}
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for value in (
            json.dumps(valid).encode(),
            b"{not json",
            json.dumps(wrong_source).encode(),
            json.dumps(no_category).encode(),
        ):
            await producer.send_and_wait("lz.feed.police", value)
    finally:
        await producer.stop()
    workers()
    publisher = KafkaReportLog(bootstrap, topic="lz.reports.v1", region=RegionOf(Rules.default()))
    await publisher.start()
    gate = FeedGate(bootstrap, publisher, agencies=("police", "fire"))
    await gate.start()
    try:
        async with services("memory://", bus=bus_url) as api:

            def titles() -> dict[str, object]:
                found = [i["title"] for i in bus_picture(api)["incidents"]]  # type: ignore[attr-defined]
                return {"found": "Verkehrsunfall A60" in found}

            assert await converge(titles, {"found": True}, timeout=40) == {"found": True}
        assert gate.accepted == 1
        assert gate.rejected == 3
    finally:
        await gate.stop()
        await publisher.close()
    consumer = AIOKafkaConsumer(
        "lz.deadletter.v1", bootstrap_servers=bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        letters: list[Any] = []
        while len(letters) < 3:
            batch = await consumer.getmany(timeout_ms=5000)
            assert batch, "dead letters missing"
            letters += [r for records in batch.values() for r in records]
    finally:
        await consumer.stop()
    reasons = [dict(r.headers) for r in letters]
    assert [h["lz-origin"].decode().split("/")[0] for h in reasons] == ["lz.feed.police"] * 3
    fields = [h["lz-field"].decode() for h in reasons]
    assert sorted(fields) == ["$", "$.category", "$.source"]
    assert all(h["lz-reason"] for h in reasons)
    unreadable = next(r for r, f in zip(letters, fields, strict=True) if f == "$")
    assert unreadable.value == b"{not json"  # the original bytes, for the operator
