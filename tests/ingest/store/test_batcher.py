"""The group-commit writer: batching, result routing, failure isolation, shutdown."""

from __future__ import annotations

import asyncio

import pytest

from ingest.store.batcher import GroupCommitter
from ingest.store.errors import StoreClosed


class Recorder:
    """A write function that records its batches and fails on items < 0."""

    def __init__(self, delay: float = 0.01) -> None:
        self.batches: list[list[int]] = []
        self.delay = delay

    async def write(self, items: list[int]) -> list[int]:
        await asyncio.sleep(self.delay)  # like a commit: others queue up meanwhile
        if any(i < 0 for i in items):
            raise ValueError(f"bad item in {items}")
        self.batches.append(items)
        return [i * 10 for i in items]


async def test_concurrent_requests_share_transactions_and_get_their_own_results() -> None:
    recorder = Recorder()
    committer = GroupCommitter(recorder.write)
    results = await asyncio.gather(*(committer.submit([n, n + 1000]) for n in range(100)))
    assert results == [[n * 10, (n + 1000) * 10] for n in range(100)]
    assert len(recorder.batches) < 10  # 100 requests, a handful of transactions
    assert sorted(i for b in recorder.batches for i in b) == sorted(
        list(range(100)) + [n + 1000 for n in range(100)]
    )
    await committer.close()


async def test_batches_keep_whole_requests_and_respect_max_items() -> None:
    recorder = Recorder()
    committer = GroupCommitter(recorder.write, max_items=10)
    await asyncio.gather(*(committer.submit([n] * 4) for n in range(12)))
    assert all(len(b) <= 10 for b in recorder.batches)
    for batch in recorder.batches:  # requests of 4 identical items are never split
        assert all(batch[i : i + 4] == [batch[i]] * 4 for i in range(0, len(batch), 4))
    big = await committer.submit(list(range(25)))  # larger than max_items: written alone
    assert big == [i * 10 for i in range(25)]
    await committer.close()


async def test_a_failing_request_fails_only_its_caller() -> None:
    recorder = Recorder()
    committer = GroupCommitter(recorder.write)
    outcomes = await asyncio.gather(
        *(committer.submit([-1] if n == 7 else [n]) for n in range(20)), return_exceptions=True
    )
    assert isinstance(outcomes[7], ValueError)
    assert [o for i, o in enumerate(outcomes) if i != 7] == [[n * 10] for n in range(20) if n != 7]
    assert await committer.submit([5]) == [50]  # the writer is still running
    await committer.close()


async def test_a_cancelled_caller_does_not_cancel_the_shared_write() -> None:
    recorder = Recorder(delay=0.05)
    committer = GroupCommitter(recorder.write)
    first = asyncio.create_task(committer.submit([1]))
    await asyncio.sleep(0.01)
    second = asyncio.create_task(committer.submit([2]))
    third = asyncio.create_task(committer.submit([3]))
    await asyncio.sleep(0)
    second.cancel()
    assert await first == [10]
    assert await third == [30]
    assert [2] in recorder.batches or any(2 in b for b in recorder.batches)
    await committer.close()


async def test_close_writes_what_is_queued_then_refuses() -> None:
    recorder = Recorder()
    committer = GroupCommitter(recorder.write)
    pending = [asyncio.create_task(committer.submit([n])) for n in range(5)]
    await asyncio.sleep(0)
    await committer.close()
    assert [await p for p in pending] == [[n * 10] for n in range(5)]
    with pytest.raises(StoreClosed):
        await committer.submit([1])


async def test_wrong_result_count_is_an_error_for_the_callers() -> None:
    async def broken(items: list[int]) -> list[int]:
        return items[:-1]

    committer = GroupCommitter(broken)
    with pytest.raises(RuntimeError, match="results for"):
        await committer.submit([1, 2])
    await committer.close()
