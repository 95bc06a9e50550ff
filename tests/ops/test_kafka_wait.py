"""Waiting for the Kafka brokers (ops/kafka/wait.py): retried while nothing answers, logged per
attempt, given up after the patience with the last reason, never retried for a wrong topic."""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest
from aiokafka.errors import KafkaConnectionError  # type: ignore[import-untyped]
from hypothesis import given
from hypothesis import strategies as st

from ops.kafka.errors import BrokerUnreachable, KafkaTopicError
from ops.kafka.topics import ensure_topics, lagezentrum_topics
from ops.kafka.wait import Backoff, unreachable, wait_for_broker


def closed_port() -> int:
    """A loopback port nothing listens on (bound and released: connections are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_backoff_doubles_up_to_its_ceiling() -> None:
    delays = Backoff(first=0.5, factor=2.0, ceiling=5.0).delays()
    assert [next(delays) for _ in range(7)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]


@given(
    first=st.floats(0.01, 10),
    factor=st.floats(1.0, 4.0),
    ceiling=st.floats(0.01, 60),
)
def test_backoff_never_shrinks_and_never_exceeds_its_ceiling(
    first: float, factor: float, ceiling: float
) -> None:
    delays = Backoff(first, factor, ceiling).delays()
    taken = [next(delays) for _ in range(30)]
    assert all(0 < d <= ceiling for d in taken)
    assert taken == sorted(taken)


async def test_gives_up_after_its_patience_naming_broker_attempts_and_reason(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bootstrap = f"127.0.0.1:{closed_port()}"
    loop = asyncio.get_running_loop()
    started = loop.time()
    with (
        caplog.at_level(logging.WARNING, logger="ops.kafka.wait"),
        pytest.raises(BrokerUnreachable) as raised,
    ):
        await wait_for_broker(
            bootstrap,
            lambda: ensure_topics(bootstrap, lagezentrum_topics()),
            what="creating the topics",
            patience=1.2,
            backoff=Backoff(first=0.2, factor=2.0, ceiling=1.0),
        )
    elapsed = loop.time() - started
    assert 1.2 <= elapsed < 30  # waited its patience, then gave up (loose: CI may be loaded)
    message = str(raised.value)
    assert f"Kafka at {bootstrap} not reachable within 1.2 s" in message
    assert "KafkaConnectionError" in message
    attempts = [r for r in caplog.records if r.name == "ops.kafka.wait"]
    # 0.2 + 0.4 + 0.6 (the rest of the patience): three pauses, a fourth attempt gives up.
    assert len(attempts) == 3
    assert "(4 attempts;" in message
    for number, record in enumerate(attempts, start=1):
        text = record.getMessage()
        assert f"Kafka at {bootstrap} not reachable for creating the topics" in text
        assert f"(attempt {number}: KafkaConnectionError" in text
        assert "giving up after 1.2 s" in text


async def test_retries_until_the_action_succeeds_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    failures = [KafkaConnectionError("Unable to bootstrap"), ConnectionRefusedError(111, "no")]

    async def action() -> str:
        if failures:
            raise failures.pop(0)
        return "topics"

    with caplog.at_level(logging.INFO, logger="ops.kafka.wait"):
        result = await wait_for_broker(
            "kafka:9092", action, what="checking", backoff=Backoff(first=0.01)
        )
    assert result == "topics"
    messages = [r.getMessage() for r in caplog.records if r.name == "ops.kafka.wait"]
    assert len(messages) == 3
    assert "attempt 2: ConnectionRefusedError" in messages[1]
    assert messages[2].startswith("Kafka at kafka:9092 reachable after 3 attempts")


async def test_a_topic_that_differs_from_its_spec_is_not_waited_for() -> None:
    calls = 0

    async def action() -> None:
        nonlocal calls
        calls += 1
        raise KafkaTopicError("lz.reports.v1", "partitions", "has 3, spec says 6")

    with pytest.raises(KafkaTopicError, match="partitions"):
        await wait_for_broker("kafka:9092", action, what="checking", backoff=Backoff(first=0.01))
    assert calls == 1


def test_which_errors_mean_not_reachable_yet() -> None:
    from aiokafka.errors import (
        InvalidReplicationFactorError,
        KafkaTimeoutError,
        NotControllerError,
    )

    assert unreachable(KafkaConnectionError("refused"))
    assert unreachable(KafkaTimeoutError())
    assert unreachable(NotControllerError())
    assert unreachable(ConnectionRefusedError(111, "refused"))
    assert unreachable(TimeoutError())
    assert unreachable(KafkaTopicError("t", "create", "code 7", retriable=True))
    assert not unreachable(KafkaTopicError("t", "create", "code 38"))
    assert not unreachable(InvalidReplicationFactorError())
    assert not unreachable(ValueError("a bug"))
