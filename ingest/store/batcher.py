"""Group commit: many concurrent callers, one writer task, one transaction per batch.

At 1,000 reports/s from many HTTP requests a transaction (and an fsync) per request would cap
throughput at the disk's fsync rate. Callers instead queue their items and await a future; one
writer task takes everything queued (whole requests, up to ``max_items``), hands it to ``write``
as a single list, and resolves each caller's future with its own slice of the results. While a
batch commits, new requests queue up and form the next batch, so batches grow with the load.

A single writer per process also fixes the order of writes, which the report log relies on to
hand out offsets in commit order.

If a batch fails, each request in it is retried alone so that one bad request (or one transient
error) fails only its own caller; the writer keeps running.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from ingest.store.errors import StoreClosed

log = logging.getLogger(__name__)

I = TypeVar("I")  # noqa: E741 - item
R = TypeVar("R")  # result


@dataclass
class _Request(Generic[I, R]):
    items: Sequence[I]
    future: asyncio.Future[list[R]] = field(repr=False)


class GroupCommitter(Generic[I, R]):
    """Batches :meth:`submit` calls into calls of ``write`` (one at a time)."""

    def __init__(
        self,
        write: Callable[[list[I]], Awaitable[list[R]]],
        *,
        max_items: int = 2000,
        name: str = "group-commit",
    ) -> None:
        self._write = write
        self._max_items = max_items
        self._name = name
        self._queue: deque[_Request[I, R]] = deque()
        self._wakeup = asyncio.Event()
        self._closed = False
        self._task: asyncio.Task[None] | None = None
        self.batches = 0  # for metrics and tests
        self.items = 0

    async def submit(self, items: Sequence[I]) -> list[R]:
        """Queue ``items``; return their results once their batch is written."""
        if self._closed:
            raise StoreClosed(f"{self._name} is closed")
        if not items:
            return []
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self._name)
        future: asyncio.Future[list[R]] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_retrieve)  # no "exception never retrieved" if the caller left
        self._queue.append(_Request(items, future))
        self._wakeup.set()
        # A cancelled caller must not cancel the write other callers share; the write goes on
        # (its items may be stored: a retry is then acknowledged as a duplicate).
        return await asyncio.shield(future)

    async def close(self) -> None:
        """Write what is queued, then stop the writer."""
        self._closed = True
        self._wakeup.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _take(self) -> list[_Request[I, R]]:
        taken: list[_Request[I, R]] = []
        count = 0
        while self._queue:
            request = self._queue[0]
            if taken and count + len(request.items) > self._max_items:
                break
            taken.append(self._queue.popleft())
            count += len(request.items)
        return taken

    async def _run(self) -> None:
        while True:
            if not self._queue:
                if self._closed:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            batch = self._take()
            await self._commit(batch)

    async def _commit(self, batch: list[_Request[I, R]]) -> None:
        items = [item for request in batch for item in request.items]
        try:
            results = await self._write(items)
        except Exception as error:
            if len(batch) == 1:
                _settle(batch[0].future, error=error)
                return
            log.warning("%s: batch of %d requests failed (%s); retrying each", self._name,
                        len(batch), error)  # fmt: skip
            for request in batch:
                await self._commit([request])
            return
        if len(results) != len(items):
            mismatch = RuntimeError(f"{self._name}: {len(results)} results for {len(items)} items")
            for request in batch:
                _settle(request.future, error=mismatch)
            return
        self.batches += 1
        self.items += len(items)
        start = 0
        for request in batch:
            end = start + len(request.items)
            _settle(request.future, result=results[start:end])
            start = end


def _retrieve(future: asyncio.Future[list[R]]) -> None:
    if not future.cancelled():
        future.exception()


def _settle(
    future: asyncio.Future[list[R]],
    *,
    result: list[R] | None = None,
    error: Exception | None = None,
) -> None:
    if future.done():  # the caller went away
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result if result is not None else [])
