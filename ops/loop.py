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

    The cyclic garbage collector runs less often than CPython's default (700, 10, 10): a server
    allocates many short-lived objects per request and holds a large live picture, and each full
    collection walks all of it while the event loop waits. Under ``bench live`` at 1,000
    reports/s these pauses (35–135 ms, several in 15 s) set the POST→delta p99; with these
    thresholds it fell from 126–210 ms to 115–127 ms. Cycles are still collected, only later.
    """
    gc.set_threshold(5_000, 20, 100)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)
