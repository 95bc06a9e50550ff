"""A websocket client for load generators: it takes what a display takes off the network and
nothing more.

``bench live`` and ``bench kafka`` stand in for 200 wall displays on one machine. Each display
is a browser on its own computer that negotiates per-message deflate and spends its own CPU on
inflating and drawing; a load generator that did all of that 200 times in one process would
measure itself, not the server. So all but the few measuring clients are drainers: they do the
handshake a browser does (offering compression), read every byte the server sends, answer pings
and count frames, without inflating or decoding. The measuring clients are full clients.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, cast

READ: Final = 1 << 18
_PING: Final = 0x9
_CLOSE: Final = 0x8


class DrainRefused(ConnectionError):
    """The server did not switch protocols; the message has its status line."""


@dataclass
class Drained:
    """What one drainer has read: whole messages (final frames) and payload bytes."""

    messages: int = 0
    payload_bytes: int = 0


def _handshake(host: str, port: int, path: str, subprotocols: Sequence[str]) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
    ]
    if subprotocols:
        lines.append(f"Sec-WebSocket-Protocol: {', '.join(subprotocols)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _pong(payload: bytes) -> bytes:
    # Client frames must be masked; a zero key leaves the payload as it is.
    return bytes((0x80 | 0xA, 0x80 | len(payload))) + b"\0\0\0\0" + payload


class _Protocol(asyncio.Protocol):
    """Reads straight from the transport's callbacks: no stream buffer copying every chunk and
    no coroutine resumed per read, so 200 drainers cost the load generator little CPU."""

    def __init__(self, upgraded: asyncio.Future[bytes], closed: asyncio.Future[None]) -> None:
        self.upgraded, self.closed = upgraded, closed
        self.transport: asyncio.Transport | None = None
        self.drained = Drained()
        self._head = bytearray()  # the HTTP response, until the switch of protocols
        self._buffer = bytearray()
        self._skip = 0  # payload bytes of the current frame still to come

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a stream transport, though uvloop's do not derive from asyncio.Transport
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.upgraded.done():
            self.upgraded.set_exception(ConnectionError("closed during the handshake"))
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        if not self.upgraded.done():
            self._head += data
            end = self._head.find(b"\r\n\r\n")
            if end < 0:
                return
            data = bytes(self._head[end + 4 :])
            self.upgraded.set_result(bytes(self._head[:end]))
        if self._skip >= len(data):
            self._skip -= len(data)
            return
        self._buffer += memoryview(data)[self._skip :]
        self._skip = self._frames(self._buffer)
        if self._skip < 0 and self.transport is not None:
            self.transport.close()

    def _frames(self, buffer: bytearray) -> int:
        """Consume the whole frames at the start of ``buffer``; return how many payload bytes
        of a frame begun in it are still to come (their head is consumed), or -1 on close."""
        while len(buffer) >= 2:
            first, second = buffer[0], buffer[1]
            length, start = second & 0x7F, 2
            if length == 126:
                if len(buffer) < 4:
                    return 0
                length, start = int.from_bytes(buffer[2:4]), 4
            elif length == 127:
                if len(buffer) < 10:
                    return 0
                length, start = int.from_bytes(buffer[2:10]), 10
            opcode, final = first & 0x0F, first & 0x80
            if opcode == _CLOSE:
                return -1
            if opcode == _PING:
                if len(buffer) < start + length:
                    return 0  # control frames are short: wait for the whole ping
                if self.transport is not None:
                    self.transport.write(_pong(bytes(buffer[start : start + length])))
            elif final:
                self.drained.messages += 1
            self.drained.payload_bytes += length
            end = start + length
            if end > len(buffer):
                missing = end - len(buffer)
                buffer.clear()
                return missing
            del buffer[:end]
        return 0


class Drainer:
    """One connection, opened by :meth:`open` and read by :meth:`run` until the server closes
    it or the task is cancelled."""

    def __init__(self, protocol: _Protocol) -> None:
        self._protocol = protocol
        self.drained = protocol.drained

    @classmethod
    async def open(
        cls, host: str, port: int, path: str, subprotocols: Sequence[str] = ()
    ) -> Drainer:
        loop = asyncio.get_running_loop()
        upgraded: asyncio.Future[bytes] = loop.create_future()
        closed: asyncio.Future[None] = loop.create_future()
        transport, protocol = await loop.create_connection(
            lambda: _Protocol(upgraded, closed), host, port
        )
        transport.write(_handshake(host, port, path, subprotocols))
        try:
            head = await upgraded
        except BaseException:
            transport.close()
            raise
        status = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status + b" ":
            transport.close()
            raise DrainRefused(status.decode(errors="replace"))
        return cls(protocol)

    async def run(self) -> None:
        try:
            await asyncio.shield(self._protocol.closed)
        finally:
            self._close()

    def _close(self) -> None:
        if self._protocol.transport is not None:
            self._protocol.transport.close()

    async def close(self) -> None:
        self._close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._protocol.closed), 2)
