"""Broadcast frames: one websocket frame built once, written to every stream client as is.

The stream sends the same delta to hundreds of clients. Through ASGI each ``send`` encodes,
frames and copies the message again per client, and with 200 clients that per-client work was
half the server's CPU (``docs/PERFORMANCE.md``). Server-to-client frames are not masked, so the
bytes of a frame are the same for every connection: :func:`text_frame` builds them once and a
:class:`FrameWriter` hands them to a connection's transport, where the only per-client cost left
is the socket write.

ASGI has no such operation, so :class:`BroadcastWebSocketProtocol` (uvicorn's websocket protocol,
used by ``serve``, ``api`` and the demo) offers it as the scope extension :data:`EXTENSION`. Under
any other server the extension is absent and the stream falls back to ordinary sends.

Compression follows the same idea. Deflating per client is what made per-message compression
too expensive for a fan-out; but with ``server_no_context_takeover`` (which this protocol always
negotiates) every message is compressed on its own, so one compressed frame serves every client
that negotiated the extension with the same window: JSON views shrink several-fold for the cost
of compressing each delta once. Clients that did not offer compression get the plain frame.
"""

from __future__ import annotations

import logging
from typing import Any, Final, Protocol

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.extensions.permessage_deflate import (
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
)
from websockets.frames import Frame, Opcode
from websockets.server import ServerProtocol

EXTENSION: Final = "lagezentrum.broadcast"
WINDOW_BITS: Final = 15  # the deflate window of shared frames (a client may ask for less)
# Level 3: a third of level 6's time on delta messages (0.2 vs 0.66 ms for 55 kB) for 20 % more
# bytes (ratio 9.9 vs 12); the compression runs on the event loop, once per delta.
_COMPRESS: Final = {"level": 3, "memLevel": 8}
_shared_deflate: Final = PerMessageDeflate(
    remote_no_context_takeover=True,
    local_no_context_takeover=True,
    remote_max_window_bits=WINDOW_BITS,
    local_max_window_bits=WINDOW_BITS,
    compress_settings=_COMPRESS,
)


class SharedFrame:
    """One message's frame, built at most once in each form (plain, deflated) for all clients."""

    __slots__ = ("_frames", "_payload", "_text")

    def __init__(self, text: str) -> None:
        self._text = text
        self._payload: bytes | None = None
        self._frames: dict[bool, bytes] = {}

    def frame(self, deflate: bool) -> bytes:
        frame = self._frames.get(deflate)
        if frame is None:
            if self._payload is None:
                self._payload = self._text.encode()
            extensions = [_shared_deflate] if deflate else []
            frame = Frame(Opcode.TEXT, self._payload).serialize(mask=False, extensions=extensions)
            self._frames[deflate] = frame
        return frame


class FrameWriter(Protocol):
    @property
    def deflate(self) -> bool:
        """Whether the connection takes deflated frames (:meth:`SharedFrame.frame`)."""
        ...

    def write(self, frame: bytes) -> bool:
        """Queue a complete frame on the connection; False when it is closing (nothing written)."""
        ...

    def buffered(self) -> int:
        """Bytes written but not yet taken by the client's socket."""
        ...


def frame_writer(scope: Any) -> FrameWriter | None:
    """The connection's writer when the server offers the extension, else None."""
    extension = scope.get("extensions", {}).get(EXTENSION)
    return None if extension is None else extension.get("writer")


class _Writer:
    __slots__ = ("_protocol", "deflate")

    def __init__(self, protocol: BroadcastWebSocketProtocol, deflate: bool) -> None:
        self._protocol = protocol
        self.deflate = deflate

    def write(self, frame: bytes) -> bool:
        protocol = self._protocol
        transport = protocol.transport
        # After a close frame nothing may follow; a closing transport would drop it anyway.
        if protocol.close_sent or protocol.disconnected or transport.is_closing():
            return False
        transport.write(frame)
        return True

    def buffered(self) -> int:
        return self._protocol.transport.get_write_buffer_size()


class BroadcastWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websocket protocol plus the :data:`EXTENSION` writer, always offering
    per-message deflate without server context takeover.

    Frames written through it interleave safely with the protocol's own (pings, close): every
    write is a whole frame from the event loop's thread, and the stream only writes to a client
    whose ASGI sends have all completed. The connection's own compressor (used for ordinary
    sends) starts afresh for every message, so shared frames never disturb its state.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        factory = ServerPerMessageDeflateFactory(
            server_no_context_takeover=True, compress_settings=dict(_COMPRESS)
        )
        self.conn = ServerProtocol(
            extensions=[factory],
            max_size=self.config.ws_max_size,
            logger=logging.getLogger("uvicorn.error"),
        )

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)  # absent when the handshake was refused
        if scope is not None:
            deflate = any(
                isinstance(ext, PerMessageDeflate)
                and ext.local_no_context_takeover
                and ext.local_max_window_bits == WINDOW_BITS
                for ext in self.conn.extensions
            )
            scope["extensions"][EXTENSION] = {"writer": _Writer(self, deflate)}
