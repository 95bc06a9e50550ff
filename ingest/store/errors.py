"""Exceptions of the storage layer; one root, :class:`StoreError`.

``StoreUnavailable`` means "try again later" (503 to an HTTP client: nothing was stored);
``MigrationFailed`` and ``UnsupportedURL`` are configuration problems that stop start-up.
"""

from __future__ import annotations


class StoreError(Exception):
    """Root of every error the storage layer raises on purpose."""


class UnsupportedURL(StoreError):
    """The storage URL names a scheme no adapter handles."""

    def __init__(self, url: str) -> None:
        scheme = url.partition("://")[0] if "://" in url else url
        super().__init__(
            f"unsupported storage URL scheme {scheme!r} (use memory:// or postgresql://)"
        )


class StoreUnavailable(StoreError):
    """The database could not take the write (down, disk full, ...): nothing was acknowledged."""


class MigrationFailed(StoreError):
    """A schema migration failed; the schema is left at the last applied version."""


class StoreClosed(StoreError):
    """The store was closed while a write was waiting."""
