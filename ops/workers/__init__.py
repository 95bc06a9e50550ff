"""Processes of the distributed mode that run the pure cores against Kafka.

- :mod:`ops.workers.partition` — one partition's engine: journal, snapshots, ownership of the
  entities it publishes (pure, no Kafka);
- :mod:`ops.workers.snapshots` — an engine snapshot as records under Kafka's size limit (pure);
- :mod:`ops.workers.realign` — where a partition must be read from, by the state (pure);
- :mod:`ops.workers.correlate` — the correlator: engines per partition, publishing, journalling;
- :mod:`ops.workers.faust_app` — the faust-streaming app and process around it.
"""
