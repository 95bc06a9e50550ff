"""``lagezentrum correlate``: the correlation worker on faust-streaming.

One faust app (``lagezentrum-correlate``) consumes ``lz.reports.v1``; faust assigns its partitions
to the running workers (a consumer group) and moves them on when a worker joins or dies. For each
assigned partition the worker runs one :class:`~ops.workers.partition.PartitionEngine` — the
same pure engine as the embedded mode — and writes the changes to ``lz.situation.v1`` on the
same partition number. Engine state lives in the faust table ``engine-state`` (in-memory store,
changelog topic ``lagezentrum-correlate-engine-state-changelog`` with the source's partition
count): per partition a snapshot plus a journal of the records since (see partition.py), restored
from the changelog when a partition is assigned. Records with header ``lz-kind: action`` are
operator actions (see partition.py); they take the same path as reports.

Order of effects per batch: changes published and acknowledged → journal written → source
offsets committed (faust flushes the changelog before it commits). A worker killed at any point
therefore loses no report and publishes no incident twice under another id. Two rules keep that
order true:

- Deriving changes and sending them is one step under a lock, shared by the batches and the
  clock tick. Otherwise a tick's views, derived first, could reach the topic after a batch's newer
  views of the same incident and leave the compacted topic (and every API) showing the old one.
- A batch whose records cannot be published is sent again until the broker takes them (views are
  idempotent); any other failure ends the process at once. ``take_events`` acknowledges a batch
  even when its body raised, and a committed offset whose report was never journalled would be
  lost to the next worker; a hard exit commits nothing, and recovery re-reads the batch.

Where a partition is read from is decided by the state, not by faust's consumer position, which
can move past records the worker never saw (see realign.py). The faust app itself (topics, table,
agent, timer, the consumer's positions) is wired in faust_app.py.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Protocol

import msgspec

from correlation.changes import EncodedChange
from correlation.engines import DEFAULT_ENGINE, EngineKind
from correlation.rules import Rules
from ops.kafka.topics import REPORTS_TOPIC, TopicSpec
from ops.workers.partition import (
    PartitionEngine,
    action_prefix,
    clock_key,
    encode_clock,
    encode_situation,
    journal_prefix,
    table_key,
)
from ops.workers.realign import SKIP, Realign
from ops.workers.snapshots import (
    CHUNK_BYTES,
    chunk_key,
    manifest_key,
    manifest_of,
    read_snapshot,
    snapshot_records,
    stale_chunks,
)

log = logging.getLogger(__name__)

APP_ID: Final = "lagezentrum-correlate"
TABLE: Final = "engine-state"
EXIT_UNEXPECTED: Final = 70  # EX_SOFTWARE: the supervisor restarts the worker
RETRY_FIRST_S: Final = 0.5
RETRY_MAX_S: Final = 5.0


def changelog_topic(app_id: str = APP_ID) -> str:
    return f"{app_id}-{TABLE}-changelog"


def changelog_spec(partitions: int, replication_factor: int = 1, app_id: str = APP_ID) -> TopicSpec:
    """The state table's changelog, declared up front like every other topic."""
    return TopicSpec(
        changelog_topic(app_id),
        partitions,
        replication_factor,
        {"cleanup.policy": "compact", "min.insync.replicas": str(min(2, replication_factor))},
    )


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    bootstrap: str
    partitions: int
    replication_factor: int = 1
    app_id: str = APP_ID
    rules_file: str | None = None
    engine: EngineKind = DEFAULT_ENGINE
    snapshot_every: int = 2_000
    snapshot_chunk_bytes: int = CHUNK_BYTES
    tick_seconds: float = 1.0
    batch: int = 500
    batch_seconds: float = 0.005


_now: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One record to publish (faust topic, key, value, partition, headers)."""

    topic: Any
    key: bytes | None
    value: bytes | None
    partition: int | None = None
    headers: list[tuple[str, bytes]] | None = None


class Positions(Protocol):
    """The read positions of the report partitions assigned to this worker."""

    def ready(self) -> bool:
        """Tables restored and no rebalance under way."""
        ...

    async def ends(self) -> dict[int, int]:
        """Log end offset of each assigned report partition."""
        ...

    async def earliest(self, partition: int) -> int: ...

    async def seek(self, partition: int, offset: int) -> None: ...


class Correlator:
    """The worker's logic around faust: engines per partition, publishing, journalling."""

    def __init__(
        self,
        config: WorkerConfig,
        table: Any,
        situation: Any,
        deadletter: Any,
        positions: Positions | None = None,
    ) -> None:
        self.config = config
        self.rules = Rules.load(config.rules_file) if config.rules_file else None
        self.table = table
        self.situation = situation
        self.deadletter = deadletter
        self.engines: dict[int, PartitionEngine] = {}
        self.positions = positions
        self.realign = Realign()
        self._order = asyncio.Lock()  # derive-and-publish is one step (see the module docstring)

    def engine_for(self, partition: int) -> PartitionEngine:
        engine = self.engines.get(partition)
        if engine is None:
            data = self.table.data
            items = list(data.items())
            journal = _entries(items, journal_prefix(partition))
            actions = _entries(items, action_prefix(partition))
            snapshot = read_snapshot(partition, data.get)
            engine = PartitionEngine.recover(
                partition,
                self.config.partitions,
                snapshot,
                journal,
                actions=actions,
                rules=self.rules,
                kind=self.config.engine,
            )
            self.engines[partition] = engine
            current = manifest_of(data.get(manifest_key(partition)))
            for key in stale_chunks(partition, [key for key, _ in items], current):
                self._put(partition, key, None)  # left by a worker killed while snapshotting
            log.info(
                "partition %d recovered at offset %d (journal %d, actions %d)",
                partition,
                engine.offset,
                len(journal),
                len(actions),
            )
        return engine

    def revoke(self, partitions: Sequence[int]) -> None:
        for partition in partitions:
            self.engines.pop(partition, None)
            self.realign.forget(partition)

    async def handle(self, records: Sequence[tuple[int, int, bytes | None, bool]]) -> None:
        """Records ``(partition, offset, value, is_action)`` in arrival order."""
        by_partition: dict[int, list[tuple[int, bytes | None, bool]]] = defaultdict(list)
        for partition, offset, value, action in records:
            by_partition[partition].append((offset, value, action))
        async with self._order:
            await self._handle(by_partition)

    async def _handle(self, by_partition: dict[int, list[tuple[int, bytes | None, bool]]]) -> None:
        outgoing: list[Outgoing] = []
        done: list[tuple[PartitionEngine, list[tuple[int, bytes, bool]]]] = []
        for partition, items in by_partition.items():
            engine = self.engine_for(partition)
            if not await self._in_order(engine, items[0][0]):
                continue
            applied: list[tuple[int, bytes, bool]] = []
            changes: list[EncodedChange] = []
            for offset, value, action in items:
                derived = engine.handle(offset, value, action=action)
                if derived is None:
                    continue
                changes.extend(derived)
                if value is not None:
                    applied.append((offset, value, action))
            outgoing.extend(self._situation(engine, changes))
            for rejected in engine.rejected:
                outgoing.append(
                    Outgoing(
                        self.deadletter,
                        None,
                        msgspec.json.encode(
                            {
                                "topic": REPORTS_TOPIC,
                                "partition": partition,
                                "offset": rejected.offset,
                                "field": rejected.field,
                                "reason": rejected.reason,
                            }
                        ),
                        headers=[
                            ("lz-field", rejected.field.encode()),
                            ("lz-reason", rejected.reason.encode()),
                        ],
                    )
                )
            engine.rejected.clear()
            done.append((engine, applied))
        await self._deliver(outgoing)
        for engine, applied in done:
            self._journal(engine, applied)

    async def tick(self) -> None:
        async with self._order:
            now = _now()
            outgoing: list[Outgoing] = []
            for engine in list(self.engines.values()):
                outgoing.extend(self._situation(engine, engine.tick(now)))
            await self._deliver(outgoing)
        await self._unstall()

    async def _in_order(self, engine: PartitionEngine, first: int) -> bool:
        """Whether records from offset ``first`` on may be applied to ``engine`` now; seeks back
        when the consumer skipped records the state has not applied."""
        positions = self.positions
        if positions is None:
            return True
        partition = engine.partition
        seek = self.realign.gap(partition, engine.offset, first)
        if seek is None:
            return True
        if seek == SKIP:
            return False
        earliest = await positions.earliest(partition)
        if earliest > seek:
            self.realign.gone(partition)
            log.error(
                "partition %d: reports %d..%d were deleted from the topic before this worker's "
                "state applied them",
                partition,
                seek,
                earliest - 1,
            )
            return True
        log.warning(
            "partition %d: the consumer skipped to offset %d, the state needs %d; seeking back",
            partition,
            first,
            seek,
        )
        await positions.seek(partition, seek)
        return False

    async def _unstall(self) -> None:
        """Seek back partitions with records the state has not applied and no progress."""
        positions = self.positions
        if positions is None or not positions.ready():
            return
        now = time.monotonic()
        for partition, end in (await positions.ends()).items():
            engine = self.engine_for(partition)
            seek = self.realign.stalled(partition, engine.offset, end, now)
            if seek is not None:
                log.warning(
                    "partition %d: %d reports behind and no progress for %.0f s; reading again "
                    "from offset %d",
                    partition,
                    end - seek,
                    self.realign.stall_seconds,
                    seek,
                )
                await positions.seek(partition, seek)

    def _situation(
        self, engine: PartitionEngine, changes: Sequence[EncodedChange]
    ) -> list[Outgoing]:
        partition = engine.partition
        out = [
            Outgoing(self.situation, key, value, partition)
            for change in engine.owned(changes)
            for key, value in encode_situation(change)
        ]
        # after the changes, on the same partition: an API that reads an action's outcome here
        # already shows what the action changed
        if changes or engine.outcomes:
            out.append(
                Outgoing(
                    self.situation,
                    clock_key(partition),
                    encode_clock(engine.clock()),
                    partition,
                )
            )
            engine.outcomes.clear()
        return out

    async def _deliver(self, outgoing: Sequence[Outgoing]) -> None:
        """Publish ``outgoing`` in order and wait for every acknowledgement. On a failure all of
        them are sent again, in the same order, until the broker takes them: a view or clock
        record that arrives twice changes nothing, and nothing may be journalled before its
        changes are out."""
        delay = RETRY_FIRST_S
        while outgoing:
            try:
                futures = [
                    await out.topic.send(
                        key=out.key,
                        value=out.value,
                        partition=out.partition,
                        headers=out.headers,
                        force=True,  # now, not attached to a source offset (faust's default)
                    )
                    for out in outgoing
                ]
                await asyncio.gather(*futures)
                return
            except Exception as error:  # whatever the client raised: retry
                log.warning(
                    "publishing %d records failed (%s); sending them again in %.1f s",
                    len(outgoing),
                    error,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)

    def _journal(self, engine: PartitionEngine, applied: list[tuple[int, bytes, bool]]) -> None:
        partition = engine.partition
        for offset, value, action in applied:
            key = table_key(partition, offset, action=action)
            self._put(partition, key, value)
            engine.journal.append(key)
        if len(engine.journal) >= self.config.snapshot_every:
            previous = manifest_of(self.table.data.get(manifest_key(partition)))
            blob = engine.snapshot()
            chunk = self.config.snapshot_chunk_bytes
            for key, value in snapshot_records(partition, engine.offset, blob, chunk):
                self._put(partition, key, value)
            if previous is not None and previous.generation != engine.offset:
                for index in range(previous.chunks):
                    self._put(partition, chunk_key(partition, previous.generation, index), None)
            for key in engine.journal:
                self._put(partition, key, None)
            engine.journal.clear()

    def _put(self, partition: int, key: bytes, value: bytes | None) -> None:
        data = self.table.data
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
        self.table.send_changelog(partition, key, value)


def _entries(items: Sequence[tuple[bytes, bytes | None]], prefix: bytes) -> list[tuple[int, bytes]]:
    """``(offset, value)`` of the state-table entries under ``prefix``."""
    return [
        (int(key[len(prefix) :]), value)
        for key, value in items
        if key.startswith(prefix) and value is not None
    ]
