""":class:`KafkaReportLog` — the report log of the ingest routes when the bus is Kafka.

``append`` publishes every report to ``lz.reports.v1`` with an idempotent producer
(``acks=all``, ``enable_idempotence``) and returns only when the broker acknowledged all of them:
a ``202`` still means "durable" (on ``min.insync.replicas`` brokers). If the broker does not
acknowledge in time, :class:`~ingest.bus.errors.BusUnavailable` is raised and the client is told
to retry; a retried report may then be on the topic twice, which the engine ignores (equal
``sequence`` is a duplicate) — at-least-once, never lost.

A failed acknowledgement retires the producer: aiokafka may have given the expired batches
idempotence sequence numbers that never reached the broker, after which the broker refuses every
later batch of that producer (OutOfOrderSequenceNumber) for good. The next ``append`` starts a
new producer (a new producer id), so ingest recovers by itself once the broker is back.

Duplicates this process has already published are answered from a bounded memory of report keys
without publishing again (across processes the engine's duplicate rule applies).

The read side of the :class:`~ingest.store.port.ReportLog` port is empty here: in the
distributed mode the report topic itself is the log, read by the correlation workers and the
archive.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Final

import msgspec

from ingest.bus.errors import BusUnavailable
from ingest.bus.wire import (
    BROADCAST_KEY,
    COPY_HEADER,
    REGION_HEADER,
    encode_for_bus,
    partition_for,
)
from ingest.report import Report
from ingest.store.port import Appended

Region = Callable[[Report], str | None]
"""A report's region key (district AGS or a fallback), None to broadcast it to every partition."""

RAW_HEADER: Final = "lz-raw"
MAX_RAW_HEADER: Final = 256 * 1024  # larger raw payloads are not carried (the report is)
REMEMBERED: Final = 100_000


def utc_now() -> datetime:
    return datetime.now(UTC)


class KafkaReportLog:
    """Publishes accepted reports to the report topic (see the module docstring)."""

    def __init__(
        self,
        bootstrap: str,
        *,
        topic: str,
        region: Region,
        clock: Callable[[], datetime] = utc_now,
        timeout: float = 15.0,
        client_id: str = "lagezentrum-ingest",
    ) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self._region = region
        self._clock = clock
        self._timeout = timeout
        self._client_id = client_id
        self._producer: Any = None
        self._partitions = 0
        self._seen: OrderedDict[tuple[str, str, int], Appended] = OrderedDict()
        self._sticky: OrderedDict[str, bytes | None] = OrderedDict()
        self._published = 0
        self._changed = asyncio.Event()
        self._opening = asyncio.Lock()
        self._retiring: set[asyncio.Task[None]] = set()

    @property
    def partitions(self) -> int:
        return self._partitions

    async def start(self) -> None:
        self._producer = await self._open()

    async def _open(self) -> Any:
        from aiokafka import AIOKafkaProducer  # type: ignore[import-untyped]

        producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap,
            client_id=self._client_id,
            acks="all",
            enable_idempotence=True,
            linger_ms=1,
            max_request_size=4 * 1024 * 1024,
            request_timeout_ms=int(self._timeout * 1000),
        )
        try:
            async with asyncio.timeout(self._timeout):
                await producer.start()
                partitions = await producer.partitions_for(self._topic)
        except Exception as error:
            self._retire(producer)
            raise BusUnavailable(f"Kafka at {self._bootstrap}: {error}") from error
        if not partitions:
            self._retire(producer)
            raise BusUnavailable(f"topic {self._topic} does not exist (run ensure_topics)")
        self._partitions = len(partitions)
        return producer

    async def _current(self) -> Any:
        """The live producer, opening a new one after a retirement (one opener at a time)."""
        if self._producer is None:
            async with self._opening:
                if self._producer is None:
                    self._producer = await self._open()
        return self._producer

    def _retire(self, producer: Any) -> None:
        """Stop ``producer`` in the background: its ``stop`` can wait for a broker that is
        down, and no caller should wait for that."""
        if self._producer is producer:
            self._producer = None
        task = asyncio.create_task(_stop_quietly(producer, self._timeout))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def close(self) -> None:
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await _stop_quietly(producer, self._timeout)
        if self._retiring:
            await asyncio.gather(*self._retiring, return_exceptions=True)

    # -- ReportLog port ---------------------------------------------------------------------------

    async def append(self, items: Sequence[tuple[Report, bytes]]) -> list[Appended]:
        producer = await self._current()
        received_at = self._clock()
        results: list[Appended | None] = [None] * len(items)
        first: dict[tuple[str, str, int], int] = {}
        repeats: list[int] = []
        pending: list[tuple[int, Report, list[asyncio.Future[Any]]]] = []
        for index, (report, raw) in enumerate(items):
            known = self._seen.get(report.key)
            if known is not None:
                results[index] = Appended(known.offset, True, known.report)
                continue
            if report.key in first:
                repeats.append(index)
                continue
            first[report.key] = index
            stamped = msgspec.structs.replace(report, received_at=received_at, offset=None)
            value = encode_for_bus(stamped)
            headers: list[tuple[str, bytes]] = []
            if len(raw) <= MAX_RAW_HEADER and raw != value:
                headers.append((RAW_HEADER, bytes(raw)))
            try:
                futures = await self._send(producer, value, self._key_of(report), headers)
            except Exception as error:
                self._retire(producer)
                raise BusUnavailable(f"publishing to {self._topic} failed: {error}") from error
            pending.append((index, stamped, futures))
        try:
            async with asyncio.timeout(self._timeout):
                for index, stamped, futures in pending:
                    metadata = await asyncio.gather(*futures)
                    appended = Appended(metadata[0].offset + 1, False, stamped)
                    results[index] = appended
                    self._remember(stamped.key, appended)
        except Exception as error:
            for _, _, futures in pending:
                for future in futures:
                    future.cancel()
            self._retire(producer)
            raise BusUnavailable(f"the broker did not acknowledge: {error}") from error
        for index in repeats:
            original = results[first[items[index][0].key]]
            assert original is not None
            results[index] = Appended(original.offset, True, original.report)
        self._published += len(pending)
        if pending:
            self._changed.set()
            self._changed = asyncio.Event()
        return [r for r in results if r is not None]

    async def publish(
        self, value: bytes, *, key: bytes, partition: int, headers: Sequence[tuple[str, bytes]]
    ) -> int:
        """One record that is not a report (an operator action) to ``partition``; returns its
        offset + 1 once the broker acknowledged it; :class:`BusUnavailable` as for ``append``."""
        producer = await self._current()
        try:
            async with asyncio.timeout(self._timeout):
                sent = await producer.send(
                    self._topic, value, key=key, partition=partition, headers=list(headers)
                )
                metadata = await sent
        except Exception as error:
            self._retire(producer)
            raise BusUnavailable(f"publishing to {self._topic} failed: {error}") from error
        return int(metadata.offset) + 1

    async def read(self, after: int, limit: int) -> list[Report]:
        return []

    async def read_raw(self, offset: int) -> bytes | None:
        return None

    async def last_offset(self) -> int:
        return self._published

    async def wait_for(self, after: int, timeout: float) -> bool:
        if self._published > after:
            return True
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except TimeoutError:
            return False
        return True

    # -- internals --------------------------------------------------------------------------------

    def _key_of(self, report: Report) -> bytes | None:
        """The record key; a thread keeps the key of its first report (updates that move across
        a district border stay with the engine that holds the thread)."""
        thread = report.thread
        if thread in self._sticky:
            self._sticky.move_to_end(thread)
            return self._sticky[thread]
        region = self._region(report)
        key = None if region is None else region.encode()
        self._sticky[thread] = key
        if len(self._sticky) > REMEMBERED:
            self._sticky.popitem(last=False)
        return key

    async def _send(
        self, producer: Any, value: bytes, key: bytes | None, headers: list[tuple[str, bytes]]
    ) -> list[asyncio.Future[Any]]:
        count = self._partitions
        if key is None:
            futures = []
            for index in range(count):
                copy_headers = [
                    *headers,
                    (COPY_HEADER, f"{index}/{count}".encode()),
                    (REGION_HEADER, BROADCAST_KEY),
                ]
                futures.append(
                    await producer.send(
                        self._topic,
                        value,
                        key=BROADCAST_KEY,
                        partition=index,
                        headers=copy_headers,
                    )
                )
            return futures
        return [
            await producer.send(
                self._topic,
                value,
                key=key,
                partition=partition_for(key, count),
                headers=[*headers, (REGION_HEADER, key)],
            )
        ]

    def _remember(self, key: tuple[str, str, int], appended: Appended) -> None:
        self._seen[key] = appended
        if len(self._seen) > REMEMBERED:
            self._seen.popitem(last=False)


async def _stop_quietly(producer: Any, timeout: float) -> None:
    try:
        async with asyncio.timeout(timeout):
            await producer.stop()
    except Exception:  # a retired producer's failures are no one's concern any more
        return
