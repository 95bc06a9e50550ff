"""Exceptions of the ingest package.

One root, :class:`IngestError`; each subclass tells the caller what to do:
``ReportInvalid`` → reject that one report (4xx, nothing stored), ``FeedInvalid`` → the whole
payload is unusable (4xx), ``FeedUnsupported`` → wrong format or version, try another parser.
"""

from __future__ import annotations


class IngestError(Exception):
    """Root of every error the ingest package raises on purpose."""


class ReportInvalid(IngestError):
    """One report breaks contract 1. ``field`` is a JSON path such as ``$.geometry.coordinates``."""

    def __init__(self, field: str, reason: str, *, index: int | None = None) -> None:
        self.field = field
        self.reason = reason
        self.index = index
        where = f"item {index}: " if index is not None else ""
        super().__init__(f"{where}{field}: {reason}")

    def at_index(self, index: int) -> ReportInvalid:
        """The same rejection, located at position ``index`` of a batch."""
        return ReportInvalid(self.field, self.reason, index=index)


class FeedInvalid(IngestError):
    """The payload as a whole cannot be read (not XML, XML bomb, wrong root, ...)."""

    def __init__(self, reason: str, *, field: str = "$") -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class FeedUnsupported(FeedInvalid):
    """The payload is well-formed but in a format or version this parser does not read."""
