"""The exception root of :mod:`ops.kafka`."""

from __future__ import annotations


class KafkaError(RuntimeError):
    """The development broker or the topic set-up failed; the message says what and why."""


class KafkaBrokerError(KafkaError):
    """The broker could not be fetched, formatted, started or stopped."""


class KafkaTopicError(KafkaError):
    """A topic could not be created, or an existing one differs from its spec.

    ``topic`` names the topic, ``field`` the setting (``partitions``, ``replication_factor`` or a
    config key such as ``cleanup.policy``) and ``reason`` what is wrong with it. ``retriable``
    says the cluster may still be starting (no controller yet, a request timed out), as opposed
    to a topic that can never be right as specified.
    """

    def __init__(self, topic: str, field: str, reason: str, *, retriable: bool = False) -> None:
        super().__init__(f"topic {topic!r}: {field}: {reason}")
        self.topic = topic
        self.field = field
        self.reason = reason
        self.retriable = retriable


class BrokerUnreachable(KafkaError):
    """The Kafka brokers did not answer within the configured patience."""
