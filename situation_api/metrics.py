"""Prometheus metrics of the API process, in one registry served at ``/metrics``.

Module-level collectors so every part (ingest routes, runtime, stream hub) increments the same
series without passing objects around; values are process-wide, which is what Prometheus scrapes.
Latency histograms share buckets fine enough to read p99 around the 100 ms target.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    gc_collector,
    generate_latest,
    platform_collector,
    process_collector,
)

REGISTRY: Final = CollectorRegistry(auto_describe=True)
process_collector.ProcessCollector(registry=REGISTRY)
platform_collector.PlatformCollector(registry=REGISTRY)
gc_collector.GCCollector(registry=REGISTRY)

LATENCY_BUCKETS: Final = (
    0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075,
    0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip

# -- ingest (incremented by situation_api.ingest_routes) -----------------------------------------
REPORTS_ACCEPTED: Final = Counter(
    "lz_reports_accepted",
    "Reports durably accepted into the report log (duplicates excluded)",
    ["format"],
    registry=REGISTRY,
)
REPORTS_DUPLICATE: Final = Counter(
    "lz_reports_duplicate",
    "Reports acknowledged as duplicates of an already stored (source, source_id, sequence)",
    ["format"],
    registry=REGISTRY,
)
REPORTS_REJECTED: Final = Counter(
    "lz_reports_rejected",
    "Reports or payloads rejected as invalid; nothing of them was stored",
    ["format"],
    registry=REGISTRY,
)
ACCEPT_LATENCY: Final = Histogram(
    "lz_accept_latency_seconds",
    "Time from request received to durable acknowledgement",
    ["format"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)

# -- runtime ------------------------------------------------------------------------------------
LOG_OFFSET: Final = Gauge(
    "lz_log_offset", "Highest offset committed to the report log", registry=REGISTRY
)
PROCESSED_OFFSET: Final = Gauge(
    "lz_processed_offset", "Highest log offset the engine has processed", registry=REGISTRY
)
ENGINE_LAG: Final = Gauge(
    "lz_engine_lag_reports",
    "Reports committed to the log but not yet processed by the engine",
    registry=REGISTRY,
)
ENGINE_SEQ: Final = Gauge(
    "lz_engine_seq", "Sequence number of the latest change", registry=REGISTRY
)
CHANGES: Final = Counter(
    "lz_changes", "Situation changes emitted by the engine", ["entity"], registry=REGISTRY
)
PROCESSING_LATENCY: Final = Histogram(
    "lz_change_processing_seconds",
    "Engine + history time for one batch read from the log",
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
POST_TO_DELTA: Final = Histogram(
    "lz_post_to_delta_seconds",
    "Time from a report's receipt to the publication of the delta it caused",
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
SNAPSHOTS: Final = Counter("lz_snapshots", "Engine snapshots persisted", registry=REGISTRY)
RUNTIME_ERRORS: Final = Counter(
    "lz_runtime_errors", "Unexpected failures in the runtime loop", ["stage"], registry=REGISTRY
)

# -- stream -------------------------------------------------------------------------------------
STREAM_CLIENTS: Final = Gauge(
    "lz_stream_clients", "Websocket clients connected to the situation stream", registry=REGISTRY
)
STREAM_RESYNCS: Final = Counter(
    "lz_stream_resyncs",
    "Slow clients whose queue overflowed and that were resynchronised with a snapshot",
    registry=REGISTRY,
)
STREAM_MESSAGES: Final = Counter(
    "lz_stream_messages", "Messages published to the stream", ["type"], registry=REGISTRY
)
STREAM_WRITES: Final = Counter(
    "lz_stream_writes",
    "Stream messages handed to clients: 'shared' frames built once for all clients written to "
    "the socket, 'queued' ones sent by a client's own sender (catching up, or no broadcast)",
    ["path"],
    registry=REGISTRY,
)


def render() -> tuple[bytes, str]:
    """The exposition body and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
