"""The situation stream: one hub fans the engine's changes out to every websocket client.

Protocol (contract 3): on connect a client gets ``{"type": "snapshot", "seq", "picture"}`` or, when
it passes ``since`` and the changes after it are still known (in-memory ring, else the history
store), only the missed changes as deltas; then ``{"type": "delta", "seq", "changes"}`` with
strictly increasing ``seq`` (the seq of the delta's last change; every change carries its own) and
``{"type": "heartbeat", "seq", "as_of"}`` every few seconds.

Why it never slows down: :meth:`StreamHub.publish` runs in the runtime and only appends to the
ring; fan-out encodes each message ONCE. A client that is up to date gets the message's
websocket frame, built once for all (:mod:`situation_api.broadcast`), written straight to its
socket without awaiting; one whose unread bytes exceed ``buffer_bytes`` is resynchronised. Any
other client (still receiving its first picture, catching up, or on a server without the
broadcast extension) gets the message in its bounded deque, drained by its own sender task that
blocks on its own socket. When a client's deque is full it is emptied and replaced by a resync
marker: the client gets a fresh snapshot when its socket drains again, and deltas already
covered by that snapshot are skipped. A client whose deque holds several deltas gets them as one
delta (their changes in order), so a client that fell behind gets fewer, larger messages instead
of falling further behind; once its deque is empty it is written to directly again.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Final, Protocol

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from situation_api import metrics
from situation_api.broadcast import FrameWriter, SharedFrame, frame_writer

log = logging.getLogger(__name__)

# A client that missed more than this catches up with a snapshot rather than a replay.
MAX_CATCH_UP: Final = 50_000
CHUNK: Final = 2_000  # changes per catch-up delta message
MERGE_MAX: Final = 64  # queued deltas sent as one message at most


class PictureSource(Protocol):
    """What the hub needs from the runtime: the live picture, consistent with published seqs."""

    @property
    def seq(self) -> int: ...

    def as_of(self) -> str | None: ...

    def picture_json(self) -> bytes: ...


HistorySince = Callable[[int, int], Awaitable[Sequence[tuple[int, bytes]]]]
"""``(after_seq, limit) -> [(seq, encoded change)]`` in seq order, from the history store."""


class PublishingSource(PictureSource, Protocol):
    """A picture source that also publishes its changes and can read them back from history
    (the embedded runtime and the Kafka bus picture)."""

    def subscribe(self, subscriber: Callable[[Sequence[tuple[int, bytes]]], None]) -> None: ...

    async def history_since(self, after: int, limit: int) -> Sequence[tuple[int, bytes]]: ...


class StreamSettings(Protocol):
    @property
    def stream_queue(self) -> int: ...
    @property
    def stream_ring(self) -> int: ...
    @property
    def heartbeat_seconds(self) -> float: ...
    @property
    def stream_flush_ms(self) -> float: ...
    @property
    def stream_buffer_kib(self) -> int: ...


@dataclass(slots=True)
class _Message:
    seq: int
    text: str
    kind: str  # "delta" | "heartbeat" | "resync"
    changes: str = ""  # a delta's changes, comma-joined (for merging)


_RESYNC: Final = _Message(-1, "", "resync")


@dataclass(eq=False)
class _Client:
    limit: int
    writer: FrameWriter | None = None  # broadcast frames straight to the socket, when offered
    last: int = -1  # seq of the last change this client has (or that its snapshot covers)
    queue: deque[_Message] = field(default_factory=deque)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    resyncing: bool = False
    sending: bool = True  # an ASGI send may be in flight (the first is the initial picture)

    def offer(self, message: _Message) -> bool:
        """Queue without waiting; on overflow drop everything for a snapshot. True = resynced."""
        if self.resyncing:
            return False  # the coming snapshot covers this message
        if len(self.queue) >= self.limit:
            return self.resync()
        self.queue.append(message)
        self.ready.set()
        return False

    def resync(self) -> bool:
        self.queue.clear()
        self.queue.append(_RESYNC)
        self.resyncing = True
        self.ready.set()
        return True

    @property
    def direct(self) -> FrameWriter | None:
        """The writer, when a frame written now would follow everything sent before it."""
        if self.writer is None or self.sending or self.queue or self.resyncing:
            return None
        return self.writer


def delta_text(changes: Sequence[tuple[int, bytes]]) -> str:
    """One delta message for changes in seq order (its seq is the last change's)."""
    return _delta(changes[-1][0], _joined(changes))


def _joined(changes: Sequence[tuple[int, bytes]]) -> str:
    return b",".join(encoded for _, encoded in changes).decode()


def _delta(seq: int, joined: str) -> str:
    return f'{{"type":"delta","seq":{seq},"changes":[{joined}]}}'


def _merged(first: _Message, queue: deque[_Message], after: int) -> tuple[int, str]:
    """``first`` and the deltas right behind it in ``queue`` (taken from it) as one delta text;
    deltas at or below ``after`` are already covered and dropped."""
    if not first.changes or not queue or not queue[0].changes:
        return first.seq, first.text
    parts = [first.changes]
    seq = first.seq
    while queue and queue[0].changes and len(parts) < MERGE_MAX:
        message = queue.popleft()
        if message.seq > after:
            parts.append(message.changes)
            seq = message.seq
    return seq, _delta(seq, ",".join(parts))


class StreamHub:
    def __init__(
        self,
        source: PictureSource,
        *,
        history_since: HistorySince | None = None,
        queue_size: int = 256,
        ring_size: int = 20_000,
        heartbeat_seconds: float = 15.0,
        flush_seconds: float = 0.005,
        buffer_bytes: int = 4 * 1024 * 1024,
    ) -> None:
        self._source = source
        self._history_since = history_since
        self._queue_size = queue_size
        self._ring_size = ring_size
        self._heartbeat_seconds = heartbeat_seconds
        self._flush_seconds = flush_seconds
        self._buffer_bytes = buffer_bytes
        self._ring_seqs: list[int] = []
        self._ring: list[bytes] = []
        self._pending: list[tuple[int, bytes]] = []
        self._flush_handle: asyncio.TimerHandle | None = None
        self._last_flush = 0.0
        self._clients: set[_Client] = set()
        self._sockets: dict[_Client, WebSocket] = {}
        self._snapshot_cache: tuple[int, str | None, str] | None = None
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._closed = False
        self.published_seq = source.seq
        # publish listeners run synchronously after every flush (the bench/tests use them)
        self.on_flush: list[Callable[[int], None]] = []

    # -- runtime side ----------------------------------------------------------------------------

    def start(self) -> None:
        self.published_seq = self._source.seq
        if self._heartbeat_task is None:
            self._heartbeat_task = asyncio.create_task(self._heartbeats(), name="stream-heartbeat")

    def publish(self, changes: Sequence[tuple[int, bytes]]) -> None:
        """Take ``(seq, encoded change)`` pairs in seq order; never blocks."""
        if not changes:
            return
        for seq, encoded in changes:
            self._ring_seqs.append(seq)
            self._ring.append(encoded)
        if len(self._ring) > 2 * self._ring_size:
            cut = len(self._ring) - self._ring_size
            del self._ring_seqs[:cut]
            del self._ring[:cut]
        self.published_seq = changes[-1][0]
        self._pending.extend(changes)
        if self._flush_handle is not None:
            return
        wait = self._last_flush + self._flush_seconds - time.monotonic()
        if wait <= 0 or not self._clients:
            self.flush()
        else:
            self._flush_handle = asyncio.get_running_loop().call_later(wait, self.flush)

    def flush(self) -> None:
        self._flush_handle = None
        self._last_flush = time.monotonic()
        pending, self._pending = self._pending, []
        if not pending:
            return
        if self._clients:
            joined = _joined(pending)
            seq = pending[-1][0]
            message = _Message(seq, _delta(seq, joined), "delta", joined)
            self._fan_out(message)
            metrics.STREAM_MESSAGES.labels("delta").inc()
        for listener in self.on_flush:
            listener(pending[-1][0])

    def _fan_out(self, message: _Message) -> None:
        """Write the message's frame to every client that is up to date and keeps up with its
        socket; queue it for the others (their sender tasks catch up, merging deltas)."""
        resynced = queued = written = 0
        shared = SharedFrame(message.text)
        for client in self._clients:
            writer = client.direct
            if writer is None:
                resynced += client.offer(message)
                queued += 1
                continue
            if message.kind == "delta" and message.seq <= client.last:
                continue
            if writer.buffered() > self._buffer_bytes:  # not reading: its bytes pile up here
                resynced += client.resync()
                continue
            if writer.write(shared.frame(writer.deflate)):
                written += 1
                if message.kind == "delta":
                    client.last = message.seq
        if resynced:
            metrics.STREAM_RESYNCS.inc(resynced)
        metrics.STREAM_WRITES.labels("queued").inc(queued)
        metrics.STREAM_WRITES.labels("shared").inc(written)

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self._heartbeat_seconds)
            if self._clients:
                self._fan_out(_Message(self.published_seq, self._heartbeat_text(), "heartbeat"))
                metrics.STREAM_MESSAGES.labels("heartbeat").inc()

    def _heartbeat_text(self) -> str:
        as_of = self._source.as_of()
        as_of_json = "null" if as_of is None else f'"{as_of}"'
        return f'{{"type":"heartbeat","seq":{self.published_seq},"as_of":{as_of_json}}}'

    def snapshot(self) -> tuple[int, str]:
        """The snapshot message for the picture as it is now, encoded once per (seq, as_of)."""
        seq, as_of = self._source.seq, self._source.as_of()
        cached = self._snapshot_cache
        if cached is None or cached[0] != seq or cached[1] != as_of:
            picture = self._source.picture_json().decode()
            text = f'{{"type":"snapshot","seq":{seq},"picture":{picture}}}'
            self._snapshot_cache = cached = (seq, as_of, text)
        return seq, cached[2]

    @property
    def clients(self) -> int:
        return len(self._clients)

    async def close(self) -> None:
        self._closed = True
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self.flush()
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat_task

        async def close(websocket: WebSocket) -> None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(websocket.close(1001, "server shutting down"), 1.0)

        # concurrently: a stuck client must not hold up the others' close frames
        await asyncio.gather(*(close(ws) for ws in list(self._sockets.values())))

    # -- client side -----------------------------------------------------------------------------

    def _recent(self, since: int) -> list[tuple[int, bytes]] | None:
        """Changes after ``since`` from the ring, or None when the ring no longer reaches back."""
        if not self._ring_seqs or since < self._ring_seqs[0] - 1:
            return None
        start = bisect.bisect_right(self._ring_seqs, since)
        return list(zip(self._ring_seqs[start:], self._ring[start:], strict=True))

    async def _catch_up(self, since: int, upto: int) -> list[tuple[int, bytes]] | None:
        """Every change in ``(since, upto]``, or None when a snapshot is needed instead."""
        if since == upto:
            return []
        if since > upto or upto - since > MAX_CATCH_UP:
            return None
        recent = self._recent(since)
        if recent is not None:
            return [c for c in recent if c[0] <= upto]
        if self._history_since is None:
            return None
        ring_start = self._ring_seqs[0] if self._ring_seqs else upto + 1
        ring = self._recent(ring_start - 1) or []
        try:
            older = list(await self._history_since(since, ring_start - 1 - since))
        except Exception:
            log.warning("history unavailable for stream catch-up", exc_info=True)
            return None
        changes = [c for c in older if c[0] < ring_start] + [c for c in ring if c[0] <= upto]
        # Seqs are contiguous; anything missing (pruned history) means a snapshot is needed.
        if len(changes) != upto - since or (changes and changes[0][0] != since + 1):
            return None
        return changes

    async def serve(self, websocket: WebSocket, since: int | None) -> None:
        """Run one accepted websocket until it disconnects."""
        client = _Client(limit=self._queue_size, writer=frame_writer(websocket.scope))
        upto = self.published_seq
        self._clients.add(client)
        self._sockets[client] = websocket
        metrics.STREAM_CLIENTS.set(len(self._clients))
        try:
            if since is None:
                client.last, text = self.snapshot()
                await websocket.send_text(text)
            else:
                changes = await self._catch_up(since, upto)
                if changes is None:
                    client.last, text = self.snapshot()
                    await websocket.send_text(text)
                else:
                    for start in range(0, len(changes), CHUNK):
                        await websocket.send_text(delta_text(changes[start : start + CHUNK]))
                    client.last = upto
            await self._pump(websocket, client)
        except (WebSocketDisconnect, ConnectionError, RuntimeError):
            pass  # RuntimeError: Starlette's "send after close"; the client is gone either way
        finally:
            self._clients.discard(client)
            self._sockets.pop(client, None)
            metrics.STREAM_CLIENTS.set(len(self._clients))

    async def _pump(self, websocket: WebSocket, client: _Client) -> None:
        sender = asyncio.create_task(self._send_loop(websocket, client))
        receiver = asyncio.create_task(_drain_incoming(websocket))
        try:
            await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sender, receiver):
                task.cancel()
            for task in (sender, receiver):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if sender.done() and not sender.cancelled() and sender.exception() is not None:
            exc = sender.exception()
            if not isinstance(exc, WebSocketDisconnect | ConnectionError | RuntimeError):
                log.warning("stream sender failed", exc_info=exc)

    async def _send_loop(self, websocket: WebSocket, client: _Client) -> None:
        queue = client.queue
        while websocket.application_state == WebSocketState.CONNECTED:
            if not queue:
                client.sending = False
                client.ready.clear()
                await client.ready.wait()
                client.sending = True
                continue
            message = queue.popleft()
            if message.kind == "resync":
                client.resyncing = False
                client.last, text = self.snapshot()
                await websocket.send_text(text)
            elif message.kind == "delta":
                if message.seq > client.last:
                    client.last, text = _merged(message, queue, client.last)
                    await websocket.send_text(text)
            elif message.seq >= client.last:  # heartbeat
                await websocket.send_text(message.text)


async def _drain_incoming(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends, to notice when it goes away."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return


async def open_hub(
    source: PublishingSource, settings: StreamSettings, stack: contextlib.AsyncExitStack
) -> StreamHub:
    """The hub over ``source``, subscribed and started; ``stack`` closes it."""
    hub = StreamHub(
        source,
        history_since=source.history_since,
        queue_size=settings.stream_queue,
        ring_size=settings.stream_ring,
        heartbeat_seconds=settings.heartbeat_seconds,
        flush_seconds=settings.stream_flush_ms / 1000.0,
        buffer_bytes=settings.stream_buffer_kib * 1024,
    )
    source.subscribe(hub.publish)
    hub.start()
    stack.push_async_callback(hub.close)
    return hub
