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
from typing import Final

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


class Drainer:
    """One connection, opened by :meth:`open` and read by :meth:`run` until the server closes
    it or the task is cancelled."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer
        self.drained = Drained()

    @classmethod
    async def open(
        cls, host: str, port: int, path: str, subprotocols: Sequence[str] = ()
    ) -> Drainer:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(_handshake(host, port, path, subprotocols))
        head = await reader.readuntil(b"\r\n\r\n")
        status = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status + b" ":
            writer.close()
            raise DrainRefused(status.decode(errors="replace"))
        return cls(reader, writer)

    async def run(self) -> None:
        buffer = bytearray()
        skip = 0  # payload bytes of the current frame still to come
        try:
            while True:
                data = await self._reader.read(READ)
                if not data:
                    return
                if skip >= len(data):
                    skip -= len(data)
                    continue
                buffer += memoryview(data)[skip:]
                skip = 0
                skip = self._frames(buffer)
                if skip < 0:
                    return
        finally:
            self._writer.close()

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
                self._writer.write(_pong(bytes(buffer[start : start + length])))
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

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(TimeoutError, OSError):
            await asyncio.wait_for(self._writer.wait_closed(), 2)
