"""The distributed mode's commands as real child processes (``lagezentrum api|archive|serve …``),
for the tests that exercise the command line rather than the classes behind it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from ops.serve_process import CLI


def child_env(**extra: str) -> dict[str, str]:
    """This environment without any ambient Lagezentrum configuration, access control off."""
    values = {k: v for k, v in os.environ.items() if not k.startswith("LAGEZENTRUM_")}
    values.update({"LAGEZENTRUM_AUTH": "false", "LAGEZENTRUM_TICK_SECONDS": "0.2", **extra})
    return values


class Child:
    """``lagezentrum ARGS`` with stderr (the JSON log) in ``log``; :attr:`url` is set once an HTTP
    command announced ``… serving on URL`` (see :meth:`wait_announced`)."""

    def __init__(self, args: Sequence[str], *, log: Path, env: Mapping[str, str]) -> None:
        self.log = log
        self.url: str | None = None
        with log.open("ab") as sink:
            self.process = subprocess.Popen(
                [*CLI, *args],
                stdout=subprocess.PIPE,
                stderr=sink,
                text=True,
                env=dict(env),
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_announced(self, timeout: float = 120.0) -> str:
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            if "serving on" in line:
                self.url = line.split("serving on", 1)[1].split()[0]
                return self.url
        self.kill()
        raise AssertionError(
            f"no 'serving on' line (exit {self.process.poll()}); log:\n{self.log_text()[-3000:]}"
        )

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM and the exit code (SIGKILL and a failure if it does not stop in time)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"pid {self.pid} ignored SIGTERM for {timeout:.0f} s") from None

    def kill(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            self.process.wait(10)


def children_of(pid: int) -> list[int]:
    """Direct children of ``pid``, from /proc (whatever session they run in)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # exited meanwhile
        # "pid (comm) state ppid …": comm may hold spaces and parentheses.
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """Running, i.e. neither gone nor a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2 :].split()[0] != "Z"
