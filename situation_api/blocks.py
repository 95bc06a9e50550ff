"""History blocks: the changes of one history write, stored as one row (migration 0003).

At 1,000 reports/s the engine emits ~1,400 changes/s, each carrying its entity's whole view
(0.8–2 kB of JSON). Stored one row per change, as jsonb with three indexes, each row took
PostgreSQL ~95 µs — two thirds of its statement time under ``bench live`` — and much of the WAL
that every report-log commit has to flush. A block is written once per history write
(a few per second under load): its changes encoded as one msgpack array and zlib-compressed,
with the columns queries need beside it — the seq and time range, each change's
time (``ats``, for counts per time bucket in SQL) and the distinct ``entity:id`` keys (``entities``,
GIN-indexed, for an entity's timeline).

Payloads are kept byte for byte as the runtime encoded them (jsonb re-ordered their keys).
Blocks moved over from the per-change table by the migration hold those rows as a JSON array,
marked :data:`MIGRATED`; both forms decode to the same :class:`~situation_api.stored.StoredChange`.

Pure: bytes in, bytes out; the store does the I/O and runs :func:`encode` beside the event loop.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import msgspec

from situation_api.stored import StoredChange

COMPRESSED: Final = b"\xffzlib"  # zlib(msgpack array of changes); snapshot parts use it too
MIGRATED: Final = b"\xffjson"  # JSON array written by migration 0003 (SQL cannot compress)
# the fastest: blocks are written several times a second and snapshots once a minute, beside
# the load
_LEVEL: Final = 1


class BlockInvalid(ValueError):
    """Stored bytes that are no block this module wrote: the database was altered by hand."""


class _MigratedEntry(msgspec.Struct, array_like=True, gc=False):
    seq: int
    at: datetime
    kind: str
    entity: str
    entity_id: str
    payload: msgspec.Raw  # the jsonb document, as JSON


_encoder: Final = msgspec.msgpack.Encoder()
_decoder: Final = msgspec.msgpack.Decoder(list[StoredChange])
_migrated_decoder: Final = msgspec.json.Decoder(list[_MigratedEntry])


@dataclass(frozen=True, slots=True)
class Block:
    """One row of ``situation_change_blocks``."""

    first_seq: int
    last_seq: int
    first_at: datetime
    last_at: datetime
    ats: list[datetime]
    entities: list[str]
    data: bytes


def encode(changes: Sequence[StoredChange]) -> Block:
    """The block of ``changes`` (at least one, in seq order)."""
    if not changes:
        raise ValueError("a block holds at least one change")
    ats = [c.at for c in changes]
    return Block(
        first_seq=changes[0].seq,
        last_seq=changes[-1].seq,
        first_at=min(ats),
        last_at=max(ats),
        ats=ats,
        entities=sorted({f"{c.entity}:{c.entity_id}" for c in changes}),
        data=pack(_encoder.encode(changes)),
    )


def pack(data: bytes) -> bytes:
    """``data`` compressed behind :data:`COMPRESSED`: a block's changes, a snapshot's parts.
    Pure CPU, for a thread or a forked encoder beside the event loop."""
    return COMPRESSED + zlib.compress(data, _LEVEL)


def unpack(stored: bytes) -> bytes:
    """The plain bytes of :func:`pack`'s output; bytes without the marker as they are (snapshot
    parts stored before history migration 0002). Raises ``zlib.error`` on a damaged stream."""
    if not stored.startswith(COMPRESSED):
        return stored
    return zlib.decompress(memoryview(stored)[len(COMPRESSED) :])


def decode(data: bytes) -> list[StoredChange]:
    """The changes of a block's ``data``, in seq order."""
    view = memoryview(data)
    try:
        if data.startswith(COMPRESSED):
            return _decoder.decode(unpack(data))
        if data.startswith(MIGRATED):
            migrated = _migrated_decoder.decode(view[len(MIGRATED) :])
            return [
                StoredChange(e.seq, e.at, e.kind, e.entity, e.entity_id, bytes(e.payload))
                for e in migrated
            ]
    except (zlib.error, msgspec.DecodeError) as error:
        raise BlockInvalid(f"history block does not decode: {error}") from None
    raise BlockInvalid(f"history block begins with {bytes(view[:5])!r}, no known marker")
