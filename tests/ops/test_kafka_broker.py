"""The development/CI Kafka broker: real Apache Kafka from Maven Central, driven by aiokafka.

One broker serves the module (``kafka_broker`` fixture); the CLI test starts its own twice, the
second time without Maven, to show the cached class path and the kept data.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # type: ignore[import-untyped]
from typer.testing import CliRunner

from ingest.report import encode_report, report_from_mapping
from ops import commands  # noqa: F401  (registers the commands)
from ops.cli import app
from ops.kafka.broker import KafkaBroker, cds_archive
from ops.kafka.classpath import classpath_file, default_cache_dir, kafka_version
from ops.kafka.errors import KafkaBrokerError, KafkaTopicError
from ops.kafka.probe import ProbeFailed, probe
from ops.kafka.topics import (
    AGENCIES,
    DEADLETTER_TOPIC,
    REPORTS_TOPIC,
    SITUATION_TOPIC,
    TopicSpec,
    describe_topics,
    ensure_topics,
    feed_topic,
    lagezentrum_topics,
)

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-c", "from ops.cli import main; main()"]


# -- topics ---------------------------------------------------------------------------------------


async def test_lagezentrum_topics_are_created_with_their_settings(kafka_bootstrap: str) -> None:
    specs = lagezentrum_topics()
    created = await ensure_topics(kafka_bootstrap, specs)
    assert sorted(created) == sorted(s.name for s in specs)

    state = await describe_topics(kafka_bootstrap, [s.name for s in specs])
    assert state[REPORTS_TOPIC].partitions == 6
    assert state[REPORTS_TOPIC].replication_factor == 1
    assert state[REPORTS_TOPIC].configs["retention.ms"] == "-1"
    assert state[SITUATION_TOPIC].configs["cleanup.policy"] == "compact"
    assert state[SITUATION_TOPIC].partitions == state[REPORTS_TOPIC].partitions
    assert state[REPORTS_TOPIC].configs["cleanup.policy"] == "delete"
    assert state[DEADLETTER_TOPIC].partitions == 1
    assert {f"lz.feed.{a}" for a in AGENCIES} <= set(state)
    assert set(AGENCIES) == {"police", "fire", "health", "weather", "civil_protection", "other"}

    # Idempotent: a second run finds everything as specified and creates nothing.
    assert await ensure_topics(kafka_bootstrap, specs) == []


async def test_existing_topic_that_differs_from_its_spec_is_reported(kafka_bootstrap: str) -> None:
    await ensure_topics(kafka_bootstrap, [TopicSpec("lz.test.drift", 2)])
    with pytest.raises(KafkaTopicError) as partitions:
        await ensure_topics(kafka_bootstrap, [TopicSpec("lz.test.drift", 3)])
    assert (partitions.value.topic, partitions.value.field) == ("lz.test.drift", "partitions")
    assert "has 2" in partitions.value.reason

    compacted = TopicSpec("lz.test.drift", 2, configs={"cleanup.policy": "compact"})
    with pytest.raises(KafkaTopicError) as config:
        await ensure_topics(kafka_bootstrap, [compacted])
    assert config.value.field == "cleanup.policy"
    assert "'delete'" in config.value.reason


async def test_more_replicas_than_brokers_is_refused_by_the_broker(kafka_bootstrap: str) -> None:
    with pytest.raises(KafkaTopicError) as refused:
        await ensure_topics(kafka_bootstrap, [TopicSpec("lz.test.replicas", 1, 3)])
    assert refused.value.topic == "lz.test.replicas"
    assert refused.value.field == "create"
    assert "replication factor" in refused.value.reason.lower()
    assert await describe_topics(kafka_bootstrap, ["lz.test.replicas"]) == {}


def test_topic_specs_reject_nonsense() -> None:
    with pytest.raises(KafkaTopicError, match="partitions"):
        TopicSpec("x", 0)
    with pytest.raises(KafkaTopicError, match="agency"):
        feed_topic("army")
    assert feed_topic("civil_protection") == "lz.feed.civil_protection"


# -- produce and consume --------------------------------------------------------------------------


async def test_reports_keyed_by_region_round_trip_in_order(kafka_bootstrap: str) -> None:
    await ensure_topics(kafka_bootstrap, lagezentrum_topics())
    # Koblenz, Mainz, Trier, Kaiserslautern: district AGS keys, three versions of one thread each.
    regions = {"07111": (7.59, 50.36), "07315": (8.27, 50.0), "07211": (6.64, 49.75)}
    regions["07312"] = (7.77, 49.44)
    sent: dict[bytes, list[bytes]] = defaultdict(list)
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True
    )
    await producer.start()
    try:
        for sequence in (1, 2, 3):
            for ags, (lon, lat) in regions.items():
                report = report_from_mapping(
                    {
                        "source": "fire",
                        "source_id": f"einsatz-{ags}",
                        "sequence": sequence,
                        "msg_type": "alert" if sequence == 1 else "update",
                        "category": "fire.building",
                        "severity": "severe",
                        "observed_at": f"2026-11-29T10:0{sequence}:00+01:00",
                        "geometry": {"type": "Point", "coordinates": [lon, lat]},
                        "metrics": {"units": sequence * 2},
                    }
                )
                value = encode_report(report)
                await producer.send_and_wait(REPORTS_TOPIC, value, key=ags.encode())
                sent[ags.encode()].append(value)
    finally:
        await producer.stop()

    received = await _consume(kafka_bootstrap, REPORTS_TOPIC, count=12)
    by_key: dict[bytes, list[bytes]] = defaultdict(list)
    partitions: dict[bytes, set[int]] = defaultdict(set)
    for key, value, partition in received:
        by_key[key].append(value)
        partitions[key].add(partition)
    assert by_key == sent  # every report, byte for byte, in order per region
    assert all(len(p) == 1 for p in partitions.values())


async def test_real_cap_feeds_pass_through_the_feed_topic(
    kafka_bootstrap: str, shared_data: Path
) -> None:
    await ensure_topics(kafka_bootstrap, lagezentrum_topics())
    files = sorted((shared_data / "cap" / "dwd").glob("*.xml"))
    assert files
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, acks="all", compression_type="gzip"
    )
    await producer.start()
    try:
        for path in files:
            await producer.send_and_wait(
                feed_topic("weather"), path.read_bytes(), key=path.name.encode()
            )
    finally:
        await producer.stop()
    received = await _consume(kafka_bootstrap, feed_topic("weather"), count=len(files))
    assert {k.decode(): v for k, v, _ in received} == {p.name: p.read_bytes() for p in files}


async def _consume(bootstrap: str, topic: str, *, count: int) -> list[tuple[bytes, bytes, int]]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"test-{topic}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    out: list[tuple[bytes, bytes, int]] = []
    try:
        async with asyncio.timeout(60):
            while len(out) < count:
                batches = await consumer.getmany(timeout_ms=1000)
                for records in batches.values():
                    out += [(r.key, r.value, r.partition) for r in records]
    finally:
        await consumer.stop()
    return out


# -- the broker process ---------------------------------------------------------------------------


def test_probe_checks_the_cluster_it_reaches(kafka_broker: KafkaBroker) -> None:
    port = int(kafka_broker.bootstrap.rsplit(":", 1)[1])
    probe(port, expect_cluster_id=kafka_broker.cluster_id)
    with pytest.raises(ProbeFailed, match="cluster id"):
        probe(port, expect_cluster_id="AAAAAAAAAAAAAAAAAAAAAA")
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed = unused.getsockname()[1]
    with pytest.raises(ConnectionRefusedError):
        probe(closed)


def test_broker_runs_in_its_data_dir_with_a_log(kafka_broker: KafkaBroker) -> None:
    assert kafka_broker.running()
    assert (kafka_broker.directory / "data" / "meta.properties").is_file()
    assert "Kafka Server started" in kafka_broker.log_file.read_text()
    props = (kafka_broker.directory / "server.properties").read_text()
    assert f"advertised.listeners=PLAINTEXT://{kafka_broker.bootstrap}" in props
    assert "auto.create.topics.enable=false" in props


def test_fetch_caches_the_class_path_and_the_class_archive() -> None:
    result = CliRunner().invoke(app, ["kafka", "fetch"])
    assert result.exit_code == 0, result.stderr
    assert f"Apache Kafka {kafka_version()}" in result.stdout
    cached = classpath_file(default_cache_dir()).read_text().split(os.pathsep)
    assert any(Path(j).name == f"kafka_2.13-{kafka_version()}.jar" for j in cached)
    assert all(Path(j).is_file() for j in cached)
    java = shutil.which("java")
    assert java is not None
    archive = cds_archive(default_cache_dir(), java, [Path(j) for j in cached])
    assert archive.stat().st_size > 1_000_000
    assert str(archive) in result.stdout


def test_broker_that_cannot_start_says_why_and_leaves_no_temp_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(KafkaBrokerError, match=r"num\.io\.threads"):
        KafkaBroker(properties={"num.io.threads": "0"}).start()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(KafkaBrokerError, match="listeners"):
        KafkaBroker(properties={"listeners": "PLAINTEXT://0.0.0.0:9092"}).start()


def test_fetch_reports_a_missing_maven_in_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["kafka", "fetch", "--cache-dir", str(tmp_path), "--mvn", "no-such-maven"]
    )
    assert result.exit_code == 1
    assert result.stderr.strip().count("\n") == 0
    assert "no-such-maven" in result.stderr


def test_cli_start_prints_bootstrap_first_stops_on_sigterm_and_restarts_offline(
    tmp_path: Path,
) -> None:
    data = tmp_path / "kafka"
    first = _cli_start(data)
    try:
        bootstrap = _first_line(first, timeout=180)
        assert bootstrap.startswith("127.0.0.1:")
        states = asyncio.run(describe_topics(bootstrap, [REPORTS_TOPIC, SITUATION_TOPIC]))
        assert states[SITUATION_TOPIC].configs["cleanup.policy"] == "compact"
        asyncio.run(_produce_one(bootstrap, b"kept across restarts"))
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(60) == 0
    cluster = (data / "data" / "meta.properties").read_text()
    _assert_closed(bootstrap)

    # Same data dir, no Maven: the cached class path suffices and the topics and data survive.
    second = _cli_start(data, "--mvn", "no-such-maven")
    try:
        bootstrap = _first_line(second, timeout=180)
        assert asyncio.run(_consume(bootstrap, DEADLETTER_TOPIC, count=1))[0][1] == (
            b"kept across restarts"
        )
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(60) == 0
    assert (data / "data" / "meta.properties").read_text() == cluster
    assert "shut down completed" in (data / "logs" / "server.log").read_text()


def _cli_start(data: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*CLI, "kafka", "start", "--port", "0", "--data-dir", str(data), *extra],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _first_line(proc: subprocess.Popen[str], *, timeout: float) -> str:
    assert proc.stdout is not None
    stdout = proc.stdout
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if not line or not line[0]:
        proc.kill()
        _, err = proc.communicate(timeout=30)
        pytest.fail(f"`lagezentrum kafka start` printed no address: {err}")
    return line[0].strip()


async def _produce_one(bootstrap: str, value: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(DEADLETTER_TOPIC, value, key=b"k")
    finally:
        await producer.stop()


def _assert_closed(bootstrap: str) -> None:
    host, port = bootstrap.rsplit(":", 1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, int(port)), timeout=1).close()
        except OSError:
            return
        time.sleep(0.2)
    pytest.fail(f"{bootstrap} still accepts connections after the broker stopped")
