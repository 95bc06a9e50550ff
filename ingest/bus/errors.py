"""Exceptions of the report bus; one root, :class:`BusError`."""

from __future__ import annotations

from ingest.store.errors import StoreUnavailable


class BusError(Exception):
    """Root of every error the bus adapters raise on purpose."""


class BusURLInvalid(BusError, ValueError):
    """The bus URL cannot be used; the message says why."""


class BusUnavailable(BusError, StoreUnavailable):
    """The broker did not acknowledge a write: nothing may be acknowledged to the sender.

    A :class:`~ingest.store.errors.StoreUnavailable` too, so the ingest routes answer 503 exactly
    as when PostgreSQL is down."""
