"""The gate of the agency topics ``lz.feed.<agency>``.

Agencies may publish canonical reports (contract 1 JSON, one per record) straight to their topic
with any Kafka client. The gate, a consumer group, validates each record exactly like the HTTP
ingest (:func:`ingest.report.decode_report`) and checks that ``source`` names the topic's agency
(an agency cannot speak for another). A valid report is published to the report topic through
the same :class:`~ingest.bus.publisher.KafkaReportLog` as HTTP ingest; anything else goes to the
dead-letter topic with the original bytes as value and the field, reason and origin as headers.
Source offsets are committed only after the broker acknowledged where each record went, so
nothing is lost silently (at-least-once; a re-delivered report is a duplicate to the engine).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from ingest.bus.publisher import KafkaReportLog
from ingest.errors import ReportInvalid
from ingest.report import Report, decode_report

log = logging.getLogger(__name__)

FEED_PREFIX: Final = "lz.feed."


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the gate decided about one record: the report, or the field and reason it failed."""

    report: Report | None
    field: str = "$"
    reason: str = ""


def judge(topic: str, value: bytes | None) -> Verdict:
    """Validate one record of ``lz.feed.<agency>`` (pure)."""
    agency = topic[len(FEED_PREFIX) :] if topic.startswith(FEED_PREFIX) else ""
    if value is None or not value.strip():
        return Verdict(None, "$", "empty record")
    try:
        report = decode_report(value)
    except ReportInvalid as error:
        return Verdict(None, error.field, error.reason)
    if report.source != agency:
        return Verdict(
            None, "$.source", f"{report.source!r} may not be published on {topic} ({agency!r})"
        )
    return Verdict(report)


def deadletter_headers(
    topic: str, partition: int, offset: int, verdict: Verdict
) -> list[tuple[str, bytes]]:
    return [
        ("lz-origin", f"{topic}/{partition}/{offset}".encode()),
        ("lz-field", verdict.field.encode()),
        ("lz-reason", verdict.reason.encode()),
    ]


class FeedGate:
    """Consumes every ``lz.feed.<agency>`` topic in a consumer group and routes each record."""

    def __init__(
        self,
        bootstrap: str,
        publisher: KafkaReportLog,
        *,
        agencies: Sequence[str],
        deadletter: str = "lz.deadletter.v1",
        group: str = "lagezentrum-feeds",
    ) -> None:
        self._bootstrap = bootstrap
        self._publisher = publisher
        self._topics = [f"{FEED_PREFIX}{agency}" for agency in agencies]
        self._deadletter = deadletter
        self._group = group
        self._consumer: Any = None
        self._producer: Any = None
        self._task: asyncio.Task[None] | None = None
        self.accepted = 0
        self.rejected = 0

    async def start(self) -> None:
        from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # type: ignore[import-untyped]

        self._producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap, acks="all", enable_idempotence=True
        )
        await self._producer.start()
        self._consumer = AIOKafkaConsumer(
            *self._topics,
            bootstrap_servers=self._bootstrap,
            group_id=self._group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=50,
        )
        await self._consumer.start()
        self._task = asyncio.create_task(self._run(), name="feed-gate")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for client in (self._consumer, self._producer):
            if client is not None:
                await client.stop()
        self._consumer = self._producer = self._task = None

    async def _run(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=200, max_records=1_000)
            if not batches:
                continue
            try:
                await self._route(batches)
                await self._consumer.commit()
            except asyncio.CancelledError:
                raise
            except Exception:
                # Not committed: the records come again after a restart or rebalance.
                log.exception("feed gate round failed; seeking back")
                for tp, records in batches.items():
                    self._consumer.seek(tp, records[0].offset)
                await asyncio.sleep(1.0)

    async def _route(self, batches: dict[Any, list[Any]]) -> None:
        valid: list[tuple[Report, bytes]] = []
        pending = []
        for tp, records in batches.items():
            for record in records:
                verdict = judge(tp.topic, record.value)
                if verdict.report is not None:
                    valid.append((verdict.report, record.value))
                    continue
                self.rejected += 1
                pending.append(
                    await self._producer.send(
                        self._deadletter,
                        record.value or b"",
                        key=record.key,
                        headers=deadletter_headers(tp.topic, tp.partition, record.offset, verdict),
                    )
                )
        if valid:
            await self._publisher.append(valid)
            self.accepted += len(valid)
        if pending:
            await asyncio.gather(*pending)
