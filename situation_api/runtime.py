"""The in-process runner of the embedded mode: report log → engine → history → stream.

One task owns the engine. It tails the log in offset order (woken by ``wait_for`` the moment a
commit lands), feeds each report to the engine, publishes the resulting changes to the stream hub
at once, then appends them to the history store and, every so often, saves a snapshot. The same
task advances the engine clock on a periodic tick, so lifecycle timers fire with no new reports.

Determinism across restarts. Before each report the engine clock is advanced to the report's
``received_at``, which the log stores. Ticks in between only fire timers earlier than the next
report would have fired them, in the same order and with the same seqs; so restoring a snapshot
and re-processing the log after its offset derives exactly the changes the crashed process had
derived (the history store keeps the first copy: it appends only above its stored head), and the
stream's ``seq`` simply continues. The log is the source of truth: a crash between a commit and
its processing loses nothing.

Snapshots store ``RuntimeState`` (the log offset they cover + the engine's own snapshot) in the
history store's opaque ``engine_state`` column, so the offset is saved atomically with the state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import msgspec

from correlation.actions import AnyAction
from correlation.changes import Change, EncodedChange
from correlation.engines import DEFAULT_ENGINE, SituationEngine, engine_type, factories
from correlation.picture import Picture, picture_json
from ingest.report import Report
from ingest.store.port import ReportLog
from situation_api import metrics
from situation_api.history import HistoryStore, StoredChange
from situation_api.history_writer import Capture, HistoryWriter, Pack
from situation_api.progress import Progress

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Subscriber = Callable[[Sequence[tuple[int, bytes]]], None]


def wall_clock() -> datetime:
    return datetime.now(UTC)


class RuntimeState(msgspec.Struct, frozen=True):
    """What a snapshot stores: the engine state, the log offset it has consumed and, per thread
    (``"source:source_id"``), the log offset of its latest version (for the incident details)."""

    offset: int
    engine: bytes
    threads: dict[str, int] = {}
    version: int = 1
    actions: int = 0  # journal seq of the last operator action applied


@dataclass(frozen=True, slots=True)
class PendingAction:
    """A journaled operator action still to apply on recovery: right after log ``offset``."""

    seq: int
    offset: int
    action: AnyAction


ActionsAfter = Callable[[int], Awaitable[list[PendingAction]]]
"""``journal seq -> the operator actions journaled after it``, in journal order."""


_state_encoder: Final = msgspec.msgpack.Encoder()
_state_decoder: Final = msgspec.msgpack.Decoder(RuntimeState)


@dataclass(frozen=True, slots=True)
class RuntimeConfig:
    tick_seconds: float = 1.0
    snapshot_interval: float = 60.0
    # A snapshot holds the event loop while it encodes the whole state (~0.2 s at 2,000 open
    # incidents), so under load it is taken about once a minute, not every few seconds.
    snapshot_changes: int = 100_000
    batch: int = 1_000  # log entries read per round
    # ... and handled in slices of this many, yielding to the event loop in between: a round
    # that has fallen behind must not hold every POST and websocket write for its whole length,
    # and a commit's continuation waits behind one slice at most (10: ~1-2 ms of engine work;
    # bench live's POST→delta p99 was 73-137 ms over eight runs with 10, 80-137 over six with 50)
    slice_size: int = 10
    # History is written at most this often: each write is a transaction and a COPY whose fixed
    # costs (round trips, commit) would otherwise recur for every few changes under load; the
    # queries read unwritten changes from memory, and a crash loses none (history_writer.py)
    history_interval: float = 0.25
    retry_seconds: float = 1.0


def apply_log(
    engine: SituationEngine, reports: Sequence[Report], threads: dict[str, int] | None = None
) -> list[EncodedChange]:
    """Feed log entries to the engine exactly as the runtime does; return the changes.

    Every entry first advances the clock to its receipt time (see the module docstring); the
    engine itself ignores reports of another status than its own. ``threads`` collects the
    offset of each thread's latest version.
    """
    changes: list[EncodedChange] = []
    for report in reports:
        try:
            changes.extend(engine.process_entry(report))
        except Exception:
            # A report the engine cannot digest must not stop the picture for everyone; the
            # same failure recurs on replay, so skipping it keeps replays identical.
            metrics.RUNTIME_ERRORS.labels("engine").inc()
            log.exception("engine failed on report at offset %s", report.offset)
        if threads is not None and report.offset is not None:
            threads[report.thread] = report.offset
    return changes


async def replay_log(
    log_: ReportLog, *, engine: SituationEngine | None = None, after: int = 0, batch: int = 5_000
) -> tuple[SituationEngine, int]:
    """A fresh engine (or ``engine``) run over the log after ``after``: the reference picture."""
    engine = engine if engine is not None else engine_type()()
    offset = after
    while True:
        reports = await log_.read(offset, batch)
        if not reports:
            return engine, offset
        apply_log(engine, reports)
        offset = reports[-1].offset or offset + len(reports)


class Runtime:
    """Owns the engine; also the stream hub's :class:`~situation_api.stream.PictureSource`."""

    def __init__(
        self,
        report_log: ReportLog,
        history: HistoryStore,
        *,
        engine_factory: Callable[[], SituationEngine] | None = None,
        restore: Callable[[bytes], SituationEngine] | None = None,
        clock: Clock = wall_clock,
        config: RuntimeConfig | None = None,
        actions_after: ActionsAfter | None = None,
    ) -> None:
        self._log = report_log
        self._actions_after = actions_after
        # Reports and operator actions reach the engine one at a time, in one order: the order
        # the journal records (an action's log offset) and a replay repeats.
        self._lock = asyncio.Lock()
        self._pending: deque[PendingAction] = deque()
        self.actions_seq = 0
        self._history = history
        default_factory, default_restore = factories(DEFAULT_ENGINE)
        self._engine_factory = engine_factory or default_factory
        self._restore = restore or default_restore
        self._clock = clock
        self._config = config or RuntimeConfig()
        self._engine: SituationEngine | None = None
        self._subscribers: list[Subscriber] = []
        self._task: asyncio.Task[None] | None = None
        config = self._config
        self._writer = HistoryWriter(
            history,
            interval=config.history_interval,
            retry_seconds=config.retry_seconds,
            snapshot_interval=config.snapshot_interval,
            snapshot_changes=config.snapshot_changes,
            snapshot_offsets=config.batch * 10,
        )
        self._picture_cache: tuple[int, str | None, bytes] | None = None
        self._threads: dict[str, int] = {}
        self._progress = Progress()
        self.offset = 0  # highest log offset processed
        self.log_offset = 0  # highest log offset known to exist
        self.ready = False  # caught up with the log as it was at start
        self.started_offset = 0

    # -- PictureSource ---------------------------------------------------------------------------

    @property
    def engine(self) -> SituationEngine:
        if self._engine is None:
            raise RuntimeError("the runtime has not been started")
        return self._engine

    @property
    def seq(self) -> int:
        return self.engine.seq

    def picture(self) -> Picture:
        return self.engine.picture()

    def as_of(self) -> str | None:
        return self.engine.as_of

    def thread_offset(self, thread: str) -> int | None:
        """Log offset of the latest version of thread ``"source:source_id"`` processed."""
        return self._threads.get(thread)

    def initial_picture(self) -> Picture:
        """The picture of a fresh engine (every district at level 0)."""
        return self._engine_factory().picture()

    def picture_json(self) -> bytes:
        """The live picture as canonical JSON, encoded once per (seq, as_of)."""
        engine = self.engine
        cached = self._picture_cache
        if cached is None or cached[0] != engine.seq or cached[1] != engine.as_of:
            picture = engine.picture()
            self._picture_cache = cached = (picture.seq, picture.as_of, picture_json(picture))
        return cached[2]

    # -- life cycle ------------------------------------------------------------------------------

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    async def start(self) -> None:
        """Restore from the latest snapshot, then tail the log in the background."""
        await self._recover()
        self.engine.districts.prepare()  # not on the first report's time
        self._writer.start()
        self._task = asyncio.create_task(self._run(), name="runtime")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._writer.stop(self._capture if self._engine is not None else None)

    @property
    def lag(self) -> int:
        return max(self.log_offset - self.offset, 0)

    async def wait_processed(self, offset: int, timeout: float) -> bool:
        """Wait until the engine has processed the log up to ``offset``."""
        return await self._progress.wait_until(lambda: self.offset >= offset, timeout)

    def unwritten(self) -> list[StoredChange]:
        """Changes published but not yet in the history store, in seq order (queries that read
        the history add these so they never lag behind the stream)."""
        return self._writer.unwritten()

    async def history_since(self, after: int, limit: int) -> list[tuple[int, bytes]]:
        stored = await self._history.since(after, limit)
        return [(c.seq, c.payload) for c in stored]

    # -- internals -------------------------------------------------------------------------------

    async def _recover(self) -> None:
        snapshot = await self._history.latest_snapshot()
        if snapshot is None:
            self._engine = self._engine_factory()
            self.offset = 0
        else:
            state = _state_decoder.decode(snapshot.state)
            self._engine = self._restore(state.engine)
            self.offset = state.offset
            self._threads = dict(state.threads)
            self.actions_seq = state.actions
            log.info(
                "restored snapshot",
                extra={"seq": self._engine.seq, "offset": state.offset},
            )
        self._writer.recovered(
            head=await self._history.head(),
            snapshot_seq=self._engine.seq if snapshot is not None else 0,
            offset=self.offset,
        )
        self.log_offset = self.started_offset = await self._log.last_offset()
        metrics.LOG_OFFSET.set(self.log_offset)
        self._set_offset_metrics()
        if self._actions_after is not None:
            self._pending.extend(await self._actions_after(self.actions_seq))
            self._emit(self._due_actions(self.offset))
        if self.offset >= self.log_offset:
            self.ready = True

    async def act(self, action: AnyAction, record: Callable[[int], Awaitable[int]]) -> list[Change]:
        """Apply an operator action now: checked against the engine (raises
        :class:`~correlation.errors.CorrelationError`, nothing recorded), then made durable by
        ``record(offset)`` (the journal; returns the entry's seq), then applied and published.
        The offset passed is the log offset the engine has processed: a replay applies the
        action at the same place."""
        async with self._lock:
            self.engine.check(action)
            self.actions_seq = await record(self.offset)
            changes = self._apply_action(action)
            self._emit([EncodedChange.of(change) for change in changes])
            self._notify()
            return changes

    def _apply_action(self, action: AnyAction) -> list[Change]:
        try:
            return self.engine.act(action)
        except Exception:
            # as for reports: the same failure recurs on replay, so skipping keeps it identical
            metrics.RUNTIME_ERRORS.labels("engine").inc()
            log.exception("engine failed on operator action %s", type(action).__name__)
            return []

    def _due_actions(self, offset: int) -> list[EncodedChange]:
        """Apply the pending journaled actions recorded at or before log ``offset``."""
        changes: list[EncodedChange] = []
        while self._pending and self._pending[0].offset <= offset:
            pending = self._pending.popleft()
            changes.extend(EncodedChange.of(c) for c in self._apply_action(pending.action))
            self.actions_seq = pending.seq
        return changes

    async def _run(self) -> None:
        config = self._config
        next_tick = time.monotonic() + config.tick_seconds
        while True:
            try:
                async with self._lock:
                    reports = await self._log.read(self.offset, config.batch)
                    for start in range(0, len(reports), config.slice_size):
                        if start:
                            await asyncio.sleep(0)
                        self._handle_reports(reports[start : start + config.slice_size])
                    if not reports and self.offset >= self.started_offset:
                        self.ready = True
                if time.monotonic() >= next_tick:
                    next_tick = time.monotonic() + config.tick_seconds
                    async with self._lock:
                        self._handle_tick()
                    self.log_offset = max(await self._log.last_offset(), self.offset)
                    self._set_offset_metrics()
                self._writer.maybe_snapshot(self.engine.seq, self.offset, self._capture)
                if not reports:
                    timeout = max(next_tick - time.monotonic(), 0.0)
                    if timeout > 0 and await self._log.wait_for(self.offset, timeout):
                        self.log_offset = max(self.log_offset, self.offset + 1)
                        self._set_offset_metrics()
            except asyncio.CancelledError:
                raise
            except Exception:
                metrics.RUNTIME_ERRORS.labels("loop").inc()
                log.exception("runtime round failed; retrying")
                await asyncio.sleep(config.retry_seconds)

    def _handle_reports(self, reports: Sequence[Report]) -> None:
        started = time.perf_counter()
        if self._pending:
            changes = self._interleave(reports)
        else:
            changes = apply_log(self.engine, reports, self._threads)
        last = reports[-1].offset
        self.offset = last if last is not None else self.offset + len(reports)
        self.log_offset = max(self.log_offset, self.offset)
        self._emit(changes)
        metrics.PROCESSING_LATENCY.observe(time.perf_counter() - started)
        if self.ready:
            now = datetime.now(UTC)
            for report in reports:
                if report.received_at is not None:
                    metrics.POST_TO_DELTA.observe((now - report.received_at).total_seconds())
        self._set_offset_metrics()
        self._notify()

    def _interleave(self, reports: Sequence[Report]) -> list[EncodedChange]:
        """Reports with the pending actions recorded between them (on recovery only)."""
        changes: list[EncodedChange] = []
        start = 0
        for index, report in enumerate(reports):
            offset = report.offset
            if offset is not None and self._pending and self._pending[0].offset < offset:
                changes.extend(apply_log(self.engine, reports[start:index], self._threads))
                start = index
                changes.extend(self._due_actions(offset - 1))
        changes.extend(apply_log(self.engine, reports[start:], self._threads))
        last = reports[-1].offset
        if last is not None:
            changes.extend(self._due_actions(last))
        return changes

    def _handle_tick(self) -> None:
        self._emit(self.engine.advance_encoded(self._clock()))

    def _emit(self, changes: Sequence[EncodedChange]) -> None:
        if not changes:
            return
        encoded = [(change.seq, change.payload) for change in changes]
        for subscriber in self._subscribers:
            try:
                subscriber(encoded)
            except Exception:
                metrics.RUNTIME_ERRORS.labels("publish").inc()
                log.exception("stream subscriber failed")
        for entity, count in Counter(change.entity for change in changes).items():
            metrics.CHANGES.labels(entity).inc(count)
        metrics.ENGINE_SEQ.set(self.engine.seq)
        self._writer.add(changes)

    def _capture(self) -> Capture:
        """The state now, for a snapshot (consistent: no await)."""
        engine = self.engine
        offset, threads, actions = self.offset, self._threads, self.actions_seq
        at = datetime.fromisoformat(engine.as_of) if engine.as_of else datetime.now(UTC)

        def encode(pack: Pack) -> list[bytes]:
            state = RuntimeState(
                offset=offset, engine=engine.snapshot(), threads=threads, actions=actions
            )
            return [pack(_state_encoder.encode(state)), pack(picture_json(engine.picture()))]

        return Capture(engine.seq, offset, at, encode)

    def _set_offset_metrics(self) -> None:
        metrics.PROCESSED_OFFSET.set(self.offset)
        metrics.LOG_OFFSET.set(self.log_offset)
        metrics.ENGINE_LAG.set(self.lag)

    def _notify(self) -> None:
        self._progress.notify()


def runtime_info(runtime: Runtime) -> dict[str, Any]:
    return {
        "seq": runtime.seq,
        "offset": runtime.offset,
        "log_offset": runtime.log_offset,
        "lag": runtime.lag,
        "ready": runtime.ready,
    }
