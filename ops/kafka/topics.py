"""Lagezentrum's Kafka topics, declared with explicit partitions, replication and configs.

- ``lz.reports.v1`` — the report log of the distributed mode, keyed by region (district AGS) so
  one region's reports stay in order on one partition. Kept forever: it is the system of record
  for accepted reports, and the picture is rebuilt by replaying it.
- ``lz.situation.v1`` — situation changes, compacted (the latest value per key survives), with
  as many partitions as the report log so region-partitioned workers read and write the same
  partition numbers.
- ``lz.feed.<agency>`` — raw inbound feeds per agency kind, before parsing; a week is enough,
  since what was accepted is in the report log.
- ``lz.deadletter.v1`` — what could not be parsed or processed, with its reason, for operators.

:func:`ensure_topics` creates what is missing and checks what exists: a topic whose partition
count or configs differ from its spec is reported, never silently altered (repartitioning a
keyed topic moves keys between partitions and breaks their order).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, get_args

from ingest.report import Source
from ops.kafka.errors import KafkaTopicError

REPORTS_TOPIC: Final = "lz.reports.v1"
SITUATION_TOPIC: Final = "lz.situation.v1"
DEADLETTER_TOPIC: Final = "lz.deadletter.v1"
FEED_TOPIC_PREFIX: Final = "lz.feed."
AGENCIES: Final[tuple[str, ...]] = get_args(Source)
REGION_PARTITIONS: Final = 6

_DAY_MS: Final = 24 * 3600 * 1000
_TOPIC_ALREADY_EXISTS: Final = 36


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """One topic as it must exist: ``configs`` are Kafka topic configs (strings)."""

    name: str
    partitions: int
    replication_factor: int = 1
    configs: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if self.partitions < 1:
            raise KafkaTopicError(self.name, "partitions", f"{self.partitions} is not >= 1")
        if self.replication_factor < 1:
            raise KafkaTopicError(
                self.name, "replication_factor", f"{self.replication_factor} is not >= 1"
            )


@dataclass(frozen=True, slots=True)
class TopicState:
    """A topic as the cluster describes it."""

    name: str
    partitions: int
    replication_factor: int
    configs: Mapping[str, str] = field(hash=False)


def feed_topic(agency: str) -> str:
    """``lz.feed.<agency>`` for one of :data:`AGENCIES`."""
    if agency not in AGENCIES:
        raise KafkaTopicError(
            f"{FEED_TOPIC_PREFIX}{agency}", "agency", f"{agency!r} is not one of {AGENCIES}"
        )
    return f"{FEED_TOPIC_PREFIX}{agency}"


def lagezentrum_topics(
    *, replication_factor: int = 1, region_partitions: int = REGION_PARTITIONS
) -> tuple[TopicSpec, ...]:
    """Every topic the distributed mode uses, for a cluster of ``replication_factor`` brokers."""
    # With replicas, an acknowledged write (acks=all) must be on two of them before it counts.
    durable = {"min.insync.replicas": str(min(2, replication_factor))}
    report_log = {**durable, "cleanup.policy": "delete", "retention.ms": "-1"}
    feeds = {**durable, "cleanup.policy": "delete", "retention.ms": str(7 * _DAY_MS)}
    return (
        TopicSpec(REPORTS_TOPIC, region_partitions, replication_factor, report_log),
        TopicSpec(
            SITUATION_TOPIC,
            region_partitions,
            replication_factor,
            # Compaction only cleans rolled segments: roll hourly, not weekly.
            {**durable, "cleanup.policy": "compact", "segment.ms": str(3600 * 1000)},
        ),
        *(TopicSpec(feed_topic(a), 3, replication_factor, feeds) for a in AGENCIES),
        TopicSpec(
            DEADLETTER_TOPIC,
            1,
            replication_factor,
            {**durable, "cleanup.policy": "delete", "retention.ms": str(30 * _DAY_MS)},
        ),
    )


async def describe_topics(bootstrap: str, names: Iterable[str]) -> dict[str, TopicState]:
    """The named topics that exist, with partition count, replication factor and configs."""
    from aiokafka.admin.config_resource import (  # type: ignore[import-untyped]
        ConfigResource,
        ConfigResourceType,
    )

    wanted = list(names)
    if not wanted:
        return {}
    async with _admin(bootstrap) as admin:
        existing = set(await admin.list_topics()) & set(wanted)
        if not existing:
            return {}
        described = await admin.describe_topics(sorted(existing))
        answers = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name) for name in sorted(existing)]
        )
    configs: dict[str, dict[str, str]] = {}
    for answer in answers:
        for resource in answer.to_object()["resources"]:
            if resource["error_code"]:
                raise KafkaTopicError(
                    resource["resource_name"],
                    "configs",
                    str(resource["error_message"]),
                    retriable=_retriable(resource["error_code"]),
                )
            configs[resource["resource_name"]] = {
                e["config_names"]: e["config_value"] for e in resource["config_entries"]
            }
    states = {}
    for topic in described:
        name = topic["topic"]
        if topic["error_code"]:
            raise KafkaTopicError(
                name,
                "describe",
                f"error code {topic['error_code']}",
                retriable=_retriable(topic["error_code"]),
            )
        partitions = topic["partitions"]
        states[name] = TopicState(
            name=name,
            partitions=len(partitions),
            replication_factor=min((len(p["replicas"]) for p in partitions), default=0),
            configs=configs.get(name, {}),
        )
    return states


async def ensure_topics(
    bootstrap: str, specs: Sequence[TopicSpec], *, timeout: float = 30.0
) -> list[str]:
    """Create the missing topics of ``specs`` and check the existing ones; return those created.

    Raises :class:`KafkaTopicError` naming the topic and the setting when the cluster refuses a
    topic (say, more replicas than brokers) or an existing topic differs from its spec.
    """
    from aiokafka.admin import NewTopic  # type: ignore[import-untyped]

    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise KafkaTopicError(dupes[0], "name", "declared more than once")
    present = await describe_topics(bootstrap, names)
    missing = [s for s in specs if s.name not in present]
    created: list[str] = []
    if missing:
        async with _admin(bootstrap, timeout) as admin:
            answer = await admin.create_topics(
                [
                    NewTopic(s.name, s.partitions, s.replication_factor, topic_configs=s.configs)
                    for s in missing
                ],
                timeout_ms=int(timeout * 1000),
            )
        for result in answer.to_object()["topic_errors"]:
            name, code, message = result["topic"], result["error_code"], result["error_message"]
            if code == 0:
                created.append(name)
            elif code != _TOPIC_ALREADY_EXISTS:  # created concurrently by another process
                raise KafkaTopicError(
                    name,
                    "create",
                    f"{message or 'error'} (code {code})",
                    retriable=_retriable(code),
                )
        present.update(await _await_visible(bootstrap, [s.name for s in missing], timeout))
    for spec in specs:
        _check(spec, present[spec.name])
    return created


async def _await_visible(bootstrap: str, names: list[str], timeout: float) -> dict[str, TopicState]:
    # Creation returns once the controller has committed it; brokers learn of it a moment later.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        states = await describe_topics(bootstrap, names)
        if len(states) == len(names) and all(s.partitions for s in states.values()):
            return states
        if loop.time() > deadline:
            absent = sorted(set(names) - set(states))
            raise KafkaTopicError(
                absent[0] if absent else names[0], "create", "not visible", retriable=True
            )
        await asyncio.sleep(0.1)


def _retriable(code: int) -> bool:
    """Whether Kafka calls error ``code`` transient (a cluster still starting, a timeout)."""
    from aiokafka.errors import for_code  # type: ignore[import-untyped]

    retriable: bool = for_code(code).retriable
    return retriable


def _check(spec: TopicSpec, state: TopicState) -> None:
    if state.partitions != spec.partitions:
        raise KafkaTopicError(
            spec.name, "partitions", f"has {state.partitions}, spec says {spec.partitions}"
        )
    if state.replication_factor != spec.replication_factor:
        raise KafkaTopicError(
            spec.name,
            "replication_factor",
            f"has {state.replication_factor}, spec says {spec.replication_factor}",
        )
    for key, want in spec.configs.items():
        have = state.configs.get(key)
        if have != want:
            raise KafkaTopicError(spec.name, key, f"is {have!r}, spec says {want!r}")


@contextlib.asynccontextmanager
async def _admin(bootstrap: str, timeout: float = 30.0) -> AsyncIterator[Any]:
    from aiokafka.admin import AIOKafkaAdminClient

    client = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap,
        client_id="lagezentrum-topics",
        request_timeout_ms=int(timeout * 1000),
    )
    await client.start()
    try:
        yield client
    finally:
        await client.close()


__all__ = [
    "AGENCIES",
    "DEADLETTER_TOPIC",
    "REPORTS_TOPIC",
    "SITUATION_TOPIC",
    "TopicSpec",
    "TopicState",
    "describe_topics",
    "ensure_topics",
    "feed_topic",
    "lagezentrum_topics",
]
