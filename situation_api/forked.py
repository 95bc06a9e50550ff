"""Encode a large state on a copy of the process, so the event loop does not wait for it.

The runtime's periodic snapshot encodes the whole engine state and picture: at 8,000 open
incidents about a second of CPU (engine state 0.3 s, picture views 0.4 s, their JSON 0.2 s),
during which one event loop would answer no POST and send no delta. :func:`start` forks instead
(as Redis does for its background saves): the child sees the state exactly as it was at the
fork, copy-on-write, runs ``work`` and writes the bytes it returns to a pipe; the parent goes on
at once and collects them from a thread. Forking costs the parent the copy of its page tables —
milliseconds, not a second; memory pages either side writes to meanwhile are copied (at worst
the size of the state, for the second the child lives).

The child runs in the idle scheduling class (``SCHED_IDLE``; nice 19 where there is none): its
seconds of CPU are background work, and on a small machine it would otherwise take a core from
the event loop and PostgreSQL exactly when they are busy. In two-minute ``bench live`` runs (one
each) the snapshot at minute one left 132 report commits slower than 60 ms (up to 324 ms) with
the child at normal priority, 59 (up to 221 ms) at nice 19. Idle class rather than nice 19
because a core that runs only idle-class work counts as idle when the kernel places a waking
task; whether that matters here is not shown: sampling the event loop's thread
(``/proc/<pid>/task/<tid>/schedstat``, every 100 ms, one run each) it waited for a core 11 ms of
every 100 ms on average while a nice-19 child lived, 12.7 ms while an idle-class one did, ~4 ms
otherwise. What did change the picture around the snapshot is the child packing its parts (see
:mod:`situation_api.history_writer`): POST→delta latencies over 100 ms around it, instrumented
runs, 220-5,200 in eleven runs before (median 1,220), 0, 130 and 330 in three runs after, the two
changes together. The parent's own cost remains: the first write to each page after the fork
faults and copies it (~6,000 faults in the first 100 ms, ~1,000 per 100 ms in the second after,
200-500 while the child lives, against ~70 otherwise).

The child runs nothing but ``work``: no event loop, no other thread (only the forking thread
exists in it), no garbage collector (its walks would copy every page), no file descriptor but its
pipe, no exit handlers (``os._exit``). ``work`` must therefore be pure computation on memory.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
from collections.abc import Awaitable, Callable, Sequence
from typing import Final, TypeAlias

_LENGTH: Final = 8  # bytes of each part's length prefix
CHILD_NICENESS: Final = 19

Work: TypeAlias = Callable[[], Sequence[bytes]]
Result: TypeAlias = Awaitable[list[bytes]]


class ForkFailed(RuntimeError):
    """The child did not deliver its result (it failed or was killed); the caller may do the
    work in-process instead."""


def start(work: Work) -> Result:
    """Fork now and run ``work`` in the child; await the result for the parts it returned.
    Raises :class:`ForkFailed` (at once, or when awaited) if that does not work out."""
    if not hasattr(os, "fork"):
        raise ForkFailed("this platform cannot fork")
    read_end, write_end = os.pipe()
    try:
        pid = os.fork()
    except OSError as error:
        os.close(read_end)
        os.close(write_end)
        raise ForkFailed(f"fork: {error}") from error
    if pid == 0:  # pragma: no cover - the child; its output is what the tests check
        _child(work, write_end)
    os.close(write_end)
    return _collect(pid, read_end)


def _child(work: Work, write_end: int) -> None:
    code = 1
    try:
        gc.disable()
        _lowest_priority()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_DFL)  # the parent's handlers belong to its loop
        # Only the pipe stays open: a child that outlives a killed parent must not hold its
        # listening socket (a restart could not bind the port) or its database connections.
        os.closerange(3, write_end)
        os.closerange(write_end + 1, os.sysconf("SC_OPEN_MAX"))
        with os.fdopen(write_end, "wb") as out:
            for part in work():
                out.write(len(part).to_bytes(_LENGTH, "big"))
                out.write(part)
        code = 0
    finally:
        os._exit(code)


def _lowest_priority() -> None:
    """SCHED_IDLE where there is one, else nice 19: the lowest there is (the module's docstring
    says what was measured of the difference, which is little)."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        os.nice(CHILD_NICENESS - os.nice(0))


async def _collect(pid: int, read_end: int) -> list[bytes]:
    # Read and split on a thread: copying megabytes would otherwise hold the event loop.
    def read() -> tuple[list[bytes], int]:
        chunks: list[bytes] = []
        try:
            while chunk := os.read(read_end, 1 << 20):
                chunks.append(chunk)
        finally:
            os.close(read_end)
            _, status = os.waitpid(pid, 0)
        return _split(b"".join(chunks)), os.waitstatus_to_exitcode(status)

    parts, code = await asyncio.to_thread(read)
    if code != 0:
        raise ForkFailed(f"the child exited with {code}")
    return parts


def _split(data: bytes) -> list[bytes]:
    parts: list[bytes] = []
    view = memoryview(data)
    while view:
        if len(view) < _LENGTH:
            raise ForkFailed("truncated output")
        size = int.from_bytes(view[:_LENGTH], "big")
        if len(view) < _LENGTH + size:
            raise ForkFailed("truncated output")
        parts.append(bytes(view[_LENGTH : _LENGTH + size]))
        view = view[_LENGTH + size :]
    return parts
