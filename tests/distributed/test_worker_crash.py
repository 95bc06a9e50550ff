"""A correlation worker killed with SIGKILL in the middle of a stream (its own broker: a fresh
log): the worker started after it recovers its partitions from the changelog; no accepted
report is lost and no incident duplicated — the picture equals the embedded one."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import Callable

from tests.distributed.conftest import bus_source, converge, essence, feed, scenario, services
from tests.distributed.test_pipeline import assert_same, bus_picture, embedded_picture


async def test_worker_killed_mid_stream_loses_and_duplicates_nothing(
    bus_url: str, workers: Callable[[], subprocess.Popen[bytes]]
) -> None:
    plan = scenario(seed=23, incidents=40)
    reference = essence(await embedded_picture(plan.reports))
    first = workers()
    async with services("memory://", bus=bus_url) as api:
        half = len(plan.reports) // 2
        await feed(api, plan.reports[:half])
        source = bus_source(api)
        # Wait until the worker is mid-way: some changes out, not all of the first half.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while source.records == 0 and loop.time() < deadline:
            await asyncio.sleep(0.05)
        assert source.records > 0
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        await feed(api, plan.reports[half:])
        workers()
        got = await converge(lambda: essence(bus_picture(api)), reference, timeout=90)
        assert_same(got, reference)
        ids = [i["id"] for i in got["incidents"]]  # type: ignore[attr-defined]
        assert len(ids) == len(set(ids))
