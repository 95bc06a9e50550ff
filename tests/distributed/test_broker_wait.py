"""A correlation worker started before its broker (``lagezentrum correlate`` as a real process):
it waits, logging every attempt, and once a real broker comes up on that port it creates the
topics and correlates the reports published there."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ingest.report import decode_report
from ops.kafka.broker import KafkaBroker
from tests.distributed.conftest import PARTITIONS, services
from tests.distributed.processes import Child, child_env

ATTEMPT = "not reachable for creating or checking the topics"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def attempts(child: Child) -> list[dict[str, str]]:
    found = []
    for line in child.log_text().splitlines():
        if line.startswith("{") and ATTEMPT in line:
            found.append(json.loads(line))
    return found


async def test_worker_started_before_the_broker_waits_then_correlates(tmp_path: Path) -> None:
    port = free_port()
    bus = f"kafka://127.0.0.1:{port}"
    worker = Child(
        ["correlate", "--bus", bus, "--partitions", str(PARTITIONS)],
        log=tmp_path / "worker.log",
        env=child_env(),
    )
    broker = KafkaBroker(data_dir=tmp_path / "kafka", port=port)
    try:
        deadline = time.monotonic() + 60
        while len(attempts(worker)) < 3 and time.monotonic() < deadline:
            assert worker.process.poll() is None, worker.log_text()[-2000:]
            await asyncio.sleep(0.2)
        waited = attempts(worker)
        assert len(waited) >= 3, worker.log_text()[-2000:]
        assert all(entry["level"] == "warning" for entry in waited)
        for number, entry in enumerate(waited, start=1):
            assert f"(attempt {number}:" in entry["message"], entry
        assert all(f"Kafka at 127.0.0.1:{port}" in entry["message"] for entry in waited)

        await asyncio.to_thread(broker.start)
        # The worker creates the topics once the broker answers; this test's API needs them.
        loop = asyncio.get_running_loop()
        until = loop.time() + 60
        while "reachable after" not in worker.log_text():
            assert worker.process.poll() is None, worker.log_text()[-2000:]
            assert loop.time() < until, "the worker never reached the broker"
            await asyncio.sleep(0.2)

        observed = (datetime.now(UTC) - timedelta(minutes=2)).isoformat()
        raw = json.dumps(
            {
                "source": "fire",
                "source_id": "FW-NR-wait-1",
                "category": "fire.building",
                "severity": "moderate",
                "observed_at": observed,
                "headline": "Brand Lagerhalle",
                "geometry": {"type": "Point", "coordinates": [7.4614, 50.4295]},  # Neuwied
            }
        ).encode()
        async with services("memory://", bus=bus) as api:
            await api.report_log.append([(decode_report(raw), raw)])
            while not json.loads(api.runtime.picture_json())["incidents"]:
                assert worker.process.poll() is None, worker.log_text()[-2000:]
                assert loop.time() < until, "the worker did not correlate the report"
                await asyncio.sleep(0.2)
            (incident,) = json.loads(api.runtime.picture_json())["incidents"]
        assert incident["threads"] == ["fire:FW-NR-wait-1"]
        assert incident["title"] == "Brand Lagerhalle"
        assert worker.terminate() == 0
    finally:
        worker.kill()
        await asyncio.to_thread(broker.stop)
