"""Periodic snapshots of the live runtime: encoded by a forked child, restored on restart, and
encoded in-process when forking does not work."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from correlation.engine import Engine
from situation_api import forked, metrics
from situation_api.runtime import RuntimeState
from tests.situation_api.live_server import live_server, post, report


async def _snapshot_after(live_url: str, count: int) -> None:
    """Post ``count`` reports and check the snapshot that covers them all."""
    async with live_server(live_url, snapshot_changes=1) as live:
        for index in range(count):
            await post(live, report(f"s-{index}", ("koblenz", "mainz", "trier")[index % 3]))
        runtime = live.services.runtime
        await runtime.wait_processed(count, 5)
        for _ in range(100):
            snapshot = await live.services.history.latest_snapshot()
            if snapshot is not None and snapshot.seq == runtime.seq:
                break
            await asyncio.sleep(0.05)
        assert snapshot is not None
        assert snapshot.seq == runtime.seq
        state = msgspec.msgpack.decode(snapshot.state, type=RuntimeState)
        assert state.offset == count
        assert Engine.restore(state.engine).seq == runtime.seq  # the state restores


async def test_snapshots_are_encoded_by_a_forked_child(
    pg_fresh_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    forks = 0
    start = forked.start

    def counting(work: forked.Work) -> forked.Result:
        nonlocal forks
        forks += 1
        return start(work)

    monkeypatch.setattr(forked, "start", counting)
    await _snapshot_after(pg_fresh_url, 3)
    assert forks >= 1


async def test_when_forking_fails_snapshots_are_encoded_in_process(
    pg_fresh_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def cannot(work: forked.Work) -> forked.Result:
        raise forked.ForkFailed("fork: [Errno 12] Cannot allocate memory")

    monkeypatch.setattr(forked, "start", cannot)
    failures = metrics.RUNTIME_ERRORS.labels("snapshot")._value.get()
    await _snapshot_after(pg_fresh_url, 3)
    assert metrics.RUNTIME_ERRORS.labels("snapshot")._value.get() == failures + 1  # once only
