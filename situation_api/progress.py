"""Waiting for a counter another task advances (the runtime's offset, the bus picture's seq)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable


class Progress:
    """Wakes every waiter when its owner made progress; waiters re-check their own condition."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait_until(self, done: Callable[[], bool], timeout: float) -> bool:
        """True once ``done()`` holds, False if ``timeout`` seconds pass first."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not done():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), remaining)
        return True
