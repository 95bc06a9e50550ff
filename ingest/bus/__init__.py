"""The report bus of the distributed mode: reports published to Apache Kafka instead of the
PostgreSQL log (``LAGEZENTRUM_BUS=kafka://host:port``).

- :mod:`ingest.bus.url` — the ``kafka://`` URL and its bootstrap servers;
- :mod:`ingest.bus.wire` — how a report travels on ``lz.reports.v1`` (value, key, headers);
- :mod:`ingest.bus.publisher` — :class:`KafkaReportLog`, the ingest routes' report log on Kafka:
  a report is acknowledged only after the broker acknowledged it with ``acks=all``;
- :mod:`ingest.bus.feeds` — the gate of the ``lz.feed.<agency>`` topics: valid canonical
  reports go on to the report topic, anything else to the dead-letter topic with its reason.

Kafka clients are imported inside the adapters only, never by pure code.
"""

from ingest.bus.errors import BusError, BusUnavailable, BusURLInvalid
from ingest.bus.url import bootstrap_of, is_kafka_url

__all__ = ["BusError", "BusURLInvalid", "BusUnavailable", "bootstrap_of", "is_kafka_url"]
