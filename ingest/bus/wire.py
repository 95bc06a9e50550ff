"""How reports travel on ``lz.reports.v1``.

Value: the canonical report JSON (contract 1) with ``received_at`` set by the ingest process;
``offset`` is not sent — a consumer takes the record's own (Kafka offset + 1, so offsets start
at 1 as in the PostgreSQL log, but count per partition).

Key: the report's region (district AGS, see :mod:`ops.workers.regions`), so one district's reports
stay in order on one partition. The partition is computed here with Kafka's own default
partitioner (murmur2 of the key), so every client — ours or a plain Java one — agrees on it.

Broadcast: a report that concerns many districts (a weather warning, a state-wide capacity
figure) is written once to EVERY partition, each copy with header ``lz-copy: i/n``; every
correlation worker then knows it, and consumers that need it once (the archive) keep copy 0.

Operator actions: the API of the distributed mode also writes an operator's action to the
partition that owns its target, with header ``lz-kind: action`` (value: the action and its
journal seq, see ``situation_api.bus_actions``), so the engine applies it in log order with the
reports. Consumers of reports skip such records (:func:`is_action`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

import msgspec

from ingest.report import Report, decode_report, encode_report

COPY_HEADER: Final = "lz-copy"
REGION_HEADER: Final = "lz-region"
BROADCAST_KEY: Final = b"*"
KIND_HEADER: Final = "lz-kind"
ACTION_KIND: Final = b"action"

Headers = Sequence[tuple[str, bytes]]


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (``org.apache.kafka.common.utils.Utils.murmur2``), as a signed int."""
    length = len(data)
    seed = 0x9747B28C
    m = 0x5BD1E995
    r = 24
    h = (seed ^ length) & 0xFFFFFFFF
    length4 = length // 4
    for i in range(length4):
        i4 = i * 4
        k = data[i4] | (data[i4 + 1] << 8) | (data[i4 + 2] << 16) | (data[i4 + 3] << 24)
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
    extra = length % 4
    tail = length4 * 4
    if extra >= 3:
        h ^= data[tail + 2] << 16
    if extra >= 2:
        h ^= data[tail + 1] << 8
    if extra >= 1:
        h ^= data[tail]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def partition_for(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner picks for ``key``."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def encode_for_bus(report: Report) -> bytes:
    return encode_report(report)


def decode_from_bus(value: bytes, offset: int) -> Report:
    """The report of a record at Kafka ``offset``; raises ReportInvalid like any input."""
    report = decode_report(value)
    return msgspec.structs.replace(report, offset=offset + 1)


def copy_of(headers: Headers) -> tuple[int, int] | None:
    """``(i, n)`` of a broadcast copy, None for a regional record."""
    for name, value in headers:
        if name == COPY_HEADER:
            index, _, total = value.decode().partition("/")
            return int(index), int(total)
    return None


def is_action(headers: Headers | Mapping[str, bytes] | None) -> bool:
    """Whether a record with these headers carries an operator action, not a report."""
    if not headers:
        return False
    items = headers.items() if isinstance(headers, Mapping) else headers
    return any(name == KIND_HEADER and value == ACTION_KIND for name, value in items)
