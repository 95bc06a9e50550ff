"""The writeback pacer: it starts the kernel's writeback of the files modified since its last
pass, and of no others."""

from __future__ import annotations

import ctypes
import os
import time
from pathlib import Path

import pytest

from ops.writeback import SYNC_FILE_RANGE, WritebackPacer


def _touch(path: Path, mtime: float) -> None:
    path.write_bytes(b"x")
    os.utime(path, (mtime, mtime))


def test_a_pass_flushes_the_files_modified_since_the_previous_one(tmp_path: Path) -> None:
    flushed: list[int] = []

    def flush(fd: int) -> None:
        flushed.append(os.fstat(fd).st_ino)

    pacer = WritebackPacer([tmp_path, tmp_path / "gone"], flush=flush)
    now = time.time()
    _touch(tmp_path / "old", now - 60)
    _touch(tmp_path / "new", now - 3)
    (tmp_path / "directory").mkdir()  # modified too, but no file: never opened for a flush
    pacer._since = now - 5  # as if the previous pass had run five seconds ago
    assert pacer.run_pass() == 1
    assert flushed == [(tmp_path / "new").stat().st_ino]
    flushed.clear()
    _touch(tmp_path / "old", time.time() + 5)  # written after that pass began; "new" was not
    assert pacer.run_pass() == 1
    assert flushed == [(tmp_path / "old").stat().st_ino]
    assert (pacer.passes, pacer.flushed) == (2, 2)


def test_a_flush_that_fails_is_skipped_not_fatal(tmp_path: Path) -> None:
    def refuse(fd: int) -> None:
        raise OSError(5, "I/O error")

    _touch(tmp_path / "a", time.time())
    pacer = WritebackPacer([tmp_path], flush=refuse)
    pacer._since = time.time() - 5
    assert pacer.run_pass() == 0


def test_the_thread_runs_passes_until_stopped(tmp_path: Path) -> None:
    calls: list[int] = []
    pacer = WritebackPacer([tmp_path], interval=0.05, flush=calls.append)
    pacer.start()
    try:
        _touch(tmp_path / "a", time.time() + 1)
        deadline = time.monotonic() + 5
        while not calls and time.monotonic() < deadline:
            time.sleep(0.02)
        assert calls
        assert pacer.running
    finally:
        pacer.stop()
    assert not pacer.running


class _Range(ctypes.Structure):
    _fields_ = [("off", ctypes.c_uint64), ("len", ctypes.c_uint64)]


class _CacheStat(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint64) for name in (
        "nr_cache", "nr_dirty", "nr_writeback", "nr_evicted", "nr_recently_evicted"
    )]  # fmt: skip


_CACHESTAT: int = 451  # Linux >= 6.5, one number on every architecture


def _dirty_pages(path: Path) -> int:
    """The file's dirty pages in the page cache (``cachestat(2)``)."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        result = _CacheStat()
        if libc.syscall(_CACHESTAT, fd, ctypes.byref(_Range(0, 0)), ctypes.byref(result), 0):
            error = ctypes.get_errno()
            pytest.skip(f"cachestat(2) is not available here: {os.strerror(error)}")
        return int(result.nr_dirty)
    finally:
        os.close(fd)


@pytest.mark.skipif(SYNC_FILE_RANGE is None, reason="sync_file_range is Linux-only")
def test_a_pass_gets_the_kernel_to_write_the_dirty_pages(tmp_path: Path) -> None:
    path = tmp_path / "relation"
    path.write_bytes(os.urandom(8 << 20))
    dirty = _dirty_pages(path)
    if dirty == 0:
        pytest.skip("this file system keeps no dirty pages in the page cache (tmpfs?)")
    time.sleep(0.5)
    assert _dirty_pages(path) > 0  # the kernel alone would wait ~30 s before writing them
    pacer = WritebackPacer([tmp_path])
    pacer._since = time.time() - 5
    assert pacer.run_pass() == 1
    deadline = time.monotonic() + 10
    while _dirty_pages(path) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _dirty_pages(path) == 0
