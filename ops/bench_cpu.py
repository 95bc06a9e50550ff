"""CPU accounting for the benchmarks that start processes: how busy each part of the system was
during the load, so a figure can say whether the machine, not the code, was the limit."""

from __future__ import annotations

import os
import resource
import time
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


def started_with(marker: str) -> list[int]:
    """The processes whose command line contains ``marker`` (a data directory, say)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if marker.encode() in cmdline:
                found.append(int(entry.name))
    return sorted(found)


def descendants(pid: int) -> list[int]:
    """The processes below ``pid`` (children, their children, …) as /proc shows them now."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat[stat.rindex(")") + 2 :].split()[1])
    found: list[int] = []
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, of in parents.items() if of == parent]
        found.extend(children)
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


class Machine:
    """CPU of a server process (``serve``) and of its embedded PostgreSQL (``postgres``) when
    the bench started them, and of this process (the load generator), between the
    ``"load"`` and ``"loaded"`` samples; plus the load average: whether the machine was full."""

    def __init__(self, server: int | None, database_marker: str | None = None) -> None:
        self._server = server
        self._marker = database_marker  # PostgreSQL daemonises: found by its command line
        self._samples: dict[str, tuple[float, Sample, tuple[float, float, float]]] = {}

    def sample(self, phase: str) -> None:
        cpu: Sample = {"bench (load + websocket clients)": {os.getpid(): own_cpu_seconds()}}
        if self._server is not None:
            cpu["serve"] = {self._server: cpu_seconds(self._server)}
        if self._marker is not None:
            postmasters = started_with(self._marker)
            pids = {*postmasters, *(pid for p in postmasters for pid in descendants(p))}
            cpu["postgres"] = {pid: cpu_seconds(pid) for pid in pids}
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
