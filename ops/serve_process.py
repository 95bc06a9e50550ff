"""``lagezentrum serve`` as a child process, for benchmarks and tests that need a real server."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

# This interpreter's `lagezentrum`, whether or not the console script is on PATH.
CLI: Final = (sys.executable, "-c", "from ops.cli import main; main()")


class ServeDidNotStart(RuntimeError):
    """The child exited or stayed silent before announcing its address."""


def spawn_serve(
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 120.0,
    command: str = "serve",
    log: Path | None = None,
) -> tuple[subprocess.Popen[str], str]:
    """Start ``lagezentrum serve ARGS`` (or another HTTP ``command``: ``ingest``, ``api``) and
    return the process and the URL it announced; its stderr goes to ``log`` if given."""
    with open(log, "ab") if log is not None else contextlib.nullcontext() as sink:
        process = subprocess.Popen(
            [*CLI, command, *args],
            stdout=subprocess.PIPE,
            stderr=sink if sink is not None else subprocess.DEVNULL,
            text=True,
            env=dict(env) if env is not None else None,
        )
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        if "serving on" in line:
            return process, line.split("serving on", 1)[1].split()[0]
    process.kill()
    raise ServeDidNotStart(f"lagezentrum {command} did not start (exit {process.poll()})")
