"""CPU accounting of benchmark processes, against real processes."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

from ops.bench_cpu import Machine, cpu_percent, descendants, started_with

BUSY = "import sys, time\nend = time.time() + 3\nwhile time.time() < end: pass\n"


def test_a_busy_child_and_its_marked_helper_are_counted() -> None:
    marker = f"lz-test-{uuid.uuid4().hex}"
    # a "server" whose own child spins, and a daemon-like process known only by its marker
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import subprocess, sys; subprocess.run([sys.executable, '-c', {BUSY!r}])",
        ]
    )
    helper = subprocess.Popen([sys.executable, "-c", BUSY, marker])
    try:
        time.sleep(0.5)
        assert descendants(server.pid)  # the spinning child
        assert started_with(marker) == [helper.pid]
        machine = Machine(server.pid, marker)
        machine.sample("load")
        time.sleep(1.0)
        machine.sample("loaded")
        figures = machine.figures()
    finally:
        for process in (server, helper):
            process.kill()
            process.wait()
    cpu = figures["cpu_percent"]
    assert set(cpu) == {"serve", "postgres", "bench (load + websocket clients)"}
    assert cpu["postgres"] > 10  # the marked helper spun all along (on a shared machine)
    assert 0.9 < figures["cpu_window_s"] < 3
    assert len(figures["loadavg_at_end_of_load"]) == 3


def test_cpu_percent_counts_what_each_process_used_in_the_window() -> None:
    before = {"a": {1: 10.0, 2: 5.0}}
    after = {"a": {1: 10.5, 3: 0.25}}  # 2 exited, 3 started meanwhile
    assert cpu_percent(before, after, 1.0) == {"a": 75.0}
