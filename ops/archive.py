"""``lagezentrum archive``: reports and situation changes from Kafka into PostgreSQL/TimescaleDB.

Two consumers in the group ``lagezentrum-archive``:

- the report topic → the report log table (:class:`~ingest.store.PostgresReportLog`; a broadcast
  report is kept once, its copy 0; the log's own duplicate rule drops re-deliveries), so reports
  stay queryable and auditable with the embedded mode's schema and retention;
- the situation topic → the history store, every change under the same ``seq`` an API instance
  gives it (the sum of the next offsets of all partitions, see
  :mod:`situation_api.bus_source`), so the API's history queries line up with its stream; and
  every escalation level change into the operator journal (the archive is the one process that
  reads them all; see :class:`~situation_api.journal.service.BusLevelJournal`).

Offsets are committed after the rows are committed: at-least-once, and both stores ignore what
they already hold.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import msgspec

from correlation.changes import DistrictLevelChanged, decode_change, encode_change
from ingest.bus.publisher import RAW_HEADER
from ingest.bus.wire import copy_of, decode_from_bus
from ingest.errors import ReportInvalid
from ingest.report import Report
from ingest.store import Database, PostgresReportLog
from ops.kafka.topics import REPORTS_TOPIC, SITUATION_TOPIC
from situation_api.history import PostgresHistoryStore, StoredChange
from situation_api.journal import PostgresJournal
from situation_api.journal.service import BusLevelJournal

log = logging.getLogger(__name__)


class Archive:
    def __init__(self, bootstrap: str, database_url: str, *, group: str = "lagezentrum-archive"):
        self._bootstrap = bootstrap
        self._url = database_url
        self._group = group
        self._tasks: list[asyncio.Task[None]] = []
        self._clients: list[Any] = []
        self._db: Database | None = None
        self.reports = 0
        self.changes = 0

    async def start(self) -> None:
        from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]

        self._db = await Database.connect(self._url)
        report_log = await PostgresReportLog.open(self._db)
        history = await PostgresHistoryStore.open(self._db)
        levels = BusLevelJournal(await PostgresJournal.open(self._db))
        await levels.start()
        reports = AIOKafkaConsumer(
            REPORTS_TOPIC,
            bootstrap_servers=self._bootstrap,
            group_id=f"{self._group}-reports",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        # The history seq needs every partition of the situation topic: one consumer, assigned
        # all of them, positions from the group's committed offsets.
        situation = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            group_id=f"{self._group}-situation",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        for client in (reports, situation):
            await client.start()
            self._clients.append(client)
        cluster = await situation._client.fetch_all_metadata()
        partitions = cluster.partitions_for_topic(SITUATION_TOPIC) or set()
        situation.assign([TopicPartition(SITUATION_TOPIC, p) for p in sorted(partitions)])
        self._tasks = [
            asyncio.create_task(self._reports(reports, report_log), name="archive-reports"),
            asyncio.create_task(
                self._situation(situation, history, levels), name="archive-situation"
            ),
        ]

    async def wait(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set. A consumer that fails (the database gone, say) ends the
        wait with its exception: the process exits non-zero and its supervisor restarts it,
        which at-least-once delivery makes safe, instead of living on without archiving."""
        stopper = asyncio.create_task(stop.wait(), name="archive-stop")
        try:
            done, _ = await asyncio.wait(
                [stopper, *self._tasks], return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            stopper.cancel()
        for task in done:
            if task is not stopper and not task.cancelled():
                error = task.exception()
                if error is not None:
                    raise error

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        # A consumer's failure was raised by :meth:`wait` already; closing must go on.
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for client in self._clients:
            await client.stop()
        if self._db is not None:
            await self._db.close()
        self._tasks, self._clients, self._db = [], [], None

    async def _reports(self, consumer: Any, report_log: PostgresReportLog) -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=500, max_records=2_000)
            items: list[tuple[Report, bytes]] = []
            for records in batches.values():
                for record in records:
                    copy = copy_of(record.headers or ())
                    if copy is not None and copy[0] != 0:
                        continue
                    try:
                        report = decode_from_bus(record.value, record.offset)
                    except ReportInvalid:
                        continue  # the correlation worker dead-letters it
                    raw = dict(record.headers or ()).get(RAW_HEADER, record.value)
                    items.append((msgspec.structs.replace(report, offset=None), raw))
            if items:
                await report_log.append(items)
                self.reports += len(items)
            if batches:
                await consumer.commit()

    async def _situation(
        self, consumer: Any, history: PostgresHistoryStore, levels: BusLevelJournal
    ) -> None:
        from aiokafka import TopicPartition

        tps = sorted(consumer.assignment(), key=lambda tp: tp.partition)
        starts = await consumer.beginning_offsets(tps)
        position: dict[int, int] = {}
        for tp in tps:
            committed = await consumer.committed(tp)
            position[tp.partition] = max(committed or 0, starts[tp])
            consumer.seek(tp, position[tp.partition])
        seq = sum(position.values())
        while True:
            batches = await consumer.getmany(timeout_ms=500, max_records=5_000)
            stored: list[StoredChange] = []
            level_changes: list[tuple[int, DistrictLevelChanged, int]] = []
            for tp, records in sorted(batches.items(), key=lambda item: item[0].partition):
                for record in records:
                    seq += record.offset + 1 - position[tp.partition]
                    position[tp.partition] = record.offset + 1
                    key = (record.key or b"").decode(errors="replace")
                    if record.value is None or key.startswith("clock:"):
                        continue
                    try:
                        decoded = decode_change(record.value)
                    except msgspec.MsgspecError:
                        continue
                    if isinstance(decoded, DistrictLevelChanged):
                        level_changes.append((tp.partition, decoded, seq))
                    change = msgspec.structs.replace(decoded, seq=seq)
                    stored.append(StoredChange.of(change, encode_change(change)))
            if stored:
                await history.append(stored)
                self.changes += len(stored)
            for partition, level_change, at_seq in level_changes:
                await levels.record(partition, level_change, at_seq)
            if batches:
                await consumer.commit(
                    {TopicPartition(SITUATION_TOPIC, p): off for p, off in position.items()}
                )
