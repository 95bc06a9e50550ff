"""The load generator's draining client against a real websocket server: it negotiates
compression like a browser, reads every message, and answers pings so it is not dropped."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
import uvloop
from websockets.asyncio.server import ServerConnection, serve

from ops.bench_drain import Drainer

# The benchmarks run on uvloop (ops.loop), whose transports differ from asyncio's.
LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}


@pytest.mark.parametrize("loop", LOOPS)
def test_a_drainer_reads_every_message_and_stays_connected_through_pings(loop: str) -> None:
    with asyncio.Runner(loop_factory=LOOPS[loop]) as runner:
        runner.run(_drain_a_server_with_pings())


@pytest.mark.parametrize("loop", LOOPS)
def test_a_cancelled_drainer_closes_its_connection_at_once(loop: str) -> None:
    with asyncio.Runner(loop_factory=LOOPS[loop]) as runner:
        runner.run(_cancel_a_drainer())


async def _cancel_a_drainer() -> None:
    async def handler(connection: ServerConnection) -> None:
        await connection.send("x" * 100)
        await connection.wait_closed()

    async with serve(handler, "127.0.0.1", 0, compression="deflate") as server:
        port = server.sockets[0].getsockname()[1]
        drainer = await Drainer.open("127.0.0.1", port, "/stream")
        reading = asyncio.create_task(drainer.run())
        await asyncio.sleep(0.2)
        reading.cancel()
        await asyncio.wait_for(drainer.close(), 1.0)  # the connection is gone, not timed out
        assert drainer.drained.messages == 1
        assert reading.cancelled()


async def _drain_a_server_with_pings() -> None:
    sent: list[int] = []
    negotiated: list[str | None] = []

    async def handler(connection: ServerConnection) -> None:
        assert connection.response is not None
        negotiated.append(connection.response.headers.get("Sec-WebSocket-Extensions"))
        for index in range(60):
            # sizes across the 7-, 16- and 64-bit length forms, split over many reads
            size = (10, 300, 70_000)[index % 3]
            await connection.send("x" * size)
            sent.append(size)
            await asyncio.sleep(0.02)  # 1.2 s in all: several ping intervals
        await connection.close()

    async with serve(
        handler, "127.0.0.1", 0, ping_interval=0.1, ping_timeout=0.3, compression="deflate"
    ) as server:
        port = server.sockets[0].getsockname()[1]
        drainer = await Drainer.open("127.0.0.1", port, "/stream", ["lagezentrum"])
        await asyncio.wait_for(drainer.run(), 10)  # returns on the server's close frame
    assert negotiated
    assert "permessage-deflate" in (negotiated[0] or "")
    assert len(sent) == 60  # a missing pong would have closed the connection early
    assert drainer.drained.messages == 60
    # compressed on the wire: far fewer bytes than were sent
    assert 0 < drainer.drained.payload_bytes < sum(sent) / 10
