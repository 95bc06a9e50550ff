"""What the situation history stores: changes and snapshots (see :mod:`situation_api.history`)."""

from __future__ import annotations

from datetime import datetime
from typing import TypeAlias

import msgspec

from correlation.changes import EncodedChange

# One change as the history stores it, ordered by ``seq``, unique: the engine's encoded form.
StoredChange: TypeAlias = EncodedChange


class Snapshot(msgspec.Struct, frozen=True):
    """Engine state (opaque bytes) and picture (JSON bytes) after change ``seq``."""

    seq: int
    at: datetime
    state: bytes
    picture: bytes
