"""The servers' event loop and garbage-collector settings (ops/loop.py)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator

import pytest

from ops import loop


@pytest.fixture
def collector() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("collector")
def test_the_loop_runs_with_small_young_generations_and_rare_full_collections() -> None:
    async def main() -> tuple[tuple[int, int, int], str]:
        return gc.get_threshold(), type(asyncio.get_running_loop()).__module__

    thresholds, module = loop.run(main())
    assert thresholds == (5_000, 2, 100)
    assert module.startswith("uvloop")


@pytest.mark.usefixtures("collector")
def test_settle_heap_collects_start_up_garbage_and_freezes_the_rest() -> None:
    class Node:
        def __init__(self) -> None:
            self.me = self  # a cycle: only the collector frees it

    garbage = Node()
    kept = [Node() for _ in range(100)]
    del garbage
    loop.settle_heap()
    assert gc.get_freeze_count() >= len(kept)  # survivors are out of the collector's sight
    assert not any(type(o) is Node for o in gc.get_objects())  # frozen objects are not listed
    gc.unfreeze()
    assert sum(type(o) is Node for o in gc.get_objects()) == len(kept)  # the cycle was freed
