"""Durable storage of ingest: the report log and feed status (ports, adapters, migrations).

``open_report_log(url)`` picks the adapter by URL scheme: ``memory://`` or ``postgresql://``
(``postgres://``). The PostgreSQL adapters share a :class:`Database` (pool + schema dialect).
"""

from __future__ import annotations

from ingest.store.database import Database
from ingest.store.errors import (
    MigrationFailed,
    StoreClosed,
    StoreError,
    StoreUnavailable,
    UnsupportedURL,
)
from ingest.store.memory import MemoryFeedStatusStore, MemoryReportLog
from ingest.store.port import Appended, FeedStatus, FeedStatusStore, ReportLog
from ingest.store.postgres import PostgresFeedStatusStore, PostgresReportLog

__all__ = [
    "Appended",
    "Database",
    "FeedStatus",
    "FeedStatusStore",
    "MemoryFeedStatusStore",
    "MemoryReportLog",
    "MigrationFailed",
    "PostgresFeedStatusStore",
    "PostgresReportLog",
    "ReportLog",
    "StoreClosed",
    "StoreError",
    "StoreUnavailable",
    "UnsupportedURL",
    "is_postgres_url",
    "open_report_log",
]


def is_postgres_url(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


async def open_report_log(url: str) -> ReportLog:
    """The report log at ``url``: ``memory://`` or ``postgresql://user:pw@host:port/db``."""
    if url.startswith("memory://"):
        return MemoryReportLog()
    if is_postgres_url(url):
        return await PostgresReportLog.open(url)
    raise UnsupportedURL(url)
