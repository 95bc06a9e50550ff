"""The runtime's history writer: changes are written in order, a snapshot never before the
changes it covers, a snapshot is due by changes or by time, and a failed fork falls back to
encoding in-process."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from correlation.changes import EncodedChange, IncidentOpened
from situation_api import forked
from situation_api.blocks import COMPRESSED, unpack
from situation_api.history import MemoryHistoryStore
from situation_api.history_writer import Capture, HistoryWriter, Pack

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def writer(history: MemoryHistoryStore, **overrides: float) -> HistoryWriter:
    settings: dict[str, float] = {
        "interval": 0.0, "retry_seconds": 0.0, "snapshot_interval": 3600.0,
        "snapshot_changes": 1000, "snapshot_offsets": 10,
    } | overrides  # fmt: skip
    return HistoryWriter(
        history,
        interval=settings["interval"],
        retry_seconds=settings["retry_seconds"],
        snapshot_interval=settings["snapshot_interval"],
        snapshot_changes=int(settings["snapshot_changes"]),
        snapshot_offsets=int(settings["snapshot_offsets"]),
    )


def add(history_writer: HistoryWriter, *seqs: int) -> None:
    changes = [
        IncidentOpened(seq=seq, at=T0, entity="incident", id=f"inc-{seq}", view=None, thread="t")
        for seq in seqs
    ]
    history_writer.add([EncodedChange.of(c) for c in changes])


def capture(seq: int, offset: int = 0) -> Capture:
    def encode(pack: Pack) -> list[bytes]:
        return [pack(b"\x85state %d" % seq), pack(b'{"seq": %d}' % seq)]

    return Capture(seq, offset, T0, encode)


async def test_a_snapshot_is_written_only_once_the_history_covers_it() -> None:
    history = MemoryHistoryStore()
    w = writer(history)
    add(w, 1)
    w.snapshot(capture(2))  # the state after change 2, whose write is still to come
    await w.flush()
    assert [c.seq for c in await history.since(0, 10)] == [1]
    assert await history.latest_snapshot() is None
    add(w, 2)
    assert [c.seq for c in w.unwritten()] == [2]
    await w.flush()
    snapshot = await history.latest_snapshot()
    assert snapshot is not None
    assert (snapshot.seq, snapshot.state) == (2, b"\x85state 2")
    assert w.unwritten() == []


async def test_changes_recovery_re_derives_below_the_stored_head_are_not_written_again() -> None:
    history = MemoryHistoryStore()
    w = writer(history)
    w.recovered(head=3, snapshot_seq=0, offset=0)
    add(w, 2, 3, 4)
    assert [c.seq for c in w.unwritten()] == [4]


async def test_a_snapshot_is_due_by_changes_or_by_time_not_before() -> None:
    history = MemoryHistoryStore()
    taken: list[int] = []

    def taking(seq: int) -> Capture:
        taken.append(seq)
        return capture(seq)

    w = writer(history, snapshot_changes=5)
    w.recovered(head=0, snapshot_seq=10, offset=100)
    w.maybe_snapshot(14, 200, lambda: taking(14))
    assert taken == []  # four changes since the last one, and not a minute old
    w.maybe_snapshot(15, 200, lambda: taking(15))
    assert taken == [15]
    await w.settle()  # its forked child
    w = writer(history, snapshot_interval=0.0)
    w.recovered(head=0, snapshot_seq=10, offset=100)
    w.maybe_snapshot(10, 105, lambda: taking(10))
    assert taken == [15]  # nothing moved: nothing to save
    w.maybe_snapshot(11, 105, lambda: taking(11))
    assert taken == [15, 11]
    await w.settle()


async def test_a_failed_fork_is_counted_and_the_next_snapshot_is_encoded_in_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def cannot(work: forked.Work) -> forked.Result:
        raise forked.ForkFailed("fork: [Errno 12] Cannot allocate memory")

    monkeypatch.setattr(forked, "start", cannot)
    history = MemoryHistoryStore()
    w = writer(history, snapshot_interval=0.0)
    add(w, 1)
    w.maybe_snapshot(1, 1, lambda: capture(1, 1))  # forks, fails: encoded here instead
    await w.flush()
    snapshot = await history.latest_snapshot()
    assert snapshot is not None
    assert snapshot.state == b"\x85state 1"
    add(w, 2)
    w.maybe_snapshot(2, 2, lambda: capture(2, 2))  # no second attempt to fork
    await w.flush()
    latest = await history.latest_snapshot()
    assert latest is not None
    assert latest.seq == 2


class _Recording(MemoryHistoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.saved: list[tuple[bytes, bytes]] = []

    async def save_snapshot(self, seq: int, at: datetime, state: bytes, picture: bytes) -> None:
        self.saved.append((state, picture))
        await super().save_snapshot(seq, at, state, picture)


async def test_a_snapshot_encoded_in_a_fork_arrives_packed_and_reads_back_plain() -> None:
    history = _Recording()
    w = writer(history, snapshot_interval=0.0)
    add(w, 1)
    w.maybe_snapshot(1, 1, lambda: capture(1, 1))
    await w.settle()
    await w.flush()
    [(state, picture)] = history.saved
    assert state.startswith(COMPRESSED)  # packed by the child, not in this process
    assert (unpack(state), unpack(picture)) == (b"\x85state 1", b'{"seq": 1}')
    snapshot = await history.latest_snapshot()
    assert snapshot is not None
    assert (snapshot.state, snapshot.picture) == (b"\x85state 1", b'{"seq": 1}')
