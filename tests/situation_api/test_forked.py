"""Work done on a forked copy of the process: it sees the state as of the fork, the parent's
event loop runs on meanwhile, and a child that fails is reported, not waited for forever."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time

import msgspec
import pytest

from correlation.engine import Engine
from correlation.picture import picture_json
from ops.scenario import generate_reports
from situation_api import forked


async def test_the_child_sees_the_state_as_of_the_fork() -> None:
    items = [b"a"]
    state: dict[str, object] = {"seq": 1, "items": items}
    result = forked.start(lambda: [msgspec.json.encode(state), str(os.getpid()).encode()])
    state["seq"] = 2  # the parent goes on changing its state at once
    items.append(b"b")
    encoded, pid = await result
    assert msgspec.json.decode(encoded) == {"seq": 1, "items": ["YQ=="]}
    assert int(pid) != os.getpid()


async def test_the_parents_loop_runs_while_the_child_works() -> None:
    def slow() -> list[bytes]:
        time.sleep(0.5)
        return [b"done"]

    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    started = time.monotonic()
    assert await forked.start(slow) == [b"done"]
    assert time.monotonic() - started >= 0.5
    ticker.cancel()
    assert ticks >= 20  # in-process, the loop would not have ticked at all


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="SCHED_IDLE is Linux-only")
async def test_the_child_runs_in_the_idle_scheduling_class() -> None:
    # the lowest class there is, below nice 19 (situation_api/forked.py)
    [policy] = await forked.start(lambda: [str(os.sched_getscheduler(0)).encode()])
    assert int(policy) == os.SCHED_IDLE
    assert os.sched_getscheduler(0) != os.SCHED_IDLE  # the parent keeps its own


async def test_large_and_empty_parts_arrive_whole() -> None:
    big = os.urandom(3 << 20) * 8  # 24 MiB: far more than a pipe holds
    assert await forked.start(lambda: [big, b"", b"x"]) == [big, b"", b"x"]


async def test_the_child_keeps_no_socket_of_the_parent_open() -> None:
    def open_files() -> list[bytes]:
        targets = []
        for fd in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):  # the listing's own descriptor is gone already
                targets.append(os.readlink(f"/proc/self/fd/{fd}").encode())
        return targets

    with socket.create_server(("127.0.0.1", 0)) as listening:
        assert listening.fileno() > 2
        targets = await forked.start(open_files)
    assert not [t for t in targets if t.startswith(b"socket:")]
    assert len([t for t in targets if t.startswith(b"pipe:")]) == 1  # its output


async def test_a_failing_child_is_reported() -> None:
    def fails() -> list[bytes]:
        raise RuntimeError("no")

    with pytest.raises(forked.ForkFailed, match="exited with 1"):
        await forked.start(fails)


async def test_an_engine_snapshot_encoded_in_a_child_is_the_one_encoded_here() -> None:
    engine = Engine()
    for report in generate_reports(400, seed=5).reports:
        engine.process(report)
    here = [engine.snapshot(), picture_json(engine.picture())]
    assert await forked.start(lambda: [engine.snapshot(), picture_json(engine.picture())]) == here
