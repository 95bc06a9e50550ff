"""``kafka://host:port[,host:port…]`` — the bus URL of the distributed mode."""

from __future__ import annotations

import re
from typing import Final

from ingest.bus.errors import BusURLInvalid

_HOST_PORT: Final = re.compile(r"^[A-Za-z0-9_.\-]+:\d{1,5}$|^\[[0-9A-Fa-f:]+\]:\d{1,5}$")


def is_kafka_url(url: str | None) -> bool:
    return url is not None and url.startswith("kafka://")


def bootstrap_of(url: str) -> str:
    """The bootstrap servers of a ``kafka://`` URL, comma-separated ``host:port`` pairs."""
    if not is_kafka_url(url):
        raise BusURLInvalid(f"bus URL {url!r} must start with kafka://")
    servers = url[len("kafka://") :].rstrip("/")
    parts = [part.strip() for part in servers.split(",") if part.strip()]
    if not parts:
        raise BusURLInvalid(f"bus URL {url!r} names no broker")
    for part in parts:
        if not _HOST_PORT.match(part) or not 0 < int(part.rsplit(":", 1)[1]) < 65536:
            raise BusURLInvalid(f"bus URL {url!r}: {part!r} is not host:port")
    return ",".join(parts)
