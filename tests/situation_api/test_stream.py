"""The stream hub under pressure: a client that stops reading is resynchronised with a snapshot
and never slows the others or the runtime."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from correlation.changes import decode_change
from correlation.picture import Picture, picture_json
from situation_api import metrics
from situation_api.stream import StreamHub
from tests.situation_api.live_server import live_server, receive, report

STREAM = "/api/v1/situation/stream"


class _Source:
    """A picture source whose seq follows what the test publishes."""

    def __init__(self) -> None:
        self.seq = 0

    def as_of(self) -> str | None:
        return "2024-06-01T12:00:00Z"

    def picture_json(self) -> bytes:
        return json.dumps({"seq": self.seq, "incidents": []}).encode()


class _Socket:
    """Enough of Starlette's WebSocket for the hub; ``stuck`` never completes a send."""

    def __init__(self, *, stuck: bool = False) -> None:
        self.stuck = stuck
        self.sent: list[dict[str, Any]] = []
        self.release = asyncio.Event()
        from starlette.websockets import WebSocketState

        self.application_state = WebSocketState.CONNECTED
        self.scope: dict[str, Any] = {"extensions": {}}  # no broadcast: every message is sent

    async def send_text(self, text: str) -> None:
        if self.stuck:
            await self.release.wait()
        self.sent.append(json.loads(text))

    async def receive(self) -> dict[str, Any]:
        await asyncio.Event().wait()  # the client never sends anything
        return {}

    async def close(self, code: int = 1000, reason: str = "") -> None:
        return None


async def test_hub_resyncs_a_stuck_client_without_waiting_for_it() -> None:
    source = _Source()
    hub = StreamHub(source, queue_size=4, heartbeat_seconds=60, flush_seconds=0)
    fast, stuck = _Socket(), _Socket(stuck=True)
    serving = [
        asyncio.create_task(hub.serve(fast, None)),  # type: ignore[arg-type]
        asyncio.create_task(hub.serve(stuck, None)),  # type: ignore[arg-type]
    ]
    await asyncio.sleep(0.05)
    stuck.stuck = True
    resyncs = metrics.STREAM_RESYNCS._value.get()
    started = time.perf_counter()
    for seq in range(1, 201):
        source.seq = seq
        hub.publish([(seq, json.dumps({"seq": seq, "type": "X"}).encode())])
        await asyncio.sleep(0)  # let the fast client's sender run
    publishing = time.perf_counter() - started
    await asyncio.sleep(0.05)
    assert publishing < 0.5  # 200 publications never waited for the stuck socket
    assert metrics.STREAM_RESYNCS._value.get() > resyncs
    # the fast client got everything, in order, exactly once
    fast_seqs = [c["seq"] for m in fast.sent if m["type"] == "delta" for c in m["changes"]]
    assert fast_seqs == list(range(1, 201))
    # the stuck one, once its socket drains, gets a snapshot of the newest picture and then only
    # what is newer than it
    stuck.stuck = False
    stuck.release.set()
    await asyncio.sleep(0.05)
    kinds = [m["type"] for m in stuck.sent]
    assert "snapshot" in kinds
    last_snapshot = max(i for i, m in enumerate(stuck.sent) if m["type"] == "snapshot")
    assert stuck.sent[last_snapshot]["seq"] == 200
    assert all(m["type"] != "delta" for m in stuck.sent[last_snapshot + 1 :])
    for task in serving:
        task.cancel()
    await asyncio.gather(*serving, return_exceptions=True)
    await hub.close()


async def test_a_client_behind_gets_its_queued_deltas_as_one_message() -> None:
    """Deltas that piled up while a client's socket was busy go out merged, in order, once; a
    client that keeps up gets one message per flush."""
    source = _Source()
    hub = StreamHub(source, queue_size=100, heartbeat_seconds=60, flush_seconds=0)
    keeping_up, behind = _Socket(), _Socket()
    serving = [
        asyncio.create_task(hub.serve(keeping_up, None)),  # type: ignore[arg-type]
        asyncio.create_task(hub.serve(behind, None)),  # type: ignore[arg-type]
    ]
    await asyncio.sleep(0.05)
    behind.stuck = True  # its next send blocks until released

    def publish(seq: int) -> None:
        source.seq = seq
        hub.publish([(seq, json.dumps({"seq": seq, "type": "X"}).encode())])

    publish(1)
    await asyncio.sleep(0.01)  # both take delta 1; the behind one is now blocked in its send
    for seq in range(2, 12):
        publish(seq)
        await asyncio.sleep(0)
    await asyncio.sleep(0.01)
    behind.stuck = False
    behind.release.set()
    await asyncio.sleep(0.05)
    deltas = [m for m in behind.sent if m["type"] == "delta"]
    assert [[c["seq"] for c in m["changes"]] for m in deltas] == [[1], list(range(2, 12))]
    assert deltas[-1]["seq"] == 11
    assert [m["seq"] for m in keeping_up.sent if m["type"] == "delta"] == list(range(1, 12))
    for task in serving:
        task.cancel()
    await asyncio.gather(*serving, return_exceptions=True)
    await hub.close()


async def _read_all(ws: ClientConnection, until_seq: list[int], seen: list[int]) -> None:
    while True:
        message = json.loads(await ws.recv())
        if message["type"] == "delta":
            seen.extend(c["seq"] for c in message["changes"])
        if until_seq and seen and seen[-1] >= until_seq[0]:
            return


async def test_a_client_that_stops_reading_never_slows_the_others(pg_fresh_url: str) -> None:
    async with live_server(pg_fresh_url, stream_queue=4, heartbeat_seconds=30) as live:
        host, port = live.url.removeprefix("http://").split(":")
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.connect((host, int(port)))
        raw.setblocking(False)
        slow = await connect(
            live.ws_url + STREAM, sock=raw, max_queue=1, compression=None, max_size=None
        )
        fast = [
            await connect(live.ws_url + STREAM, compression=None, max_size=None) for _ in range(3)
        ]
        starts = [await receive(ws) for ws in fast]
        assert {s["type"] for s in starts} == {"snapshot"}
        target: list[int] = []
        seen: list[list[int]] = [[] for _ in fast]
        readers = [
            asyncio.create_task(_read_all(ws, target, got))
            for ws, got in zip(fast, seen, strict=True)
        ]
        started = time.perf_counter()
        # 20 incidents of 75 threads each: every change carries its incident's full view, so
        # the stream carries megabytes, more than the socket buffers of the slow client hold
        batch = 100
        for start in range(0, 1500, batch):
            bodies = [
                report(f"slow-{i}", "koblenz", offset_m=1000.0 * (i % 20), agency="A" * 150)
                for i in range(start, start + batch)
            ]
            response = await live.http.post("/api/v1/reports", json=bodies)
            assert response.status_code == 202
        assert await live.services.runtime.wait_processed(1500, 30)
        target.append(live.services.runtime.seq)
        await asyncio.wait_for(asyncio.gather(*readers), 30)
        elapsed = time.perf_counter() - started
        for got in seen:  # every fast client: every change, in order, nothing twice
            assert got == list(range(starts[0]["seq"] + 1, target[0] + 1))
        assert elapsed < 25

        # the slow client now reads: it was resynchronised and converges on the live picture
        picture: Picture | None = None
        deadline = time.perf_counter() + 20
        snapshots = 0
        while time.perf_counter() < deadline:
            message = json.loads(await asyncio.wait_for(slow.recv(), 10))
            if message["type"] == "snapshot":
                snapshots += 1
                picture = Picture.from_builtins(message["picture"])
            elif message["type"] == "delta" and picture is not None:
                for change in message["changes"]:
                    picture.apply(decode_change(json.dumps(change)))
            if picture is not None and picture.seq == target[0]:
                break
        assert snapshots >= 2  # the initial one and at least one resync
        assert picture is not None
        assert picture.seq == target[0]
        live_picture = json.loads(live.services.runtime.picture_json())
        mine = json.loads(picture_json(picture))
        assert mine["incidents"] == live_picture["incidents"]
        for ws in [slow, *fast]:
            await ws.close()
