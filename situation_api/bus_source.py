"""The picture of the distributed mode: rebuilt from ``lz.situation.v1`` and followed live.

:class:`BusPicture` takes the place of the embedded :class:`~situation_api.runtime.Runtime` for
the routes and the stream hub. At start it reads the compacted situation topic from the beginning
(every partition, no consumer group: each API instance holds the whole picture), applies each
change's entity view (a tombstone removes the entity), and is ready once it reached the end
offsets it saw at start; then it follows the topic and hands every change to its subscribers.

Sequence numbers. ``seq`` is the sum over all partitions of the next offset to read. It strictly
increases with every record applied and depends only on WHICH records were applied, not on the
order partitions were interleaved: two instances that have consumed the same offsets report the
same ``seq`` for the same picture. Records that change nothing visible (clock records,
tombstones after their change) leave gaps. A client reconnecting with ``since`` to another
instance may therefore be sent a snapshot rather than deltas.

For operator actions (:mod:`situation_api.bus_actions`) it also remembers which partition
published each incident (the one whose engine holds it) and the outcomes of actions that the
workers' clock records report.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, Final

import msgspec

from correlation.changes import (
    CapacityUpdated,
    Change,
    IncidentClosed,
    WarningExpired,
    decode_change,
    encode_change,
)
from correlation.engine import Engine
from correlation.picture import Picture, picture_json
from situation_api import metrics
from situation_api.history import StoredChange
from situation_api.progress import Progress

log = logging.getLogger(__name__)

Subscriber = Callable[[Sequence[tuple[int, bytes]]], None]


class _Clock(msgspec.Struct):
    """What an API instance reads of a worker's clock record (``ops.workers.partition``)."""

    as_of: str | None = None
    actions: list[tuple[int, str | None]] = []


_clock_decoder: Final = msgspec.json.Decoder(_Clock)
OUTCOMES: Final = 10_000  # action outcomes remembered for callers waiting on them


class NotSeen:
    """The outcome of an action the picture has not seen handled (yet)."""


NOT_SEEN: Final = NotSeen()


class _EngineClock:
    """What export code reads from ``runtime.engine``: the picture time."""

    def __init__(self, owner: BusPicture) -> None:
        self._owner = owner

    @property
    def as_of(self) -> str | None:
        return self._owner.as_of()


class BusPicture:
    """Picture source of an API instance in the distributed mode (see the module docstring)."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        *,
        initial: Callable[[], Picture] | None = None,
        client_id: str = "lagezentrum-api",
    ) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self._initial = initial or (lambda: Engine().picture())
        self._client_id = client_id
        self._picture = self._initial()
        self._picture.seq = 0
        self._next: dict[int, int] = {}
        self._subscribers: list[Subscriber] = []
        self._consumer: Any = None
        self._task: asyncio.Task[None] | None = None
        self._cache: tuple[int, str | None, bytes] | None = None
        self._end: dict[int, int] = {}
        self._owners: dict[str, int] = {}  # incident id -> partition that publishes it
        self._outcomes: OrderedDict[int, str | None] = OrderedDict()
        self._progress = Progress()
        self.engine = _EngineClock(self)
        self.ready = False
        self.offset = 0
        self.log_offset = 0
        self.records = 0

    # -- PictureSource / Runtime surface -----------------------------------------------------------

    @property
    def seq(self) -> int:
        return self._picture.seq

    def picture(self) -> Picture:
        return self._picture.copy()

    def current(self) -> Picture:
        """The live picture itself, not a copy: read it, never change it."""
        return self._picture

    def as_of(self) -> str | None:
        return self._picture.as_of

    def picture_json(self) -> bytes:
        picture = self._picture
        cached = self._cache
        if cached is None or cached[0] != picture.seq or cached[1] != picture.as_of:
            self._cache = cached = (picture.seq, picture.as_of, picture_json(picture))
        return cached[2]

    def initial_picture(self) -> Picture:
        return self._initial()

    def thread_offset(self, thread: str) -> int | None:
        return None  # reports live on the report topic, not in this process

    def unwritten(self) -> list[StoredChange]:
        return []

    async def history_since(self, after: int, limit: int) -> list[tuple[int, bytes]]:
        return []  # the ring of the hub serves reconnects; older gaps get a snapshot

    @property
    def lag(self) -> int:
        return max(self.log_offset - self.offset, 0)

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    async def wait_seq(self, seq: int, timeout: float) -> bool:
        """Wait until ``seq`` reaches ``seq`` (tests and the benchmark)."""
        return await self._progress.wait_until(lambda: self.seq >= seq, timeout)

    # -- operator actions --------------------------------------------------------------------------

    @property
    def partitions(self) -> int:
        return len(self._next)

    def owner_of(self, incident_id: str) -> int | None:
        """The partition whose engine holds live incident ``incident_id``."""
        return self._owners.get(incident_id)

    async def outcome(self, journal_seq: int, timeout: float) -> str | NotSeen | None:
        """How the engine handled the action of journal entry ``journal_seq``: None (applied;
        this picture shows its changes), the reason it was not applied, or :data:`NOT_SEEN`
        if no worker reported it within ``timeout`` seconds."""
        outcomes = self._outcomes
        if await self._progress.wait_until(lambda: journal_seq in outcomes, timeout):
            return outcomes[journal_seq]
        return NOT_SEEN

    # -- life cycle --------------------------------------------------------------------------------

    async def start(self) -> None:
        from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]

        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            client_id=self._client_id,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=20,
        )
        await consumer.start()
        try:
            cluster = await consumer._client.fetch_all_metadata()
            partitions = cluster.partitions_for_topic(self._topic)
            if not partitions:
                raise RuntimeError(f"topic {self._topic} does not exist")
            tps = [TopicPartition(self._topic, p) for p in sorted(partitions)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps)
            starts = await consumer.beginning_offsets(tps)
        except BaseException:
            await consumer.stop()
            raise
        self._end = {tp.partition: off for tp, off in ends.items()}
        self._next = {tp.partition: 0 for tp in tps}
        # Offsets below a partition's start were deleted; they count as consumed.
        for tp, off in starts.items():
            self._next[tp.partition] = off
        self._picture.seq = sum(self._next.values())
        self.log_offset = sum(self._end.values())
        self.offset = self._picture.seq
        self._consumer = consumer
        self._check_ready()
        self._task = asyncio.create_task(self._run(), name="bus-picture")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            await consumer.stop()

    # -- internals ---------------------------------------------------------------------------------

    async def _run(self) -> None:
        consumer = self._consumer
        while True:
            try:
                batches = await consumer.getmany(timeout_ms=200, max_records=5_000)
            except asyncio.CancelledError:
                raise
            except Exception:
                metrics.RUNTIME_ERRORS.labels("bus").inc()
                log.exception("reading the situation topic failed; retrying")
                await asyncio.sleep(1.0)
                continue
            out: list[tuple[int, bytes]] = []
            for tp, records in sorted(batches.items(), key=lambda item: item[0].partition):
                for record in records:
                    encoded = self._apply(tp.partition, record.offset, record.key, record.value)
                    if encoded is not None:
                        out.append(encoded)
            if batches:
                self.offset = self.seq
                self.log_offset = max(self.log_offset, self.offset)
                self._check_ready()
                self._progress.notify()
            if out:
                for subscriber in self._subscribers:
                    try:
                        subscriber(out)
                    except Exception:
                        metrics.RUNTIME_ERRORS.labels("publish").inc()
                        log.exception("stream subscriber failed")

    def _check_ready(self) -> None:
        if not self.ready and all(self._next[p] >= end for p, end in self._end.items()):
            self.ready = True

    def _apply(
        self, partition: int, offset: int, key: bytes | None, value: bytes | None
    ) -> tuple[int, bytes] | None:
        picture = self._picture
        previous = self._next.get(partition, 0)
        if offset < previous:
            return None
        self._next[partition] = offset + 1
        seq = picture.seq + (offset + 1 - previous)
        self.records += 1
        name = (key or b"").decode(errors="replace")
        entity, _, ident = name.partition(":")
        change: Change | None = None
        if entity == "clock":
            if value is not None:
                with contextlib.suppress(msgspec.MsgspecError):
                    record = _clock_decoder.decode(value)
                    picture.advance(record.as_of)
                    for journal_seq, why in record.actions:
                        self._outcome(journal_seq, why)
            picture.seq = seq
            return None
        if value is None:
            change = _removal(entity, ident, seq, picture)
            if change is None:
                picture.seq = seq
                return None
        else:
            try:
                decoded = decode_change(value)
            except msgspec.MsgspecError:
                log.warning("undecodable record %s@%d:%d skipped", self._topic, partition, offset)
                picture.seq = seq
                return None
            change = msgspec.structs.replace(decoded, seq=seq)
        if entity == "incident":
            if change.view is None:
                self._owners.pop(ident, None)
            else:
                self._owners[ident] = partition
        picture.apply(change)
        return seq, encode_change(change)

    def _outcome(self, journal_seq: int, why: str | None) -> None:
        self._outcomes[journal_seq] = why
        self._outcomes.move_to_end(journal_seq)
        if len(self._outcomes) > OUTCOMES:
            self._outcomes.popitem(last=False)


def _removal(entity: str, ident: str, seq: int, picture: Picture) -> Change | None:
    """A tombstone whose change record was compacted away while this instance still shows the
    entity (cannot happen when the change record is read first; kept for safety)."""
    tables = {
        "incident": picture.incidents,
        "warning": picture.warnings,
        "capacity": picture.capacity,
    }
    table = tables.get(entity)
    if table is None or ident not in table:
        return None
    at = table[ident].get("last_seen") or table[ident].get("expires") or picture.as_of
    from datetime import datetime

    when = datetime.fromisoformat(str(at).replace("Z", "+00:00"))
    if entity == "incident":
        return IncidentClosed(seq=seq, at=when, entity="incident", id=ident, view=None)
    if entity == "warning":
        return WarningExpired(seq=seq, at=when, entity="warning", id=ident, view=None)
    return CapacityUpdated(seq=seq, at=when, entity="capacity", id=ident, view=None)


async def open_bus_services(settings: Any, url: str | None, *, stack: Any) -> Any:
    """The services of an API instance in the distributed mode: ingest routes publish to the
    report topic, the picture comes from the situation topic, history from PostgreSQL at ``url``
    when given (the archive writes it), else none beyond the in-memory ring. Operator actions
    and the journal need that database too (the journal is shared by every instance); without
    it their routes answer 503 naming the setting."""
    from correlation.rules import Rules
    from ingest.bus.publisher import KafkaReportLog
    from ingest.bus.regions import RegionOf
    from ingest.bus.url import bootstrap_of
    from ingest.store import Database, MemoryFeedStatusStore, PostgresFeedStatusStore
    from ingest.store.port import FeedStatusStore
    from situation_api.auth import MemoryTokenStore, PostgresTokenStore, TokenStore
    from situation_api.bus_actions import NO_DATABASE, BusActions
    from situation_api.history import HistoryStore, MemoryHistoryStore, PostgresHistoryStore
    from situation_api.journal import PostgresJournal
    from situation_api.journal.service import Journal
    from situation_api.services import Services
    from situation_api.stream import open_hub

    bootstrap = bootstrap_of(settings.bus)
    rules = Rules.load(settings.rules_file) if settings.rules_file else Rules.default()
    history: HistoryStore
    feeds: FeedStatusStore
    tokens: TokenStore
    journal: Journal | None = None
    if url is not None and url.startswith("postgres"):
        db = await Database.connect(url)
        stack.push_async_callback(db.close)
        history = await PostgresHistoryStore.open(db)
        feeds = await PostgresFeedStatusStore.open(db)
        tokens = await PostgresTokenStore.open(db)
        journal = Journal(await PostgresJournal.open(db))
    else:
        history, feeds = MemoryHistoryStore(), MemoryFeedStatusStore()
        tokens = MemoryTokenStore()
    publisher = KafkaReportLog(bootstrap, topic="lz.reports.v1", region=RegionOf(rules))
    await publisher.start()
    stack.push_async_callback(publisher.close)
    source = BusPicture(bootstrap, "lz.situation.v1", initial=lambda: Engine(rules=rules).picture())
    await source.start()
    stack.push_async_callback(source.stop)
    hub = await open_hub(source, settings, stack)
    extra: dict[str, Any]
    if journal is None:
        # one journal for all instances needs the shared database; none here: say so (503)
        extra = {"journal_missing": NO_DATABASE}
    else:
        extra = {"journal": journal, "bus_actions": BusActions(source, publisher, journal)}
    if settings.feeds_config is not None:
        from situation_api.app import start_pollers

        # the pollers publish like the ingest routes: to the report topic, acks=all
        await start_pollers(settings.feeds_config, publisher, feeds, stack)
    return Services(
        settings=settings,
        report_log=publisher,
        history=history,
        feeds=feeds,
        runtime=source,  # type: ignore[arg-type]  # the Runtime surface the routes use
        hub=hub,
        tokens=tokens,
        extra=extra,
    )
