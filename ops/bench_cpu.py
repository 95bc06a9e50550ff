"""CPU accounting for the benchmarks that start processes: how busy each part of the system was
during the load, so a figure can say whether the machine, not the code, was the limit."""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

_TICKS: Final = os.sysconf("SC_CLK_TCK")

Sample = dict[str, dict[int, float]]
"""CPU seconds so far by role and pid."""


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (0 once it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _processes() -> list[tuple[int, int, bytes]]:
    """(pid, parent pid, command line) of every process /proc shows now."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue  # gone meanwhile
            found.append((int(entry.name), int(stat[stat.rindex(")") + 2 :].split()[1]), cmdline))
    return found


def started_with(marker: str) -> list[int]:
    """The processes whose command line contains ``marker`` (a data directory, say), and
    everything below them."""
    processes = _processes()
    found = {pid for pid, _, cmdline in processes if marker.encode() in cmdline}
    frontier = list(found)
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, of, _ in processes if of == parent and pid not in found]
        found.update(children)
        frontier.extend(children)
    return sorted(found)


def cpu_percent(before: Sample, after: Sample, window: float) -> dict[str, float]:
    """CPU of each role between two samples in % of one core. A process that exited meanwhile
    takes its share with it; one that started meanwhile (a restarted worker) counts in full."""
    return {
        role: round(100 * sum(max(t - before[role].get(pid, 0.0), 0.0) for pid, t in now.items())
                    / window, 1)
        for role, now in after.items()
    }  # fmt: skip


Roles = Callable[[], Sample]
"""CPU seconds so far of the processes under test, by role."""


def server_roles(server: int, database_marker: str) -> Roles:
    """A ``serve`` process and its embedded PostgreSQL, which daemonises (so it is found by its
    data directory on the command line, not as a child)."""

    def roles() -> Sample:
        return {
            "serve": {server: cpu_seconds(server)},
            "postgres": {pid: cpu_seconds(pid) for pid in started_with(database_marker)},
        }

    return roles


class Machine:
    """CPU of the processes under test (``roles``) and of this process (the load generator)
    between the ``"load"`` and ``"loaded"`` samples, plus the load average: whether the machine
    was full."""

    def __init__(self, roles: Roles | None = None) -> None:
        self._roles = roles
        self._samples: dict[str, tuple[float, Sample, tuple[float, float, float]]] = {}

    def sample(self, phase: str) -> None:
        cpu: Sample = self._roles() if self._roles is not None else {}
        cpu["bench (load + websocket clients)"] = {os.getpid(): own_cpu_seconds()}
        self._samples[phase] = (time.perf_counter(), cpu, os.getloadavg())

    def figures(self) -> dict[str, Any]:
        (began, before, load_before), (ended, after, load_after) = (
            self._samples["load"], self._samples["loaded"],
        )  # fmt: skip
        window = ended - began
        return {
            "cpu_window_s": round(window, 2),
            "cpu_percent": cpu_percent(before, after, window),  # of one core
            "loadavg_at_start_of_load": [round(x, 2) for x in load_before],
            "loadavg_at_end_of_load": [round(x, 2) for x in load_after],
        }
