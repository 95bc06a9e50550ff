"""Is a Kafka broker ready? ApiVersions and Metadata over plain TCP, no client library.

The broker's port accepts connections before the node has caught up with its own metadata, so
"port open" is not "ready". A Metadata answer that lists the broker itself, under the expected
cluster id, is. Metadata v4 is the oldest version Kafka 4 still serves and has no flexible
(tagged) encoding, so request and answer stay a few lines of :mod:`struct`; the ApiVersions
answer tells us first whether the broker serves it at all.
"""

from __future__ import annotations

import socket
import struct
from typing import Final


class ProbeFailed(Exception):
    """The broker answered, but not (yet) as a ready broker of the expected cluster."""


_API_METADATA: Final = 3
_API_VERSIONS: Final = 18
_METADATA_V4: Final = 4


def probe(port: int, *, expect_cluster_id: str | None = None, timeout: float = 5.0) -> None:
    """Return if the broker on ``127.0.0.1:port`` answers ApiVersions and lists itself.

    Raises :class:`OSError` while nothing listens and :class:`ProbeFailed` while the broker is
    not ready (or belongs to another cluster than ``expect_cluster_id``).
    """
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        body = _request(sock, _API_VERSIONS, 0, 1, b"")
        (error,) = struct.unpack_from(">h", body, 0)
        if error:
            raise ProbeFailed(f"ApiVersions error code {error}")
        (count,) = struct.unpack_from(">i", body, 2)
        ranges = {
            key: (lo, hi)
            for key, lo, hi in (struct.unpack_from(">hhh", body, 6 + 6 * i) for i in range(count))
        }
        lo, hi = ranges.get(_API_METADATA, (1, 0))
        if not lo <= _METADATA_V4 <= hi:
            raise ProbeFailed(f"broker serves Metadata v{lo}..v{hi}, not v{_METADATA_V4}")
        # No topics (empty array), no auto-creation.
        body = _request(sock, _API_METADATA, _METADATA_V4, 2, struct.pack(">ib", 0, 0))
    at = 4  # throttle_time_ms
    (brokers,) = struct.unpack_from(">i", body, at)
    at += 4
    ports = []
    for _ in range(brokers):
        at += 4  # node_id
        host_len = struct.unpack_from(">h", body, at)[0]
        at += 2 + host_len
        ports.append(struct.unpack_from(">i", body, at)[0])
        at += 4
        rack_len = struct.unpack_from(">h", body, at)[0]
        at += 2 + max(rack_len, 0)
    cluster_len = struct.unpack_from(">h", body, at)[0]
    cluster = body[at + 2 : at + 2 + cluster_len].decode() if cluster_len >= 0 else None
    if port not in ports:
        raise ProbeFailed("broker not yet registered in its own metadata")
    if expect_cluster_id is not None and cluster != expect_cluster_id:
        raise ProbeFailed(f"cluster id {cluster!r}, expected {expect_cluster_id!r}")


def _request(sock: socket.socket, api: int, version: int, correlation: int, body: bytes) -> bytes:
    client = b"lagezentrum-probe"
    header = struct.pack(">hhih", api, version, correlation, len(client)) + client
    payload = header + body
    sock.sendall(struct.pack(">i", len(payload)) + payload)
    (size,) = struct.unpack(">i", _recv_exactly(sock, 4))
    answer = _recv_exactly(sock, size)
    if struct.unpack_from(">i", answer, 0)[0] != correlation:
        raise ProbeFailed("answer to another request")
    return answer[4:]


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < n:
        chunk = sock.recv(n - len(chunks))
        if not chunk:
            raise ProbeFailed("connection closed by the broker")
        chunks += chunk
    return bytes(chunks)
