"""The processes ``bench kafka`` measures: started as in production, each logging to a file,
with what the bench reports about them afterwards — CPU time, worker exits, log levels.

``serve``: one ``lagezentrum serve --bus`` (ingest, API, feed gate, archive) whose supervisor
starts the workers. ``split``: ``correlate`` ×N, ``archive``, ``ingest`` and ``api``, the load
going to the ingest and the websocket clients to the API.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import threading
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

from ops.bench_cpu import cpu_seconds

TOPOLOGIES: Final = ("serve", "split")
# faust's own log format: "[time] [pid] [LEVEL] …"
_FAUST_LEVEL: Final = re.compile(r"^\[[^\]]*\] \[\d+\] \[([A-Z]+)\]")
_SAMPLES: Final = 3


@dataclass
class Target:
    """The processes under test: POSTs go to ``ingest_url``, websockets to ``stream_url``."""

    ingest_url: str
    stream_url: str
    roles: dict[str, list[int]] = field(default_factory=dict)  # role → pids, for the CPU figures
    logs: dict[str, Path] = field(default_factory=dict)  # role → its stderr
    described: list[str] = field(default_factory=list)
    supervised: int | None = None  # serve's pid: its children are the workers
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)  # split: ours

    def refresh(self) -> None:
        """The current worker pids (serve restarts a worker that exits)."""
        if self.supervised is not None:
            self.roles["workers"] = children(self.supervised)

    def cpu_seconds(self) -> dict[str, dict[int, float]]:
        """CPU time so far of each process, by role and pid."""
        self.refresh()
        return {role: {pid: cpu_seconds(pid) for pid in pids} for role, pids in self.roles.items()}

    def worker_exits(self) -> list[int]:
        """Exit codes of the workers that ended while the bench ran (serve: as its supervisor
        logged them; split: of the processes the bench started)."""
        if self.supervised is None:
            return [code for code in (w.poll() for w in self.workers) if code is not None]
        codes = []
        for entry in _json_lines(self.logs["serve"]):
            if entry.get("logger") == "ops.supervisor" and "exit_code" in entry:
                codes.append(int(entry["exit_code"]))
        return codes

    def log_levels(self) -> dict[str, dict[str, int]]:
        return {role: summarise(path)["levels"] for role, path in self.logs.items()}

    def log_problems(self) -> list[str]:
        """The first critical lines of each log (a worker that gave up on a batch, say)."""
        found: list[str] = []
        for role, path in self.logs.items():
            found += [f"{role}: {line}" for line in summarise(path)["critical"]]
        return found


def start_target(
    stack: ExitStack,
    bus: str,
    database_url: str,
    logs: Path,
    *,
    topology: str,
    workers: int,
    partitions: int,
) -> Target:
    """Start the processes under test, their stderr in ``logs``; ``stack`` stops them. Call it on
    a thread that outlives them (the main thread): the split topology's workers end with the
    thread that started them (see :func:`ops.supervisor.exit_with_parent`)."""
    from ops.distributed import worker_command
    from ops.serve_process import CLI

    if topology not in TOPOLOGIES:
        raise ValueError(f"topology must be one of {', '.join(TOPOLOGIES)}, not {topology!r}")
    # Only the bench's own settings reach the processes, not an ambient installation's.
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAGEZENTRUM_")}
    env["LAGEZENTRUM_RATE_LIMIT"] = "0"
    common = ["--bus", bus, "--partitions", str(partitions)]
    if topology == "serve":
        args = [*common, "--port", "0", "--workers", str(workers), "--database-url", database_url]
        serve, url = _announcing(stack, "serve", args, env, logs / "serve.log")
        target = Target(
            url,
            url,
            {"serve": [serve.pid]},
            {"serve": logs / "serve.log"},
            [f"serve --bus --workers {workers} (ingest, API, feed gate, archive)"],
            supervised=serve.pid,
        )
        target.refresh()
        return target
    target = Target("", "", described=["ingest (HTTP + feed gate)", "api (websockets)", "archive"])
    target.described.append(f"correlate ×{workers}")
    for index in range(workers):
        command = worker_command(bus, partitions, parent=os.getpid())
        target.workers.append(_quiet(stack, command, env, logs / f"worker-{index}.log"))
        target.logs[f"worker {index}"] = logs / f"worker-{index}.log"
    archive_args = [*CLI, "archive", *common, "--database-url", database_url]
    archive = _quiet(stack, archive_args, env, logs / "archive.log")
    ingest_env = {**env, "LAGEZENTRUM_DATABASE_URL": database_url}
    ingest, target.ingest_url = _announcing(
        stack, "ingest", [*common, "--port", "0"], ingest_env, logs / "ingest.log"
    )
    api_args = [*common, "--port", "0", "--database-url", database_url]
    api, target.stream_url = _announcing(stack, "api", api_args, env, logs / "api.log")
    target.roles = {
        "ingest": [ingest.pid],
        "api": [api.pid],
        "archive": [archive.pid],
        "workers": [w.pid for w in target.workers],
    }
    target.logs.update(ingest=logs / "ingest.log", api=logs / "api.log")
    target.logs["archive"] = logs / "archive.log"
    return target


def _stop(process: subprocess.Popen[Any], timeout: float = 60.0) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _drain(stream: IO[str] | None) -> None:
    """Keep reading a child's stdout after its announcement: a full pipe would stall it."""
    if stream is not None:
        threading.Thread(target=stream.read, daemon=True).start()


def _announcing(
    stack: ExitStack, command: str, args: list[str], env: dict[str, str], log: Path
) -> tuple[subprocess.Popen[str], str]:
    from ops.serve_process import spawn_serve

    process, url = spawn_serve(args, env=env, timeout=180, command=command, log=log)
    stack.callback(_stop, process)
    _drain(process.stdout)
    return process, url


def _quiet(
    stack: ExitStack, command: list[str], env: dict[str, str], log: Path
) -> subprocess.Popen[bytes]:
    with log.open("ab") as sink:
        process = subprocess.Popen(
            command, stdout=sink, stderr=sink, env=env, start_new_session=True
        )
    stack.callback(_stop, process)
    return process


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = (entry / "stat").read_text()
                if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


def _json_lines(path: Path) -> list[dict[str, Any]]:
    entries = []
    with contextlib.suppress(OSError), path.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    entries.append(json.loads(line))
    return entries


def summarise(path: Path) -> dict[str, Any]:
    """Lines per level of a process log (our JSON lines and faust's own format) and the first
    critical ones."""
    levels: dict[str, int] = {}
    critical: list[str] = []
    with contextlib.suppress(OSError), path.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            level, message = None, line.strip()
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    entry = json.loads(line)
                    level, message = str(entry.get("level")), str(entry.get("message"))
            elif found := _FAUST_LEVEL.match(line):
                level = found.group(1).lower()
            if level in ("warning", "error", "critical"):
                levels[level] = levels.get(level, 0) + 1
                if level == "critical" and len(critical) < _SAMPLES:
                    critical.append(message[:300])
    return {"levels": levels, "critical": critical}
