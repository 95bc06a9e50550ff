"""``lagezentrum serve --bus kafka://…`` end to end as a real child process on a real broker: a
report posted over HTTP and a record a plain Kafka client puts on ``lz.feed.fire`` both travel
report topic → correlation worker (a grandchild process) → situation topic → websocket stream and
REST; SIGTERM stops the server and every worker it started."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from tests.distributed.conftest import PARTITIONS
from tests.distributed.processes import Child, alive, child_env, children_of

MAINZ = (8.2473, 49.9929)
KAISERSLAUTERN = (7.7689, 49.4447)


def descendants(pid: int) -> list[int]:
    found = children_of(pid)
    for child in list(found):
        found += descendants(child)
    return found


def cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


async def incident_on_stream(
    ws: ClientConnection, thread: str, timeout: float = 60.0
) -> dict[str, Any]:
    """The view of the first streamed incident change that holds ``thread``; checks on the way
    that every message's ``seq`` increases strictly."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last = -1
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), max(deadline - loop.time(), 0.1)))
        if message["type"] == "heartbeat":
            continue
        assert message["type"] == "delta", message["type"]
        assert message["seq"] > last
        last = message["seq"]
        for change in message["changes"]:
            view = change.get("view")
            if change["entity"] == "incident" and view and thread in view["threads"]:
                found: dict[str, Any] = view
                return found


async def test_serve_with_bus_streams_reports_and_stops_its_workers(
    bus_url: str, tmp_path: Path
) -> None:
    from aiokafka import AIOKafkaProducer  # type: ignore[import-untyped]

    serve = Child(
        [
            "serve",
            "--bus",
            bus_url,
            "--port",
            "0",
            "--workers",
            "1",
            "--partitions",
            str(PARTITIONS),
            "--data-dir",
            str(tmp_path / "data"),
        ],
        log=tmp_path / "serve.log",
        env=child_env(LAGEZENTRUM_HEARTBEAT_SECONDS="1"),
    )
    try:
        url = await asyncio.to_thread(serve.wait_announced)
        workers = [pid for pid in children_of(serve.pid) if " correlate " in cmdline(pid)]
        assert len(workers) == 1, [cmdline(pid) for pid in children_of(serve.pid)]
        family = [serve.pid, *descendants(serve.pid)]
        observed = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
        async with httpx.AsyncClient(base_url=url, timeout=20) as http:
            for _ in range(300):
                if (await http.get("/api/v1/readyz")).status_code == 200:
                    break
                await asyncio.sleep(0.1)
            ws_url = url.replace("http://", "ws://") + "/api/v1/situation/stream"
            async with connect(ws_url, subprotocols=["lagezentrum"]) as ws:  # type: ignore[list-item]
                hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
                assert hello["type"] == "snapshot"
                assert hello["picture"]["incidents"] == []
                posted = {
                    "source": "police",
                    "source_id": "PP-MZ-serve-1",
                    "category": "accident.traffic",
                    "severity": "severe",
                    "observed_at": observed,
                    "headline": "Unfall Rheinallee",
                    "geometry": {"type": "Point", "coordinates": list(MAINZ)},
                }
                response = await http.post("/api/v1/reports", json=posted)
                assert response.status_code == 202, response.text
                view = await incident_on_stream(ws, "police:PP-MZ-serve-1")
                assert (view["severity"], view["title"]) == ("severe", "Unfall Rheinallee")
                assert view["district"] == "07315"  # Mainz

                # The feed gate of serve --bus: any Kafka client may publish to lz.feed.<agency>.
                producer = AIOKafkaProducer(bootstrap_servers=bus_url.removeprefix("kafka://"))
                await producer.start()
                try:
                    record = {
                        **posted,
                        "source": "fire",
                        "source_id": "FW-KL-serve-1",
                        "category": "fire.building",
                        "headline": "Brand Innenstadt",
                        "geometry": {"type": "Point", "coordinates": list(KAISERSLAUTERN)},
                    }
                    await producer.send_and_wait("lz.feed.fire", json.dumps(record).encode())
                finally:
                    await producer.stop()
                fed = await incident_on_stream(ws, "fire:FW-KL-serve-1")
                assert fed["title"] == "Brand Innenstadt"

            listed = (await http.get("/api/v1/incidents")).json()
            assert {i["id"]: i["threads"] for i in listed["incidents"]} == {
                view["id"]: ["police:PP-MZ-serve-1"],
                fed["id"]: ["fire:FW-KL-serve-1"],
            }
        assert serve.terminate() == 0
    finally:
        serve.kill()
    left = [pid for pid in family if alive(pid)]
    assert not left, [cmdline(pid) for pid in left]
