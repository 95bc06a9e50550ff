"""Fixtures shared by every test package."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from ops.embedded_postgres import EmbeddedPostgres
    from ops.kafka.broker import KafkaBroker

REPO = Path(__file__).resolve().parents[1]
# CI clones the repository next to a copy of shared/, exactly as in the development checkout.
SHARED_DATA = (REPO.parent / "shared" / "data").resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"real test data not found at {SHARED_DATA}: shared/ must sit beside the repo")
    return SHARED_DATA


# -- PostgreSQL: one embedded server for the whole test session ----------------------------------


@pytest.fixture(scope="session")
def pg_server() -> Iterator[EmbeddedPostgres]:
    """The real embedded server (the product's default), started once per test session.

    Its directory is not under pytest's basetemp: as root the server runs as a system user that
    must traverse the parents, and every pytest start resets /tmp/pytest-of-root to 0700.
    """
    from ops.embedded_postgres import EmbeddedPostgres

    top = Path(tempfile.mkdtemp(prefix="lagezentrum-test-pg-"))
    # Without the writeback pacer: the tests' schemas all live in the one database it would
    # walk every second, thousands of files; tests/ops/test_embedded_postgres.py checks it.
    server = EmbeddedPostgres(
        top / "cluster",
        settings={"shared_buffers": "32MB", "max_connections": "100"},
        writeback_interval=0,
    )
    server.start()
    try:
        yield server
    finally:
        server.stop(immediate=True)  # thrown away: skip the shutdown checkpoint
        shutil.rmtree(top, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_url(pg_server: EmbeddedPostgres) -> str:
    return pg_server.url


@pytest.fixture
def pg_fresh_url(pg_server: EmbeddedPostgres) -> str:
    """A URL to a new, empty schema on the session server: tests never see each other's rows."""
    return pg_server.create_schema(f"t_{uuid.uuid4().hex[:16]}")


@pytest.fixture
def pg_database_url(pg_server: EmbeddedPostgres) -> str:
    """A new, empty database on the session server (stronger isolation, slower than a schema)."""
    return pg_server.create_database(f"t_{uuid.uuid4().hex[:16]}")


# -- Kafka: one real broker per test module (a JVM start takes seconds) --------------------------


@pytest.fixture(scope="module")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    """A real single-node Apache Kafka broker (KRaft) for the test module.

    Its data and logs stay in pytest's temporary directory for post-mortems.
    """
    from ops.kafka.broker import KafkaBroker
    from ops.kafka.errors import KafkaError

    broker = KafkaBroker(data_dir=tmp_path_factory.mktemp("kafka"))
    try:
        broker.start()
    except KafkaError as exc:
        pytest.fail(f"the Kafka test broker did not start: {exc}")
    yield broker
    broker.stop()


@pytest.fixture(scope="module")
def kafka_bootstrap(kafka_broker: KafkaBroker) -> str:
    """``127.0.0.1:PORT`` of the module's Kafka broker (see :func:`kafka_broker`)."""
    return kafka_broker.bootstrap
