"""Start the kernel's writeback of the embedded PostgreSQL's data files every second.

Linux writes a file's dirty pages back once they are ``dirty_expire_centisecs`` old (30 s by
default), and then all of that file's dirty pages at once. PostgreSQL starts writeback early for
the pages it writes itself (``checkpoint_flush_after``, ``bgwriter_flush_after``,
``backend_flush_after``, all ``sync_file_range``), but not for the zero-filled pages with which it
extends a table or an index one or a few blocks at a time — which is how a growing report log
grows. At 1,000 reports/s that is ~1.7 MB/s of dirty pages, written as one ~50 MB burst every
~31 s; every commit's WAL flush queues behind the burst, and ``bench live`` saw 100-180 ms of
slow commits each time (the p99 of a two-minute run went over 100 ms with it).

:class:`WritebackPacer` does for those pages what PostgreSQL does for its own: every
``interval`` it calls ``sync_file_range(SYNC_FILE_RANGE_WRITE)`` — start writeback, do not wait
for it — on each data file modified since its last pass, so the kernel writes ~2 MB a second
instead (Redis paces its background saves the same way, ``rdb-save-incremental-fsync``). In
instrumented ``bench live`` runs the bursts of slow deltas every ~31 s (e.g. at 32.5 and 63.2 s
of a 70-s run) are gone with it. Checking the mtimes of 400 files takes 2.3 ms, each file flushed
~40 µs more (measured on files of a temporary directory; under the bench ~57 of the database's
~380 files changed per second, so a pass should take ~5 ms — not measured in place). A first
version walked the whole cluster, 1,340 files, and took 6 % of a core (py-spy).
Durability does not depend on it: commits are made durable by the WAL's fdatasync, checkpoints
fsync the data files as before. It runs only beside the embedded server, whose files this process
owns; an external server's host is its operator's to tune (``docs/PERFORMANCE.md``).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Final

log = logging.getLogger(__name__)

INTERVAL: Final = 1.0  # seconds between passes
_NICENESS: Final = 10  # the walk is background work: the event loop and PostgreSQL come first
_SYNC_FILE_RANGE_WRITE: Final = 2  # <linux/fs.h>

Flush = Callable[[int], None]


def _sync_file_range() -> Flush | None:
    """``sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE)`` from libc; None where there is none
    (it is Linux-only, and the ``os`` module does not offer it)."""
    try:
        function = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int

    def flush(fd: int) -> None:
        if function(fd, 0, 0, _SYNC_FILE_RANGE_WRITE) != 0:
            error = ctypes.get_errno()
            raise OSError(error, os.strerror(error))

    return flush


SYNC_FILE_RANGE: Final = _sync_file_range()


class WritebackPacer:
    """A daemon thread that starts writeback of the files in ``directories`` (not recursive)
    modified since its previous pass. ``flush`` is given an open file descriptor (default:
    ``sync_file_range``; tests pass their own)."""

    def __init__(
        self,
        directories: Sequence[Path],
        *,
        interval: float = INTERVAL,
        flush: Flush | None = SYNC_FILE_RANGE,
    ) -> None:
        if flush is None:
            raise ValueError("no flush function: sync_file_range is not available here")
        self.directories = tuple(directories)
        self.interval = interval
        self._flush = flush
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._since = 0.0  # files modified at or after this (epoch seconds) are flushed
        self.passes = 0
        self.flushed = 0

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self._since = time.time()  # what start-up wrote is the checkpoint's business
        self._thread = threading.Thread(target=self._run, name="pg-writeback", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def run_pass(self) -> int:
        """Flush every file modified since the previous pass; return how many were flushed."""
        # mtime has the kernel's coarse clock (a few ms): take a second's margin rather than
        # miss a write made just before the previous pass read the clock.
        started = time.time()
        since, self._since = self._since - 1.0, started
        count = 0
        for path in self._modified(since):
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError:  # dropped meanwhile (a removed partition, a rewritten table)
                continue
            try:
                self._flush(fd)
                count += 1
            except OSError as error:
                log.debug("writeback of %s: %s", path, error)
            finally:
                os.close(fd)
        self.passes += 1
        self.flushed += count
        return count

    def _modified(self, since: float) -> Iterator[str]:
        # once a second over a few hundred files: scandir and no per-file context manager
        for directory in self.directories:
            try:
                entries = os.scandir(directory)
            except OSError:
                continue
            with entries:
                for entry in entries:
                    try:
                        if (
                            entry.is_file(follow_symlinks=False)
                            and entry.stat(follow_symlinks=False).st_mtime >= since
                        ):
                            yield entry.path
                    except OSError:
                        continue

    def _run(self) -> None:
        with contextlib.suppress(OSError, AttributeError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), _NICENESS)
        while not self._stop.wait(self.interval):
            try:
                self.run_pass()
            except Exception:  # a pacer that stops would bring the bursts back, nothing worse
                log.exception("writeback pass failed")
