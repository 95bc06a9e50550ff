"""``bench live`` at a tiny scale against a real server: measuring clients and drainers."""

from __future__ import annotations

from ops.bench_live import run_bench
from tests.situation_api.live_server import live_server


async def test_bench_live_measures_post_to_delta_with_drainers(pg_fresh_url: str) -> None:
    async with live_server(pg_fresh_url, rate_limit=0) as live:
        result = await run_bench(live.url, rate=20, duration=2, clients=6, batch=2)
    assert (result["sent"], result["accepted"], result["errors"]) == (40, 40, 0)
    measuring = result["post_to_delta_clients"]
    assert measuring == 3  # the first, middle and last client; the other three drain
    assert result["deltas_missing"] == 0
    delta, accept = result["post_to_delta_ms"], result["accept_latency_ms"]
    assert delta["count"] == 40 * measuring
    assert accept["count"] == 20  # one per POST of 2
    # (a delta may reach a client before the 202 does: both follow the commit)
    assert 0 < accept["p50"] <= accept["max"] < 30_000
    assert 0 < delta["p50"] <= delta["max"] < 30_000
    assert result["stream_snapshots_measuring"] == measuring
    # each drainer read its snapshot and at least one delta per POST batch flushed
    assert result["stream_messages_drained"] >= 3 * 2
    assert result["stream_payload_bytes_drained"] > 0
    assert 15 <= result["sustained_rate"] <= 25
