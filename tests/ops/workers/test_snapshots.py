"""Engine snapshots split into records under Kafka's size limit, and read back."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ops.workers.snapshots import (
    CHUNK_BYTES,
    SnapshotMissing,
    chunk_key,
    manifest_key,
    manifest_of,
    read_snapshot,
    snapshot_records,
    stale_chunks,
)


def _table(records: list[tuple[bytes, bytes]]) -> dict[bytes, bytes]:
    return dict(records)


def test_a_large_snapshot_becomes_records_under_the_limit_and_the_manifest_last() -> None:
    blob = bytes(range(256)) * 6_000  # 1.5 MB: over Kafka's default 1 MB record limit
    records = snapshot_records(2, 4_711, blob)
    assert all(len(key) + len(value) < 1_000_000 for key, value in records)
    assert len(records) == 4  # three chunks of at most 512 KiB, then the manifest
    assert records[-1][0] == manifest_key(2)
    assert all(len(value) <= CHUNK_BYTES for _, value in records[:-1])
    assert read_snapshot(2, _table(records).get) == blob


@given(st.binary(max_size=5_000), st.integers(min_value=1, max_value=700))
def test_any_blob_reads_back_whatever_the_chunk_size(blob: bytes, chunk: int) -> None:
    assert read_snapshot(0, _table(snapshot_records(0, 9, blob, chunk)).get) == blob


def test_no_manifest_is_no_snapshot() -> None:
    empty: dict[bytes, bytes] = {}
    assert read_snapshot(1, empty.get) is None


def test_a_missing_or_short_chunk_is_a_damaged_table() -> None:
    records = _table(snapshot_records(1, 5, b"x" * 100, 40))
    del records[chunk_key(1, 5, 1)]
    with pytest.raises(SnapshotMissing, match="chunk 1"):
        read_snapshot(1, records.get)
    records = _table(snapshot_records(1, 5, b"x" * 100, 40))
    records[chunk_key(1, 5, 2)] = b"x"
    with pytest.raises(SnapshotMissing, match="truncated"):
        read_snapshot(1, records.get)


def test_a_kill_between_chunks_and_manifest_keeps_the_old_snapshot() -> None:
    table = _table(snapshot_records(3, 100, b"old" * 50, 64))
    new = snapshot_records(3, 200, b"new" * 80, 64)
    table.update(new[:-1])  # chunks written, manifest not: the worker died here
    assert read_snapshot(3, table.get) == b"old" * 50
    stale = stale_chunks(3, table, manifest_of(table[manifest_key(3)]))
    assert sorted(stale) == sorted(key for key, _ in new[:-1])
    # another partition's chunks are never touched
    table.update(snapshot_records(4, 100, b"z" * 10))
    assert all(key.startswith(b"s:3:") for key in stale_chunks(3, table, None))
