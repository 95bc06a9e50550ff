"""A partition's engine snapshot in the state table, split into records under Kafka's size limit
(pure: the worker moves the records).

A snapshot grows with the picture (1.4 MB after 2,000 reports of a busy partition); one record
over the producer's and broker's 1 MB limit made the worker crash at every restart, because the
restarted worker reached the same snapshot again. So a snapshot is stored as chunks of at most
:data:`CHUNK_BYTES` under ``s:<partition>:<generation>:<index>`` and a small manifest under
``snap:<partition>`` naming the generation and the number of chunks. The generation is the
offset the snapshot covers, so it only grows.

Order of writes (one changelog partition, so the order holds on recovery): the new chunks, then
the manifest, then tombstones for the previous generation's chunks and the journal it replaces.
A worker killed in between leaves either the old manifest with its chunks intact or the new
one with its chunks complete; chunks no manifest names are removed at the next recovery.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Final

import msgspec

CHUNK_BYTES: Final = 512 * 1024


class SnapshotManifest(msgspec.Struct, frozen=True, tag="manifest"):
    generation: int
    chunks: int
    size: int


class SnapshotMissing(Exception):
    """The manifest names a chunk the table does not hold: the state table is damaged."""


_encoder: Final = msgspec.msgpack.Encoder()
_decoder: Final = msgspec.msgpack.Decoder(SnapshotManifest)


def manifest_key(partition: int) -> bytes:
    return f"snap:{partition}".encode()


def chunk_prefix(partition: int) -> bytes:
    return f"s:{partition}:".encode()


def chunk_key(partition: int, generation: int, index: int) -> bytes:
    return f"s:{partition}:{generation:015d}:{index:05d}".encode()


def snapshot_records(
    partition: int, generation: int, blob: bytes, chunk_bytes: int = CHUNK_BYTES
) -> list[tuple[bytes, bytes]]:
    """The records that store ``blob``: its chunks, then the manifest (write them in order)."""
    chunks = [blob[i : i + chunk_bytes] for i in range(0, len(blob), chunk_bytes)] or [b""]
    records = [(chunk_key(partition, generation, i), chunk) for i, chunk in enumerate(chunks)]
    manifest = SnapshotManifest(generation, len(chunks), len(blob))
    records.append((manifest_key(partition), _encoder.encode(manifest)))
    return records


def manifest_of(value: bytes | None) -> SnapshotManifest | None:
    return None if value is None else _decoder.decode(value)


def read_snapshot(partition: int, get: Callable[[bytes], bytes | None]) -> bytes | None:
    """The snapshot blob of ``partition`` (None: none taken yet)."""
    manifest = manifest_of(get(manifest_key(partition)))
    if manifest is None:
        return None
    parts = []
    for index in range(manifest.chunks):
        chunk = get(chunk_key(partition, manifest.generation, index))
        if chunk is None:
            raise SnapshotMissing(
                f"partition {partition}: chunk {index} of snapshot {manifest.generation} missing"
            )
        parts.append(chunk)
    blob = b"".join(parts)
    if len(blob) != manifest.size:
        raise SnapshotMissing(f"partition {partition}: snapshot {manifest.generation} truncated")
    return blob


def stale_chunks(
    partition: int, keys: Iterable[bytes], keep: SnapshotManifest | None
) -> list[bytes]:
    """Chunk keys of ``partition`` that belong to no generation but ``keep``'s."""
    prefix = chunk_prefix(partition)
    kept = prefix + f"{keep.generation:015d}:".encode() if keep is not None else None
    return [k for k in keys if k.startswith(prefix) and not (kept and k.startswith(kept))]
