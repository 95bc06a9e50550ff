"""What the situation history stores: changes and snapshots (see :mod:`situation_api.history`)."""

from __future__ import annotations

from datetime import datetime

import msgspec

from correlation.changes import Change


class StoredChange(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """One change; ``payload`` is a JSON document (bytes). Ordered by ``seq``, unique.

    ``array_like``: a history block (:mod:`situation_api.blocks`) is a msgpack array of these."""

    seq: int
    at: datetime
    kind: str
    entity: str
    entity_id: str
    payload: bytes

    @classmethod
    def of(cls, change: Change, payload: bytes) -> StoredChange:
        """The stored form of ``change`` (``payload``: its encoding, with ``change.seq``)."""
        return cls(change.seq, change.at, type(change).__name__, change.entity, change.id, payload)


class Snapshot(msgspec.Struct, frozen=True):
    """Engine state (opaque bytes) and picture (JSON bytes) after change ``seq``."""

    seq: int
    at: datetime
    state: bytes
    picture: bytes
