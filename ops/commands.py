"""Registers every CLI command module on :data:`ops.cli.app` (importing one registers it)."""

from ops import bench_decode, bench_engine, bench_live, kafka_cli, replay, serve

__all__ = ["bench_decode", "bench_engine", "bench_live", "kafka_cli", "replay", "serve"]
