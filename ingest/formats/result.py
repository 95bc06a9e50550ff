"""What every feed parser returns: accepted reports, per-item rejections, and warnings."""

from __future__ import annotations

from dataclasses import dataclass, field

from ingest.errors import ReportInvalid
from ingest.report import Report


@dataclass(frozen=True, slots=True)
class ParseResult:
    """The outcome of parsing one payload.

    ``rejected`` holds items that broke contract 1 (each names its field and reason; their
    ``index`` is the item's position in the payload). ``warnings`` name defects of accepted
    input, e.g. "references: empty on an Update" — accepted, but the sender should fix them.
    A payload that cannot be read at all raises :class:`ingest.errors.FeedInvalid` instead.
    """

    reports: tuple[Report, ...] = ()
    rejected: tuple[ReportInvalid, ...] = ()
    warnings: tuple[str, ...] = field(default=())
