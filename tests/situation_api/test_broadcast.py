"""Shared broadcast frames: built once, written straight to every up-to-date client's socket,
deflated once for the clients that negotiated compression; everything else keeps the queue."""

from __future__ import annotations

import asyncio
import json
import zlib
from typing import Any

from websockets.asyncio.client import connect

from situation_api import metrics
from situation_api.broadcast import SharedFrame
from situation_api.stream import StreamHub
from tests.situation_api.live_server import live_server, next_delta, receive, report
from tests.situation_api.test_stream import STREAM, _Socket, _Source


def _message(frame: bytes) -> dict[str, Any]:
    """The JSON message of one unmasked server frame (inflating it when RSV1 is set)."""
    length, start = frame[1] & 0x7F, 2
    if length == 126:
        length, start = int.from_bytes(frame[2:4]), 4
    elif length == 127:
        length, start = int.from_bytes(frame[2:10]), 10
    assert frame[1] & 0x80 == 0  # a server never masks
    assert len(frame) == start + length
    payload = frame[start:]
    if frame[0] & 0x40:
        payload = zlib.decompressobj(wbits=-15).decompress(payload + b"\x00\x00\xff\xff")
    decoded: dict[str, Any] = json.loads(payload)
    return decoded


class _Writer:
    """A connection's frame writer whose socket takes nothing while ``stalled``."""

    def __init__(self, *, deflate: bool = False) -> None:
        self.deflate = deflate
        self.frames: list[bytes] = []
        self.stalled = 0  # bytes pretended to be waiting in the transport

    def write(self, frame: bytes) -> bool:
        self.frames.append(frame)
        return True

    def buffered(self) -> int:
        return self.stalled


class _BroadcastSocket(_Socket):
    def __init__(self, writer: _Writer) -> None:
        super().__init__()
        self.scope = {"extensions": {"lagezentrum.broadcast": {"writer": writer}}}


def _publish(hub: StreamHub, source: _Source, seq: int) -> None:
    source.seq = seq
    hub.publish([(seq, json.dumps({"seq": seq, "type": "X"}).encode())])


def _seqs(messages: list[dict[str, Any]]) -> list[int]:
    return [c["seq"] for m in messages if m["type"] == "delta" for c in m["changes"]]


def test_a_shared_frame_is_built_once_per_form_and_inflates_to_the_message() -> None:
    text = json.dumps({"type": "delta", "seq": 7, "changes": [{"x": "ab" * 500}]})
    shared = SharedFrame(text)
    plain, deflated = shared.frame(False), shared.frame(True)
    assert shared.frame(False) is plain
    assert shared.frame(True) is deflated
    assert _message(plain) == _message(deflated) == json.loads(text)
    assert len(deflated) < len(plain) / 10
    assert plain[0] == 0x81  # FIN + text
    assert deflated[0] == 0xC1  # and RSV1: compressed


async def test_up_to_date_clients_get_one_shared_frame_per_flush() -> None:
    source = _Source()
    hub = StreamHub(source, queue_size=8, heartbeat_seconds=60, flush_seconds=0)
    writers = [_Writer(), _Writer(deflate=True), _Writer()]
    sockets = [_BroadcastSocket(w) for w in writers]
    serving = [asyncio.create_task(hub.serve(s, None)) for s in sockets]  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    shared = metrics.STREAM_WRITES.labels("shared")._value.get()
    for seq in range(1, 6):
        _publish(hub, source, seq)
    for socket_, writer in zip(sockets, writers, strict=True):
        assert [m["type"] for m in socket_.sent] == ["snapshot"]  # the first picture: a send
        assert _seqs([_message(f) for f in writer.frames]) == [1, 2, 3, 4, 5]
    assert writers[0].frames[0] is writers[2].frames[0]  # the same bytes object, not a copy
    assert writers[1].frames[0][0] & 0x40  # the deflating client got the compressed frame
    assert metrics.STREAM_WRITES.labels("shared")._value.get() - shared == 15
    for task in serving:
        task.cancel()
    await asyncio.gather(*serving, return_exceptions=True)
    await hub.close()


async def test_a_client_whose_socket_backs_up_is_resynced_then_written_to_again() -> None:
    source = _Source()
    hub = StreamHub(source, queue_size=8, heartbeat_seconds=60, flush_seconds=0, buffer_bytes=100)
    writer = _Writer()
    client = _BroadcastSocket(writer)
    serving = asyncio.create_task(hub.serve(client, None))  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    _publish(hub, source, 1)
    writer.stalled = 101  # the client stopped reading
    resyncs = metrics.STREAM_RESYNCS._value.get()
    _publish(hub, source, 2)
    _publish(hub, source, 3)
    assert _seqs([_message(f) for f in writer.frames]) == [1]
    assert metrics.STREAM_RESYNCS._value.get() == resyncs + 1
    writer.stalled = 0
    await asyncio.sleep(0.05)  # its sender sends the snapshot (through ASGI, awaiting the socket)
    assert [(m["type"], m["seq"]) for m in client.sent] == [("snapshot", 0), ("snapshot", 3)]
    _publish(hub, source, 4)
    assert _seqs([_message(f) for f in writer.frames]) == [1, 4]
    serving.cancel()
    await asyncio.gather(serving, return_exceptions=True)
    await hub.close()


async def test_nothing_overtakes_a_send_in_flight() -> None:
    """While a client's ordinary send is pending (its snapshot here), later deltas wait in its
    queue; a shared frame written meanwhile would reach the socket before it."""
    source = _Source()
    hub = StreamHub(source, queue_size=8, heartbeat_seconds=60, flush_seconds=0)
    writer = _Writer()
    client = _BroadcastSocket(writer)
    client.stuck = True  # the snapshot send blocks
    serving = asyncio.create_task(hub.serve(client, None))  # type: ignore[arg-type]
    await asyncio.sleep(0.01)
    for seq in (1, 2):
        _publish(hub, source, seq)
    assert writer.frames == []
    client.stuck = False
    client.release.set()
    await asyncio.sleep(0.05)
    assert [m["type"] for m in client.sent] == ["snapshot", "delta"]
    assert _seqs(client.sent) == [1, 2]  # merged, after the snapshot
    _publish(hub, source, 3)
    assert _seqs([_message(f) for f in writer.frames]) == [3]  # caught up: shared frames again
    serving.cancel()
    await asyncio.gather(serving, return_exceptions=True)
    await hub.close()


async def test_real_clients_with_and_without_compression_read_the_same_deltas(
    pg_fresh_url: str,
) -> None:
    async with live_server(pg_fresh_url) as live:
        deflating = await connect(live.ws_url + STREAM, compression="deflate", max_size=None)
        plain = await connect(live.ws_url + STREAM, compression=None, max_size=None)
        assert deflating.response is not None
        assert plain.response is not None
        negotiated = deflating.response.headers.get("Sec-WebSocket-Extensions") or ""
        assert "permessage-deflate" in negotiated
        assert "server_no_context_takeover" in negotiated
        assert plain.response.headers.get("Sec-WebSocket-Extensions") is None
        assert (await receive(deflating))["type"] == (await receive(plain))["type"] == "snapshot"
        shared = metrics.STREAM_WRITES.labels("shared")._value.get()
        for index in range(3):
            headline = "Überflutung " * 15
            body = report(f"bc-{index}", "mainz", offset_m=50.0 * index, headline=headline)
            assert (await live.http.post("/api/v1/reports", json=body)).status_code == 202
            one, other = await next_delta(deflating), await next_delta(plain)
            assert one == other
            assert any(f"fire:bc-{index}" in c["view"]["threads"] for c in one["changes"])
        assert metrics.STREAM_WRITES.labels("shared")._value.get() - shared >= 6
        await deflating.close()
        await plain.close()
