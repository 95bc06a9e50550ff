"""Processes of the distributed mode that run the pure cores against Kafka.

- :mod:`ops.workers.partition` — one partition's engine: journal, snapshots, ownership of the
  entities it publishes (pure, no Kafka);
- :mod:`ops.workers.correlate` — the faust-streaming worker around it.
"""
