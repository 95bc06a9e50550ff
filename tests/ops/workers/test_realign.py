"""The state decides where a report partition is read from (pure decisions of Realign)."""

from __future__ import annotations

from ops.workers.realign import SKIP, Realign


def test_batches_that_continue_the_state_are_applied() -> None:
    realign = Realign()
    assert realign.gap(0, applied=-1, first=0) is None
    assert realign.gap(0, applied=9, first=10) is None
    # re-delivered records (below the state) are applied too: the engine skips them itself
    assert realign.gap(0, applied=9, first=4) is None


def test_a_skip_ahead_seeks_back_once_and_drains_until_the_reread_arrives() -> None:
    realign = Realign()
    assert realign.gap(1, applied=4, first=40) == 5
    # what was fetched before the seek still comes in: skipped, no second seek
    assert realign.gap(1, applied=4, first=45) == SKIP
    assert realign.gap(1, applied=4, first=60) == SKIP
    # the re-read starts where the state needs it
    assert realign.gap(1, applied=4, first=5) is None
    assert realign.gap(1, applied=30, first=31) is None
    # other partitions are independent
    assert realign.gap(2, applied=-1, first=0) is None


def test_records_deleted_by_retention_are_accepted_as_a_gap() -> None:
    realign = Realign()
    assert realign.gap(0, applied=-1, first=100) == 0
    realign.gone(0)
    assert realign.gap(0, applied=-1, first=100) == 0  # a new gap asks again: the caller checks


def test_a_lagging_partition_without_progress_is_read_again_after_the_stall_time() -> None:
    realign = Realign(stall_seconds=5)
    assert realign.stalled(0, applied=9, end=50, now=100.0) is None  # first sight
    assert realign.stalled(0, applied=9, end=50, now=104.9) is None
    assert realign.stalled(0, applied=9, end=50, now=105.0) == 10
    # the seek is pending: what was fetched before it is skipped
    assert realign.gap(0, applied=9, first=30) == SKIP
    assert realign.gap(0, applied=9, first=10) is None
    # the clock restarts after a seek
    assert realign.stalled(0, applied=9, end=50, now=109.0) is None
    assert realign.stalled(0, applied=9, end=50, now=110.0) == 10


def test_progress_or_no_lag_is_never_a_stall() -> None:
    realign = Realign(stall_seconds=5)
    for step, applied in enumerate(range(0, 100, 10)):
        assert realign.stalled(3, applied=applied, end=200, now=step * 10.0) is None
    # caught up: no lag, however long nothing happens
    assert realign.stalled(4, applied=49, end=50, now=0.0) is None
    assert realign.stalled(4, applied=49, end=50, now=1000.0) is None


def test_a_revoked_partition_is_forgotten() -> None:
    realign = Realign(stall_seconds=5)
    assert realign.gap(0, applied=4, first=40) == 5
    realign.stalled(0, applied=4, end=50, now=0.0)
    realign.forget(0)
    assert realign.gap(0, applied=4, first=5) is None
    assert realign.stalled(0, applied=4, end=50, now=100.0) is None  # first sight again
