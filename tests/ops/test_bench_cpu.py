"""CPU accounting of benchmark processes, against real processes."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

from ops.bench_cpu import Machine, cpu_percent, server_roles, started_with

BUSY = "import time\nend = time.time() + 3\nwhile time.time() < end: pass\n"
# a process known by a marker on its command line, whose child does the work (as PostgreSQL's
# backends do under the postmaster)
PARENT = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {BUSY!r}])"


def test_a_marked_process_and_its_children_are_counted() -> None:
    marker = f"lz-test-{uuid.uuid4().hex}"
    server = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3)"])
    helper = subprocess.Popen([sys.executable, "-c", PARENT, marker])
    try:
        time.sleep(0.5)
        found = started_with(marker)
        assert helper.pid in found
        assert len(found) == 2  # and its spinning child
        machine = Machine(server_roles(server.pid, marker))
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
    assert cpu["postgres"] > 10  # the child spun all along (on a shared machine)
    assert cpu["serve"] < cpu["postgres"]  # the server only slept
    assert 0.9 < figures["cpu_window_s"] < 3
    assert len(figures["loadavg_at_end_of_load"]) == 3


def test_cpu_percent_counts_what_each_process_used_in_the_window() -> None:
    before = {"a": {1: 10.0, 2: 5.0}}
    after = {"a": {1: 10.5, 3: 0.25}}  # 2 exited, 3 started meanwhile
    assert cpu_percent(before, after, 1.0) == {"a": 75.0}
