"""The runtime's writes to the history store: every change the engine emitted, and every so often
a snapshot of the state.

They run on a task of their own, so a slow commit never delays the picture or the stream.
Losing unwritten history in a crash is harmless: recovery re-derives every change above the
stored head from the log. A snapshot is captured at one consistent point — the runtime's
``capture`` reads the state without awaiting — and encoded by a forked child where it can be
(:mod:`situation_api.forked`), else in the event loop; it is written only once the history holds
every change it covers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from situation_api import blocks, forked, metrics
from situation_api.history import HistoryStore, StoredChange

log = logging.getLogger(__name__)

Pack = Callable[[bytes], bytes]


def _as_is(part: bytes) -> bytes:
    return part


@dataclass(frozen=True, slots=True)
class Capture:
    """The state at one point, not encoded yet: ``encode(pack)`` returns its parts
    (engine state, picture), each passed through ``pack``, as of the call — in a forked child,
    as of the fork."""

    seq: int
    offset: int
    at: datetime
    encode: Callable[[Pack], list[bytes]]


class HistoryWriter:
    """Writes changes at most every ``interval`` seconds, retrying after ``retry_seconds``;
    snapshots once ``snapshot_changes`` changes or ``snapshot_interval`` seconds have passed
    (and, with no change, once the log moved ``snapshot_offsets`` entries)."""

    def __init__(
        self,
        history: HistoryStore,
        *,
        interval: float,
        retry_seconds: float,
        snapshot_interval: float,
        snapshot_changes: int,
        snapshot_offsets: int,
    ) -> None:
        self._history = history
        self._interval = interval
        self._retry_seconds = retry_seconds
        self._snapshot_interval = snapshot_interval
        self._snapshot_changes = snapshot_changes
        self._snapshot_offsets = snapshot_offsets
        self._unpersisted: list[StoredChange] = []
        self._inflight: list[StoredChange] = []
        self._persisted_seq = 0
        self._recovered_head = 0
        self._pending_snapshot: tuple[int, datetime, bytes, bytes] | None = None
        self._capturing: asyncio.Future[None] | None = None  # a snapshot being encoded in a fork
        self._fork_failed = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._snapshot_seq = 0
        self._snapshot_offset = 0
        self._last_snapshot = time.monotonic()

    def recovered(self, *, head: int, snapshot_seq: int, offset: int) -> None:
        """Where recovery left things: the history's stored head, the seq of the snapshot the
        state was restored from (0 if none) and the log offset it covers."""
        self._persisted_seq = self._recovered_head = head
        self._snapshot_seq = snapshot_seq
        self._snapshot_offset = offset

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="runtime-history")

    async def settle(self) -> None:
        """Wait for a snapshot being encoded in a fork: its child has the state as of the fork."""
        if self._capturing is not None:
            with contextlib.suppress(Exception):
                await self._capturing

    async def stop(self, final: Callable[[], Capture] | None) -> None:
        """Wait for a snapshot being encoded in a fork (kept: it has the state as of the fork),
        stop the task, snapshot ``final()`` here if the state moved since the last snapshot,
        and write what is left. The caller has stopped feeding the engine."""
        await self.settle()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if final is None:
            return
        capture = final()
        if capture.seq > self._snapshot_seq and self._pending_snapshot is None:
            self.snapshot(capture)
        try:
            await self.flush()
        except Exception:
            log.exception("could not persist the last changes; the log still has them")

    def add(self, changes: Sequence[StoredChange]) -> None:
        """Queue emitted changes for writing."""
        head = self._recovered_head
        for change in changes:
            if change.seq > head:  # the history already has what recovery re-derives
                self._unpersisted.append(change)
        self._wake.set()

    def unwritten(self) -> list[StoredChange]:
        """Changes queued but not yet in the history store, in seq order."""
        return [*self._inflight, *self._unpersisted]

    def maybe_snapshot(self, seq: int, offset: int, capture: Callable[[], Capture]) -> None:
        """Snapshot if one is due at engine ``seq`` and log ``offset``."""
        if self._pending_snapshot is not None or self._capturing is not None:
            return
        moved = seq - self._snapshot_seq
        if moved <= 0 and offset - self._snapshot_offset < self._snapshot_offsets:
            return
        due = time.monotonic() - self._last_snapshot >= self._snapshot_interval
        if moved >= self._snapshot_changes or due:
            self.snapshot(capture(), fork=not self._fork_failed)

    def snapshot(self, capture: Capture, *, fork: bool = False) -> None:
        """Have ``capture`` encoded — by a forked child if ``fork``, else here — and written once
        the history has caught up with it."""
        self._snapshot_seq = capture.seq
        self._snapshot_offset = capture.offset
        self._last_snapshot = time.monotonic()
        if fork:
            try:
                # Packed by the child too: after a minute of bench live the loop takes in 8 MB,
                # not 60 MB, whose copying had held it for 67-87 ms; and no thread of this
                # process spends half a second compressing them beside the loop.
                encoded = forked.start(lambda: capture.encode(blocks.pack))
            except forked.ForkFailed as error:
                self._fork_failed_with(error)
            else:
                self._capturing = asyncio.ensure_future(self._collect(capture, encoded))
                return
        state, picture = capture.encode(_as_is)
        self._pending_snapshot = (capture.seq, capture.at, state, picture)
        self._wake.set()

    async def flush(self) -> None:
        """Write every queued change, then the pending snapshot if the history now covers it."""
        while self._unpersisted:
            pending, self._unpersisted = self._unpersisted, []
            self._inflight = pending
            try:
                await self._history.append(pending)
            except BaseException:
                self._unpersisted = pending + self._unpersisted
                raise
            finally:
                self._inflight = []
            self._persisted_seq = max(self._persisted_seq, pending[-1].seq)
        snapshot = self._pending_snapshot
        # a snapshot must never cover changes the history does not have yet
        if snapshot is not None and snapshot[0] <= self._persisted_seq:
            await self._history.save_snapshot(*snapshot)
            self._pending_snapshot = None
            metrics.SNAPSHOTS.inc()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception:
                metrics.RUNTIME_ERRORS.labels("history").inc()
                log.exception("history write failed; retrying")
                await asyncio.sleep(self._retry_seconds)
                self._wake.set()
            else:
                await asyncio.sleep(self._interval)

    async def _collect(self, capture: Capture, encoded: Awaitable[list[bytes]]) -> None:
        try:
            state, picture = await encoded
        except forked.ForkFailed as error:
            self._fork_failed_with(error)
            self._last_snapshot = 0.0  # due again at once, encoded here this time
        else:
            self._pending_snapshot = (capture.seq, capture.at, state, picture)
            self._wake.set()
        finally:
            self._capturing = None

    def _fork_failed_with(self, error: forked.ForkFailed) -> None:
        metrics.RUNTIME_ERRORS.labels("snapshot").inc()
        log.warning("snapshot could not be encoded in a forked process (%s); from now on it is "
                    "encoded in this one", error)  # fmt: skip
        self._fork_failed = True
