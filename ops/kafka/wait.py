"""Waiting for the Kafka brokers at start-up.

The processes of the distributed mode are started by a supervisor (compose, Kubernetes, systemd)
that does not order them after the brokers, and brokers restart. A process that exits because
the brokers do not answer yet only turns into a restart loop with a scrambled log; one that waits
says once per attempt what it waits for and starts as soon as the brokers answer.

:func:`wait_for_broker` runs an action that talks to the brokers (typically
:func:`~ops.kafka.topics.ensure_topics`) until it succeeds, backing off exponentially between
attempts. Only errors that mean "not reachable or not ready yet" are retried; a topic that
differs from its spec, or a cluster that refuses it, fails at once. With a ``patience`` it gives
up with :class:`~ops.kafka.errors.BrokerUnreachable` after that many seconds; without one it keeps
trying (the default of every command: an operator stops a waiting process, not a timer).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from ops.kafka.errors import BrokerUnreachable, KafkaTopicError

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Backoff:
    """Pauses between attempts: ``first``, then times ``factor``, never above ``ceiling``."""

    first: float = 0.5
    factor: float = 2.0
    ceiling: float = 5.0

    def delays(self) -> Iterator[float]:
        delay = self.first
        while True:
            yield min(delay, self.ceiling)
            delay *= self.factor


def unreachable(error: BaseException) -> bool:
    """Whether ``error`` means the brokers are not (yet) reachable or ready, i.e. worth a retry."""
    from aiokafka.errors import (  # type: ignore[import-untyped]
        KafkaConnectionError,
        KafkaError,
        KafkaTimeoutError,
    )

    if isinstance(error, KafkaTopicError):
        return error.retriable
    if isinstance(error, KafkaConnectionError | KafkaTimeoutError):
        return True
    if isinstance(error, KafkaError):
        retriable: bool = error.retriable
        return retriable
    return isinstance(error, OSError | TimeoutError)


async def wait_for_broker(
    bootstrap: str,
    action: Callable[[], Awaitable[T]],
    *,
    what: str,
    patience: float | None = None,
    backoff: Backoff = Backoff(),
) -> T:
    """``await action()`` until the brokers at ``bootstrap`` let it succeed; return its result.

    ``what`` names the action in the log ("creating the topics"). Each failed attempt is logged
    as a warning with the reason and the next pause; after ``patience`` seconds (None: never)
    :class:`BrokerUnreachable` is raised with the last reason.
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = None if patience is None else started + patience
    delays = backoff.delays()
    attempt = 0
    last_pause = False  # the pause that reached the deadline: the attempt after it is the last
    while True:
        attempt += 1
        try:
            result = await action()
        except Exception as error:
            if not unreachable(error):
                raise
            reason = _reason(error)
            if deadline is not None and (last_pause or loop.time() >= deadline):
                raise BrokerUnreachable(
                    f"Kafka at {bootstrap} not reachable within {patience:g} s"
                    f" ({attempt} attempts; last: {reason})"
                ) from error
            delay = next(delays)
            if deadline is not None and delay >= deadline - loop.time():
                delay, last_pause = max(deadline - loop.time(), 0.0), True
            log.warning(
                "Kafka at %s not reachable for %s (attempt %d: %s); next attempt in %.1f s%s",
                bootstrap,
                what,
                attempt,
                reason,
                delay,
                "" if patience is None else f", giving up after {patience:g} s",
            )
            await asyncio.sleep(delay)
            continue
        if attempt > 1:
            log.info(
                "Kafka at %s reachable after %d attempts (%.1f s): %s done",
                bootstrap,
                attempt,
                loop.time() - started,
                what,
            )
        return result


def _reason(error: BaseException) -> str:
    name = type(error).__name__
    text = str(error)
    if not text:
        return name
    # aiokafka's messages start with their class name already.
    return text if text.startswith(name) else f"{name}: {text}"


__all__ = ["Backoff", "BrokerUnreachable", "unreachable", "wait_for_broker"]
