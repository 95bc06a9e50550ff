"""``bench kafka`` at a tiny scale on the module's broker, in both topologies: real processes
with a worker, real tokens, real websocket clients; the figures it prints must describe what
happened."""

from __future__ import annotations

import json

import pytest

from ops.bench_kafka import run_live_bench
from tests.distributed.conftest import PARTITIONS


@pytest.mark.parametrize(
    ("topology", "roles"),
    [("serve", {"serve", "workers"}), ("split", {"ingest", "api", "archive", "workers"})],
)
def test_bench_kafka_measures_post_to_delta(
    bus_url: str, pg_fresh_url: str, topology: str, roles: set[str]
) -> None:
    """serve: one ``serve --bus``; split: ``ingest``, ``api``, ``archive``, ``correlate``."""
    clients = 3
    result = run_live_bench(
        bus_url,
        pg_fresh_url,
        rate=20,
        duration=2,
        clients=clients,
        workers=1,
        partitions=PARTITIONS,
        topology=topology,
    )
    assert json.loads(json.dumps(result)) == result  # one JSON object
    assert (result["benchmark"], result["topology"], result["workers"]) == ("kafka", topology, 1)
    # every report was accepted through access control and reached every measuring client
    assert result["sent"] == 40
    assert (result["accepted"], result["errors"], result["error_kinds"]) == (40, 0, {})
    assert result["post_to_delta_clients"] == clients
    assert result["deltas_missing"] == 0
    delta = result["post_to_delta_ms"]
    assert delta["count"] == 40 * clients
    assert 0 < delta["p50"] <= delta["p99"] <= delta["max"] < 30_000
    accept = result["accept_latency_ms"]
    assert accept["count"] == 40
    # a report is on the stream only after the broker acknowledged it (202)
    assert accept["p50"] <= delta["p50"]
    assert result["stream_snapshots_measuring"] == clients
    assert result["stream_messages_measuring"] >= clients + 1
    assert result["warmup_s"] > 0
    assert result["auth"].startswith("admin token")
    cpu = result["cpu_percent"]
    assert set(cpu) == {*roles, "bench (load + websocket clients)"}
    assert all(cpu[role] > 0 for role in roles), cpu
    assert len(result["loadavg_before"]) == len(result["loadavg_at_end_of_load"]) == 3
    assert 1.5 <= result["cpu_window_s"] < 10  # the load, not the start-up or the drain
    # no worker gave up, and the logs were read: the processes announced their start there
    assert (result["worker_exits"], result["log_critical"]) == ([], [])
    assert set(result["log_levels"]) >= roles - {"workers"}
