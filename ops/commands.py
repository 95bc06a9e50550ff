"""Registers every CLI command module on :data:`ops.cli.app` (importing one registers it)."""

from ops import (
    bench_decode,
    bench_engine,
    bench_kafka,
    bench_live,
    bench_partitions,
    bench_report,
    demo,
    distributed,
    journal_cli,
    kafka_cli,
    replay,
    report_cli,
    serve,
    token_cli,
)

__all__ = [
    "bench_decode",
    "bench_engine",
    "bench_kafka",
    "bench_live",
    "bench_partitions",
    "bench_report",
    "demo",
    "distributed",
    "journal_cli",
    "kafka_cli",
    "replay",
    "report_cli",
    "serve",
    "token_cli",
]
