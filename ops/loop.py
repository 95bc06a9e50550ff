"""The event loop the servers run on."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` on uvloop (installed with uvicorn[standard]) when it is there.

    Servers spend most of their time moving bytes between sockets — HTTP, websockets,
    PostgreSQL — which uvloop does at a fraction of the default loop's cost.

    The cyclic garbage collector's thresholds differ from CPython's default (700, 10, 10). A
    server allocates many short-lived objects per request and holds a large live picture; every
    collection walks what it covers while the event loop waits. Generation 0 is collected after
    5,000 net allocations (most objects die young: six times in a 15-s ``bench live`` run), and
    generation 1 after every second one, so it walks at most the ~10,000 objects that survived
    since (≤ 6 ms measured). With generation 1 only after every 20th, its walk covered ~100,000
    objects and stopped the loop for ~50 ms in the middle of the load; with the default, full
    collections of 35–135 ms came several times in 15 s. Full collections stay rare (after 100
    of generation 1). Cycles are still collected, only later.
    """
    gc.set_threshold(5_000, 2, 100)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def settle_heap() -> None:
    """Collect once, then move everything that survived start-up out of the collector's sight.

    Start-up leaves a large heap behind: the imports, the districts and their indexes, the
    recovered engine state. Under ``bench live`` the first generation-1 collection after start
    walked those leftovers for 50 ms while reports waited. Frozen (``gc.freeze``, as pre-fork
    servers use it), they are never walked again. Should any of them later become cyclic
    garbage it stays in memory; everything else is freed by reference counting as always.
    """
    gc.collect()
    gc.freeze()
