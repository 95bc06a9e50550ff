"""Parsing times given on the command line or in query strings."""

from __future__ import annotations

from datetime import datetime


def parse_time(text: str) -> datetime:
    """An RFC 3339 time with offset ('Z' allowed); a time without offset is an error, since a
    situation centre must never guess the zone of an operator's input."""
    try:
        value = datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError:
        raise ValueError(f"not an RFC 3339 time: {text!r}") from None
    if value.tzinfo is None:
        raise ValueError(f"time needs an offset such as Z or +01:00: {text!r}")
    return value
