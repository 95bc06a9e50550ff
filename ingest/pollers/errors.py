"""Exceptions of the feed pollers.

They subclass :class:`ingest.errors.IngestError` (the root of the ingest package) so a caller
that guards a whole ingest path catches them too. ``PollerConfigInvalid`` stops start-up;
``FetchFailed`` and ``ArchiveUnsafe`` fail one poll of one feed, which is retried with backoff.
"""

from __future__ import annotations

from ingest.errors import FeedInvalid, IngestError


class PollerError(IngestError):
    """Root of the errors the pollers raise on purpose."""


class PollerConfigInvalid(PollerError):
    """The feed configuration breaks a rule; ``key`` names the place, e.g. ``feed[2].url``."""

    def __init__(self, key: str, reason: str) -> None:
        self.key = key
        self.reason = reason
        super().__init__(f"{key}: {reason}")


class FetchFailed(PollerError):
    """One HTTP fetch failed: network error, timeout, non-success status or oversize body.

    ``retry_after`` is the server's ``Retry-After`` in seconds when it sent one; the poller
    waits at least that long before the next attempt.
    """

    def __init__(
        self,
        url: str,
        reason: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.url = url
        self.reason = reason
        self.status = status
        self.retry_after = retry_after
        super().__init__(f"{url}: {reason}")


class PayloadTooLarge(FetchFailed):
    """The body exceeded the feed's ``max_bytes``; reading stopped at the limit."""


class ArchiveUnsafe(FeedInvalid):
    """A zip archive breaks the unpacking limits (entry count, sizes, ratio) or is corrupt."""
