"""``lagezentrum bench kafka --publisher``: the distributed pipeline below HTTP and websockets.

Reports of the deterministic RLP scenario are published through the ingest publisher
(``acks=all``) in batches like HTTP requests, with ``--workers`` correlation workers as
processes and an API instance on the bus in this process; the latency of a report is the time
from its publish call to the first change listing its thread at that instance's stream hub. What
a duty officer sees (HTTP POST → websocket delta) is what plain ``bench kafka`` measures; this
figure separates the pipeline from the HTTP and fan-out cost around it.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run_publisher_bench(
    bus: str, *, reports: int, batch: int, workers: int, partitions: int, pace: float
) -> dict[str, Any]:
    from ops.distributed import prepare_topics, start_worker
    from ops.scenario import generate
    from situation_api.app import open_services
    from situation_api.bus_source import BusPicture
    from situation_api.settings import Settings

    bootstrap = bus.removeprefix("kafka://")
    await prepare_topics(bootstrap, partitions, 1)
    procs = [start_worker(bus, partitions) for _ in range(workers)]
    start = datetime.now(UTC) - timedelta(hours=6)
    plan = generate(
        incidents=max(reports // 3, 1), seed=7, start=start, duration=timedelta(hours=5)
    )
    # incidents only: a warning or capacity report is not listed by thread in an incident view
    layers = ("weather", "capacity")
    items = [r for r in plan.reports if r.category.partition(".")[0] not in layers][:reports]
    sent: dict[str, float] = {}
    seen: dict[str, float] = {}
    decoder = msgspec.json.Decoder()

    def on_changes(changes: Any) -> None:
        now = time.perf_counter()
        for _, encoded in changes:
            view = decoder.decode(encoded).get("view") or {}
            for thread in view.get("threads", ()):
                seen.setdefault(thread, now)

    try:
        async with AsyncExitStack() as stack:
            settings = Settings(auth=False, bus=bus, stream_flush_ms=0)
            services = await open_services(settings, "memory://", stack=stack)
            source: object = services.runtime
            assert isinstance(source, BusPicture)
            source.subscribe(on_changes)
            warm = time.perf_counter()
            # the workers are up when a first report comes through
            await services.report_log.append([(items[0], b"")])
            sent[items[0].thread] = warm
            while items[0].thread not in seen:
                if time.perf_counter() - warm > 60:
                    raise RuntimeError("no worker answered within 60 s")
                await asyncio.sleep(0.05)
            began = time.perf_counter()
            for index in range(1, len(items), batch):
                chunk = items[index : index + batch]
                at = time.perf_counter()
                for report in chunk:
                    sent.setdefault(report.thread, at)
                await services.report_log.append([(r, b"") for r in chunk])
                if pace:
                    await asyncio.sleep(pace)
            published = time.perf_counter()
            threads = {r.thread for r in items}
            deadline = published + 120
            while not threads <= seen.keys() and time.perf_counter() < deadline:
                await asyncio.sleep(0.02)
            finished = time.perf_counter()
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(15)
    latencies = [(seen[t] - sent[t]) * 1000 for t in sent if t in seen and t != items[0].thread]
    return {
        "benchmark": "kafka-publisher",
        "reports": len(items),
        "batch": batch,
        "workers": workers,
        "partitions": partitions,
        "publish_reports_per_s": round((len(items) - 1) / (published - began), 1),
        "pipeline_reports_per_s": round((len(items) - 1) / (finished - began), 1),
        "threads_missing": len({r.thread for r in items} - seen.keys()),
        "latency_ms": {
            "p50": round(_percentile(latencies, 0.50), 1),
            "p99": round(_percentile(latencies, 0.99), 1),
            "mean": round(statistics.fmean(latencies), 1) if latencies else None,
        },
    }
