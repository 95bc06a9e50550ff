"""``lagezentrum kafka``: the Apache Kafka broker for development and CI.

- ``kafka fetch`` resolves the broker's jars from Maven Central into ``~/.m2``, caches the class
  path and writes the class-data archive by starting a broker once (CI runs it before the
  tests; afterwards no network is needed).
- ``kafka start`` runs one KRaft broker on loopback, creates Lagezentrum's topics, prints the
  bootstrap address as its first line and runs until SIGTERM or Ctrl-C, then stops the broker
  cleanly.
- ``kafka topics`` creates or checks the topics on any cluster.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from ops.cli import app, fail
from ops.kafka.broker import KafkaBroker, cds_archive
from ops.kafka.classpath import classpath_file, default_cache_dir, kafka_version, resolve_classpath
from ops.kafka.errors import KafkaError
from ops.kafka.topics import ensure_topics, lagezentrum_topics

kafka_app = typer.Typer(
    help="The Apache Kafka broker for development and CI (no Docker).", no_args_is_help=True
)
app.add_typer(kafka_app, name="kafka")

CacheDir = Annotated[
    Path | None,
    typer.Option(
        "--cache-dir",
        envvar="LAGEZENTRUM_KAFKA_CACHE_DIR",
        help="Where the resolved class path is cached [default: the user cache directory].",
    ),
]
Maven = Annotated[str, typer.Option("--mvn", envvar="LAGEZENTRUM_MVN", help="Maven executable.")]
Java = Annotated[str, typer.Option("--java", envvar="LAGEZENTRUM_JAVA", help="Java executable.")]


@kafka_app.command("fetch")
def fetch(
    cache_dir: CacheDir = None,
    mvn: Maven = "mvn",
    refresh: Annotated[bool, typer.Option(help="Resolve again even if cached.")] = False,
    offline: Annotated[bool, typer.Option(help="Use only ~/.m2 (mvn -o).")] = False,
    warm: Annotated[
        bool, typer.Option(help="Start and stop a broker once to write the class-data archive.")
    ] = True,
    java: Java = "java",
) -> None:
    """Fetch Apache Kafka's broker jars from Maven Central and prepare fast broker starts."""
    cache = cache_dir or default_cache_dir()
    try:
        jars = resolve_classpath(cache_dir=cache, mvn=mvn, refresh=refresh, offline=offline)
        version = kafka_version()
        typer.echo(
            f"Apache Kafka {version}: {len(jars)} jars, class path in {classpath_file(cache)}"
        )
        if not warm:
            return
        java_path = shutil.which(java)
        if java_path is None:
            fail(f"Java ({java!r}) not found on PATH; Kafka needs Java 17+")
        archive = cds_archive(cache, java_path, jars)
        if not archive.is_file():
            with KafkaBroker(cache_dir=cache, mvn=mvn, java=java):
                pass
        typer.echo(f"class-data archive in {archive}")
    except KafkaError as exc:
        fail(str(exc))


@kafka_app.command("start")
def start(
    port: Annotated[
        int,
        typer.Option(
            envvar="LAGEZENTRUM_KAFKA_PORT", help="Loopback port of the broker; 0 picks a free one."
        ),
    ] = 9092,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            envvar="LAGEZENTRUM_KAFKA_DATA_DIR",
            help="Broker data directory, kept between runs [default: a temporary one].",
        ),
    ] = None,
    heap: Annotated[str, typer.Option(help="JVM maximum heap.")] = "512m",
    create_topics: Annotated[
        bool, typer.Option(help="Create Lagezentrum's topics once the broker is up.")
    ] = True,
    full_jit: Annotated[
        bool, typer.Option(help="Full JIT for peak throughput (benchmarks); starts slower.")
    ] = False,
    java: Java = "java",
    cache_dir: CacheDir = None,
    mvn: Maven = "mvn",
) -> None:
    """Run one Kafka broker on 127.0.0.1; prints its bootstrap address first, runs until stopped."""
    if not 0 <= port <= 65535:
        fail(f"--port: {port} is not a port number")
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    # Handlers go in before the broker starts, so a stop request during start-up is not lost.
    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    broker = KafkaBroker(
        data_dir=data_dir,
        port=port or None,
        heap=heap,
        java=java,
        mvn=mvn,
        cache_dir=cache_dir,
        quick_jit=not full_jit,
    )
    try:
        try:
            bootstrap = broker.start()
            if create_topics and not stop.is_set():
                asyncio.run(ensure_topics(bootstrap, lagezentrum_topics()))
        except KafkaError as exc:
            broker.stop()
            fail(str(exc))
        except Exception as exc:  # aiokafka's errors have no common root
            broker.stop()
            fail(f"creating the topics failed: {exc}")
        typer.echo(bootstrap)
        typer.echo(f"Apache Kafka {kafka_version()}; data in {broker.directory}", err=True)
        typer.echo(f"log: {broker.log_file}; stop with Ctrl-C or SIGTERM", err=True)
        while not stop.wait(0.5):
            if not broker.running():
                code = broker.stop()
                fail(f"the Kafka broker exited by itself (code {code}); see its log")
        broker.stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@kafka_app.command("topics")
def topics(
    bootstrap: Annotated[
        str, typer.Option(envvar="LAGEZENTRUM_KAFKA_BOOTSTRAP", help="host:port of a broker.")
    ] = "127.0.0.1:9092",
    replication_factor: Annotated[int, typer.Option(min=1, help="Replicas per partition.")] = 1,
) -> None:
    """Create Lagezentrum's topics where missing; fail if an existing one differs."""
    specs = lagezentrum_topics(replication_factor=replication_factor)
    try:
        created = asyncio.run(ensure_topics(bootstrap, specs))
    except KafkaError as exc:
        fail(str(exc))
    except Exception as exc:  # aiokafka's connection errors have no common root
        fail(f"cannot reach Kafka at {bootstrap}: {exc}")
    for spec in specs:
        state = "created" if spec.name in created else "ok"
        typer.echo(f"{spec.name}\t{spec.partitions} partitions\t{state}")
