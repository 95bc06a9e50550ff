"""The supervisor of serve --bus's worker processes: the restart backoff, restarts of real
processes that exit, and the parent-death signal that ends a worker with its killed parent."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ops.supervisor import Backoff, Supervisor, describe_exit


def test_backoff_doubles_from_one_second_to_thirty_and_starts_over_after_a_minute() -> None:
    backoff = Backoff()
    assert [backoff.delay(0.5) for _ in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    assert backoff.delay(59.9) == 30  # not yet a minute up: still failing
    assert backoff.delay(60.0) == 1  # a minute up: a new, independent failure
    assert backoff.delay(0.1) == 2


@given(st.lists(st.floats(min_value=0, max_value=600), min_size=1, max_size=40))
def test_backoff_delays_stay_in_bounds_and_follow_the_uptimes(uptimes: list[float]) -> None:
    backoff = Backoff()
    previous: float | None = None
    for uptime in uptimes:
        delay = backoff.delay(uptime)
        assert 1 <= delay <= 30
        if uptime >= 60:
            assert delay == 1
        elif previous is not None:
            assert delay == min(previous * 2, 30)
        else:
            assert delay == 1
        previous = delay


def test_exits_are_described_with_their_code_or_signal() -> None:
    assert describe_exit(70) == "exited with code 70"
    assert describe_exit(-9) == "killed by SIGKILL"


async def test_a_process_that_exits_is_restarted_with_a_warning_naming_its_exit_code(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Each start appends a line to a file and exits 70 (as the correlation worker does after an
    unexpected failure); the supervisor keeps starting it, with the backoff between starts."""
    starts = tmp_path / "starts"
    script = f"open({str(starts)!r}, 'a').write('x\\n'); raise SystemExit(70)"
    supervisor = Supervisor(
        [sys.executable, "-c", script],
        1,
        name="test worker",
        backoff=lambda: Backoff(first=0.1, ceiling=0.4, stable=60),
        poll_seconds=0.02,
    )
    caplog.set_level(logging.WARNING, logger="ops.supervisor")
    supervisor.start()
    runner = asyncio.create_task(supervisor.run())
    began = time.monotonic()
    try:
        while _lines(starts) < 5 and time.monotonic() - began < 20:
            await asyncio.sleep(0.02)
    finally:
        await supervisor.stop()
        runner.cancel()
    elapsed = time.monotonic() - began
    assert _lines(starts) >= 5
    assert supervisor.restarts >= 4
    # 0.1 + 0.2 + 0.4 + 0.4 s of backoff at least between the first and the fifth start
    assert elapsed >= 1.1
    warnings = [r for r in caplog.records if "test worker" in r.getMessage()]
    assert len(warnings) >= 4
    assert all("exited with code 70" in r.getMessage() for r in warnings)
    assert [r.__dict__["restart_in_s"] for r in warnings[:4]] == [0.1, 0.2, 0.4, 0.4]
    assert all(r.__dict__["exit_code"] == 70 for r in warnings)
    assert "restarting it in 0.1 s" in warnings[0].getMessage()


def _lines(path: Path) -> int:
    return path.read_text().count("x") if path.exists() else 0


async def test_stop_ends_every_process_and_none_is_restarted() -> None:
    supervisor = Supervisor(
        [sys.executable, "-c", "import time; time.sleep(60)"], 2, poll_seconds=0.02
    )
    supervisor.start()
    runner = asyncio.create_task(supervisor.run())
    pids = supervisor.pids
    await asyncio.sleep(0.3)
    await supervisor.stop(timeout=5)
    await asyncio.wait_for(runner, 5)
    assert supervisor.restarts == 0
    assert supervisor.pids == pids
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_process_started_with_exit_with_parent_ends_when_its_parent_is_killed(
    tmp_path: Path,
) -> None:
    """Parent → child; the child calls exit_with_parent and sleeps. SIGKILL to the parent (no
    chance to clean up) ends the child too, within a second."""
    child_pid = tmp_path / "child.pid"
    child = textwrap.dedent(
        f"""
        import os, sys, time
        from ops.supervisor import exit_with_parent
        exit_with_parent(int(sys.argv[1]))
        open({str(child_pid)!r}, "w").write(str(os.getpid()))
        time.sleep(60)
        """
    )
    parent = textwrap.dedent(
        f"""
        import os, subprocess, sys, time
        subprocess.Popen([sys.executable, "-c", {child!r}, str(os.getpid())],
                         start_new_session=True)
        time.sleep(60)
        """
    )
    middle = subprocess.Popen([sys.executable, "-c", parent], cwd=Path(__file__).parents[2])
    try:
        deadline = time.monotonic() + 30
        while not child_pid.exists() or not child_pid.read_text():
            assert time.monotonic() < deadline, "the child did not start"
            time.sleep(0.05)
        pid = int(child_pid.read_text())
        assert _running(pid)
        middle.kill()
        middle.wait()
        deadline = time.monotonic() + 5
        while _running(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _running(pid), "the child outlived its killed parent"
    finally:
        middle.kill()
        if child_pid.exists() and child_pid.read_text() and _running(int(child_pid.read_text())):
            os.kill(int(child_pid.read_text()), signal.SIGKILL)


def test_a_process_whose_parent_is_already_gone_ends_at_once() -> None:
    """The race the parent-pid check covers: the parent died before the signal was requested."""
    done = subprocess.run(
        [sys.executable, "-c", "from ops.supervisor import exit_with_parent; exit_with_parent(1)"
         "; import time; time.sleep(30)"],
        timeout=20, check=False, cwd=Path(__file__).parents[2],
    )  # fmt: skip
    assert done.returncode == -signal.SIGTERM


def _running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2 :].split()[0] != "Z"
