"""The child processes ``lagezentrum serve --bus`` starts and keeps running.

A correlation worker exits on purpose when a batch fails unexpectedly (exit code 70, see
:mod:`ops.workers.correlate`): recovery from its changelog is the clean way back, and it is the
supervisor's part to start it again. :class:`Supervisor` restarts every worker that exits while
serve runs, after a :class:`Backoff` delay, so a worker that fails at once (a broken rules file,
say) does not spin.

The other direction: a worker must not outlive a serve that was killed outright (SIGKILL, OOM
killer), or a restarted serve would find stale workers in its consumer group. Each worker is
started with ``--parent PID`` and calls :func:`exit_with_parent`, which asks Linux for SIGTERM
when that process ends (``PR_SET_PDEATHSIG``). It is set in the worker itself rather than in a
``preexec_fn``, which is unsafe in serve's threaded process; the parent pid check right after
covers a parent that died before the request.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG: Final = 1
PARENT_POLL_S: Final = 1.0


@dataclass(slots=True)
class Backoff:
    """Delays before restarting one process: ``first`` seconds, doubling with every exit in a
    row up to ``ceiling``; an exit after at least ``stable`` seconds of uptime starts over."""

    first: float = 1.0
    ceiling: float = 30.0
    stable: float = 60.0
    _next: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self._next = self.first

    def delay(self, uptime: float) -> float:
        """The delay before the next start of a process that ran ``uptime`` seconds."""
        if uptime >= self.stable:
            self._next = self.first
        chosen = self._next
        self._next = min(self._next * 2, self.ceiling)
        return chosen


def describe_exit(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
        return f"killed by signal {-code}"
    return f"exited with code {code}"


class Supervisor:
    """``count`` processes of ``command``, each restarted when it exits until :meth:`stop`.

    Call :meth:`start` and :meth:`stop` from the thread that lives as long as the process (the
    event loop's): Linux sends the parent-death signal when the *thread* that started a child
    ends.
    """

    def __init__(
        self,
        command: Sequence[str],
        count: int,
        *,
        name: str = "correlation worker",
        backoff: Callable[[], Backoff] = Backoff,
        clock: Callable[[], float] = time.monotonic,
        poll_seconds: float = 0.2,
    ) -> None:
        self.command = list(command)
        self.name = name
        self.restarts = 0
        self._count = count
        self._backoff = backoff
        self._clock = clock
        self._poll = poll_seconds
        self._procs: list[subprocess.Popen[bytes]] = []
        self._started: list[float] = []
        self._stopping = threading.Event()

    @property
    def pids(self) -> list[int]:
        return [proc.pid for proc in self._procs]

    def start(self) -> None:
        for _ in range(self._count):
            self._procs.append(self._spawn())
            self._started.append(self._clock())

    async def run(self) -> None:
        """Keep every process running; returns only after :meth:`stop`."""
        await asyncio.gather(*(self._keep(slot) for slot in range(len(self._procs))))

    async def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM to all, then SIGKILL to those still running after ``timeout`` seconds."""
        self._stopping.set()
        for proc in self._procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
        deadline = self._clock() + timeout
        for proc in self._procs:
            while proc.poll() is None and self._clock() < deadline:
                await asyncio.sleep(0.05)
            if proc.poll() is None:
                log.warning("%s %d ignored SIGTERM; killing it", self.name, proc.pid)
                proc.kill()
                await asyncio.to_thread(proc.wait)

    def _spawn(self) -> subprocess.Popen[bytes]:
        # A session of its own: a Ctrl-C at serve's terminal reaches serve, which stops the
        # workers in order, not the workers directly.
        return subprocess.Popen(self.command, start_new_session=True)

    async def _keep(self, slot: int) -> None:
        backoff = self._backoff()
        while not self._stopping.is_set():
            proc = self._procs[slot]
            while (code := proc.poll()) is None:
                await asyncio.sleep(self._poll)
            if self._stopping.is_set():
                return
            uptime = self._clock() - self._started[slot]
            delay = backoff.delay(uptime)
            log.warning(
                "%s %d %s after %.1f s; restarting it in %.1f s",
                self.name, proc.pid, describe_exit(code), uptime, delay,
                extra={"exit_code": code, "pid": proc.pid, "restart_in_s": delay},
            )  # fmt: skip
            await asyncio.sleep(delay)
            if self._stopping.is_set():
                return
            self._procs[slot] = self._spawn()
            self._started[slot] = self._clock()
            self.restarts += 1
            log.info("%s restarted as %d", self.name, self._procs[slot].pid)


def exit_with_parent(parent: int) -> None:
    """Have this process receive SIGTERM when ``parent`` (the process that started it) ends.

    Linux: the kernel's parent-death signal. Elsewhere: a daemon thread that watches the parent
    pid once a second. Either way, a parent that is already gone ends this process at once.
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    else:  # pragma: no cover - the product runs on Linux
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGTERM)


def _watch_parent(parent: int) -> None:  # pragma: no cover - non-Linux fallback
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    os.kill(os.getpid(), signal.SIGTERM)
