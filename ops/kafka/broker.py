"""A single-node Apache Kafka (KRaft) broker for development and CI, run from Maven Central jars.

No Docker and no Kafka distribution tarball: :file:`pom.xml` beside this module names the broker
(``org.apache.kafka:kafka_2.13``); Maven resolves its runtime classpath once into ``~/.m2`` and we
cache the resulting class path in a file keyed by the pom's hash, so later starts need neither
Maven nor the network. The broker itself is the real ``kafka.Kafka`` main class.

What :class:`KafkaBroker` does:

- **One combined broker + controller node** listening on loopback only
  (``PLAINTEXT://127.0.0.1:P``, ``CONTROLLER://127.0.0.1:C``), ports chosen free unless given.
- **Formats storage** (``kafka.tools.StorageTool format``) with a random cluster id the first time
  a data directory is used; a formatted directory is started as it is, keeping its topics.
- **Ready means usable:** the port accepts, ApiVersions answers without error, and a Metadata
  request lists this broker under this cluster id. Waiting on the port alone would race the
  controller's first metadata commit.
- **Stops with SIGTERM** (Kafka's controlled shutdown flushes and closes its logs), SIGKILL only
  after a timeout; a temporary data directory is removed afterwards. Broker logs go to
  ``<data_dir>/logs/server.log``.
- **Sized for a small shared machine:** heap 512 MB, serial GC, few threads, small internal
  topics. A JVM start is mostly class loading and JIT work, so by default the broker runs with
  the quick (C1) JIT only, and the first broker to stop writes a class-data sharing archive
  (AppCDS) into the cache directory that every later start maps in; together they cut start-up
  CPU time by more than half. ``quick_jit=False`` gives full peak performance for benchmarks.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from ops.kafka.classpath import default_cache_dir, resolve_classpath
from ops.kafka.errors import KafkaBrokerError
from ops.kafka.probe import ProbeFailed, probe
from ops.service import ManagedServer

log = logging.getLogger(__name__)

MAIN_CLASS: Final = "kafka.Kafka"
STORAGE_TOOL: Final = "kafka.tools.StorageTool"
NODE_ID: Final = 1

# Settings for one node on a small machine; ``KafkaBroker.properties`` overrides them, never the
# listener/identity settings which the class owns.
DEFAULT_PROPERTIES: Final[Mapping[str, str]] = {
    # Topics are created explicitly (ops.kafka.topics), so a typo in a topic name fails loudly.
    "auto.create.topics.enable": "false",
    "num.partitions": "1",
    "default.replication.factor": "1",
    "min.insync.replicas": "1",
    "offsets.topic.replication.factor": "1",
    # Internal topics default to 50 partitions each, which costs seconds on first use.
    "offsets.topic.num.partitions": "4",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "transaction.state.log.num.partitions": "4",
    "share.coordinator.state.topic.replication.factor": "1",
    "share.coordinator.state.topic.min.isr": "1",
    "group.initial.rebalance.delay.ms": "0",
    "num.network.threads": "2",
    "num.io.threads": "4",
    "background.threads": "4",
    # The cleaner's dedupe buffer lives on the heap (128 MB by default); compaction of
    # development-sized topics needs far less.
    "log.cleaner.dedupe.buffer.size": "33554432",
    "unclean.leader.election.enable": "false",
}
OWNED_PROPERTIES: Final = frozenset(
    {
        "process.roles",
        "node.id",
        "controller.quorum.voters",
        "controller.quorum.bootstrap.servers",
        "listeners",
        "advertised.listeners",
        "controller.listener.names",
        "inter.broker.listener.name",
        "listener.security.protocol.map",
        "log.dirs",
    }
)
JVM_OPTIONS: Final = (
    "-XX:+UseSerialGC",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
    "-Dfile.encoding=UTF-8",
)
# Log4j's own shutdown hook would race Kafka's and drop the last lines of a controlled shutdown.
_LOG4J2: Final = """\
status = warn
shutdownHook = disable
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = {log_file}
appender.file.append = true
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
"""


# -- the broker -----------------------------------------------------------------------------------


@dataclass
class KafkaBroker(ManagedServer):
    """One KRaft broker+controller: ``start()`` returns its bootstrap address ``127.0.0.1:P``.

    ``data_dir=None`` uses a temporary directory removed by :meth:`stop`; a given directory is
    kept and reused (formatted once). ``port=None`` (or 0) picks a free loopback port.
    ``properties`` override :data:`DEFAULT_PROPERTIES`. Also a context manager (sync and async).
    """

    data_dir: Path | None = None
    port: int | None = None
    heap: str = "512m"
    properties: Mapping[str, str] = field(default_factory=dict)
    java: str = "java"
    mvn: str = "mvn"
    cache_dir: Path | None = None
    quick_jit: bool = True
    class_data_sharing: bool = True
    start_timeout: float = 120.0
    stop_timeout: float = 30.0
    _jvm: list[str] = field(default_factory=list, init=False, repr=False)
    _cds_dump: tuple[Path, Path] | None = field(default=None, init=False, repr=False)
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _dir: Path | None = field(default=None, init=False, repr=False)
    _temporary: bool = field(default=False, init=False, repr=False)
    _port: int | None = field(default=None, init=False, repr=False)
    _cluster_id: str | None = field(default=None, init=False, repr=False)

    # -- public API ------------------------------------------------------------------------------

    @property
    def bootstrap(self) -> str:
        if self._port is None:
            raise KafkaBrokerError("the broker is not running")
        return f"127.0.0.1:{self._port}"

    @property
    def cluster_id(self) -> str | None:
        return self._cluster_id

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def directory(self) -> Path:
        """The data directory in use (a temporary one when ``data_dir`` is None)."""
        if self._dir is None:
            raise KafkaBrokerError("the broker has not been started")
        return self._dir

    @property
    def log_file(self) -> Path:
        return self.directory / "logs" / "server.log"

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> str:
        """Format (first time) and start the broker; return once it serves metadata."""
        if self._process is not None:
            raise KafkaBrokerError("the broker is already started")
        clash = sorted(OWNED_PROPERTIES & set(self.properties))
        if clash:
            raise KafkaBrokerError(f"properties {clash} are set by KafkaBroker itself")
        java = shutil.which(self.java)
        if java is None:
            raise KafkaBrokerError(f"Java ({self.java!r}) not found on PATH; Kafka needs Java 17+")
        cache = self.cache_dir or default_cache_dir()
        jars = resolve_classpath(cache_dir=cache, mvn=self.mvn)
        classpath = os.pathsep.join(str(j) for j in jars)
        self._jvm = [java, *JVM_OPTIONS]
        if self.quick_jit:
            self._jvm.append("-XX:TieredStopAtLevel=1")
        if self.class_data_sharing:
            self._share_classes(cache, java, jars)
        self._open_directory()
        try:
            return self._start_on_free_ports(classpath)
        except BaseException:
            self._reap()
            self._close_directory()
            raise

    def stop(self) -> int | None:
        """SIGTERM (controlled shutdown), SIGKILL after ``stop_timeout``; returns the exit code."""
        code = self._reap()
        self._port = None
        self._close_directory()
        return code

    # -- steps -----------------------------------------------------------------------------------

    def _share_classes(self, cache: Path, java: str, jars: list[Path]) -> None:
        archive = cds_archive(cache, java, jars)
        if archive.is_file():
            self._jvm.append(f"-XX:SharedArchiveFile={archive}")
            return
        # The first broker records the classes it loads; the JVM writes them at exit.
        staging = archive.with_name(f".{archive.name}.{secrets.token_hex(4)}")
        self._cds_dump = (staging, archive)

    def _open_directory(self) -> None:
        if self.data_dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="lagezentrum-kafka-"))
            self._temporary = True
        else:
            self._dir = self.data_dir.expanduser().resolve()
            self._dir.mkdir(parents=True, exist_ok=True)
            self._temporary = False
        (self._dir / "logs").mkdir(exist_ok=True)

    def _close_directory(self) -> None:
        if self._temporary and self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def _start_on_free_ports(self, classpath: str) -> str:
        # A port picked free can be taken before the JVM binds it: then pick again, twice.
        attempts = 1 if self.port else 3
        for attempt in range(1, attempts + 1):
            port = self.port or _free_port()
            controller = _free_port(avoid=port)
            self._write_config(port, controller)
            self._format(classpath)
            self._launch(classpath, port)
            try:
                self._wait_ready(port)
            except _PortTaken:
                self._reap()
                if attempt < attempts:
                    continue
                raise KafkaBrokerError(f"port {port} or {controller} is already in use") from None
            self._port = port
            return self.bootstrap
        raise KafkaBrokerError("no free loopback port for the broker")

    def _write_config(self, port: int, controller: int) -> None:
        d = self.directory
        props = dict(DEFAULT_PROPERTIES)
        props.update(self.properties)
        props.update(
            {
                "process.roles": "broker,controller",
                "node.id": str(NODE_ID),
                "controller.quorum.voters": f"{NODE_ID}@127.0.0.1:{controller}",
                "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
                "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
                "controller.listener.names": "CONTROLLER",
                "inter.broker.listener.name": "PLAINTEXT",
                "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                "log.dirs": str(d / "data"),
            }
        )
        lines = ["# Written by ops/kafka/broker.py on every start; edits are overwritten."]
        lines += [f"{k}={_escape(v)}" for k, v in sorted(props.items())]
        (d / "server.properties").write_text("\n".join(lines) + "\n", encoding="utf-8")
        (d / "log4j2.properties").write_text(
            _LOG4J2.format(log_file=_escape(str(self.log_file))), encoding="utf-8"
        )

    def _format(self, classpath: str) -> None:
        d = self.directory
        meta = d / "data" / "meta.properties"
        if meta.is_file():
            self._cluster_id = _read_cluster_id(meta)
            return
        cluster_id = _random_cluster_id()
        cmd = [
            *self._jvm,
            "-Xmx256m",
            f"-Dlog4j2.configurationFile={d / 'log4j2.properties'}",
            "-cp",
            classpath,
            STORAGE_TOOL,
            "format",
            # One argument: a random id may start with "-", which a separate one would turn
            # into an option.
            f"--cluster-id={cluster_id}",
            "--config",
            str(d / "server.properties"),
            "--ignore-formatted",
        ]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        except subprocess.TimeoutExpired as exc:
            raise KafkaBrokerError("formatting the Kafka storage took over 120 s") from exc
        if done.returncode != 0 or not meta.is_file():
            tail = _tail(done.stdout + done.stderr, 15)
            raise KafkaBrokerError(f"formatting the Kafka storage failed:\n{tail}")
        self._cluster_id = _read_cluster_id(meta)

    def _launch(self, classpath: str, port: int) -> None:
        d = self.directory
        dump = [f"-XX:ArchiveClassesAtExit={self._cds_dump[0]}"] if self._cds_dump else []
        cmd = [
            *self._jvm,
            *dump,
            f"-Xmx{self.heap}",
            "-Xms64m",
            f"-Dlog4j2.configurationFile={d / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={d / 'logs'}",
            "-cp",
            classpath,
            MAIN_CLASS,
            str(d / "server.properties"),
        ]
        with (d / "logs" / "stdout.log").open("ab") as out:
            self._process = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=d,
                # Own process group: a terminal's Ctrl-C reaches us, and we stop the broker in
                # order, instead of both racing to shut it down.
                start_new_session=True,
                preexec_fn=_die_with_parent() if _may_tie_to_parent() else None,
            )
        log.info("Kafka broker pid %d starting on 127.0.0.1:%d", self._process.pid, port)

    def _wait_ready(self, port: int) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self.start_timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            code = self._process.poll()
            if code is not None:
                tail = _tail(self._read_logs(), 20)
                if "Address already in use" in tail or "BindException" in tail:
                    raise _PortTaken
                raise KafkaBrokerError(
                    f"the Kafka broker exited with code {code} while starting"
                    f" (log: {self.log_file}):\n{tail}"
                )
            try:
                probe(port, expect_cluster_id=self._cluster_id)
                return
            except (OSError, ProbeFailed) as exc:
                last = str(exc) or type(exc).__name__
            time.sleep(0.25)
        raise KafkaBrokerError(
            f"the Kafka broker was not ready within {self.start_timeout:.0f} s ({last});"
            f" log: {self.log_file}"
        )

    def _reap(self) -> int | None:
        proc, self._process = self._process, None
        if proc is None:
            return None
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            # Writing the class-data archive at exit takes a while on a busy machine.
            grace = self.stop_timeout + (120.0 if self._cds_dump else 0.0)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                log.warning("Kafka broker pid %d ignored SIGTERM; killing it", proc.pid)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait(10)
        self._keep_class_archive(proc.returncode)
        return proc.returncode

    def _keep_class_archive(self, code: int | None) -> None:
        if self._cds_dump is None:
            return
        (staging, archive), self._cds_dump = self._cds_dump, None
        # 143 = 128 + SIGTERM: the JVM ran its shutdown and wrote the archive completely.
        if code in (0, 143) and staging.is_file() and staging.stat().st_size > 0:
            staging.replace(archive)
            log.info("class-data archive for faster broker starts written to %s", archive)
        else:
            staging.unlink(missing_ok=True)

    def _read_logs(self) -> str:
        parts = []
        for name in ("stdout.log", "server.log"):
            with contextlib.suppress(OSError):
                parts.append((self.directory / "logs" / name).read_text("utf-8", "replace"))
        return "\n".join(parts)


class _PortTaken(Exception):
    pass


# -- helpers --------------------------------------------------------------------------------------


def cds_archive(cache: Path, java: str, jars: list[Path]) -> Path:
    """The class-data sharing archive for this JVM and these jars (AppCDS, ~40% faster start).

    The JVM rejects an archive whose jars changed, so any change of JVM or jar gets a new name.
    """
    digest = hashlib.sha256()
    for path in (Path(os.path.realpath(java)), *jars):
        st = path.stat()
        digest.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return cache / f"kafka-classes-{digest.hexdigest()[:16]}.jsa"


def _free_port(avoid: int | None = None) -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port: int = s.getsockname()[1]
        if port != avoid:
            return port


def _random_cluster_id() -> str:
    # Kafka's Uuid.toString: URL-safe base64 of 16 bytes without padding.
    return base64.urlsafe_b64encode(secrets.token_bytes(16)).rstrip(b"=").decode()


def _read_cluster_id(meta: Path) -> str:
    for line in meta.read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "cluster.id":
            return value.strip()
    raise KafkaBrokerError(f"{meta} names no cluster.id")


def _escape(value: str) -> str:
    # java.util.Properties treats backslash as an escape character.
    return value.replace("\\", "\\\\")


def _tail(text: str, lines: int) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _may_tie_to_parent() -> bool:
    # PR_SET_PDEATHSIG fires when the *thread* that forked exits, so only the main thread (which
    # lives as long as the process) may use it; a worker thread's exit would stop the broker.
    return (
        sys.platform.startswith("linux") and threading.current_thread() is threading.main_thread()
    )


def _die_with_parent() -> Callable[[], None]:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1

    def tie() -> None:
        # An orphaned JVM (its Python owner killed) would otherwise hold its ports forever.
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)

    return tie


__all__ = ["DEFAULT_PROPERTIES", "KafkaBroker", "KafkaBrokerError"]
