"""Every piece of TimescaleDB-specific SQL, in one place.

Used only when the server has the extension (and preloads it); otherwise the same tables are
natively range-partitioned (see the ``-- [native]`` lines of the migrations) and queries use
``date_bin``. ``tests/ingest/store/test_timescale_sql.py`` runs each statement against a server
without TimescaleDB and checks that it fails only for want of TimescaleDB objects, i.e. that
PostgreSQL's parser and analyser accepted it.

Policies: the report log is compressed once it is cold; it and the situation history are kept
for ten years (a crisis is reviewed for years afterwards; the volume is small). The history's
blocks are compressed by the writer already (``situation_api/blocks.py``), so TimescaleDB's
compression would only repeat that work. The dedupe index ``report_keys`` is not a hypertable
and never expires, so a very late re-send is still a duplicate.

Each component's setup has a version, recorded like a migration as ``<component>.timescale``: a
later schema (the history's blocks, version 2) gets its hypertable although version 1 ran.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

EXTENSION: Final = "CREATE EXTENSION IF NOT EXISTS timescaledb"

SETUP: Final[Mapping[str, tuple[int, tuple[str, ...]]]] = {
    "report_log": (1, (
        "SELECT create_hypertable('reports', by_range('received_at', INTERVAL '7 days'),"
        " migrate_data => true)",
        "ALTER TABLE reports SET (timescaledb.compress,"
        " timescaledb.compress_segmentby = 'source', timescaledb.compress_orderby = 'log_offset')",
        "SELECT add_compression_policy('reports', compress_after => INTERVAL '30 days')",
        "SELECT add_retention_policy('reports', drop_after => INTERVAL '3650 days')",
    )),
    "history": (2, (
        "SELECT create_hypertable('situation_change_blocks', by_range('first_at',"
        " INTERVAL '7 days'), migrate_data => true)",
        "SELECT add_retention_policy('situation_change_blocks',"
        " drop_after => INTERVAL '3650 days')",
    )),
}  # fmt: skip


def bucket_expression(column: str, width_param: str) -> str:
    return f"time_bucket({width_param}::interval, {column})"
