"""Situation changes: the events the engine emits (frozen, tagged msgspec structs).

Every change carries the FULL contract-3 view of its entity after the change (``view``), or
None when the entity leaves the live picture, so a consumer never needs earlier changes to show
the current state of an entity: applying the views in ``seq`` order reproduces the picture
(:meth:`correlation.picture.Picture.apply`). The JSON form is tagged by ``"type"`` (the class
name); :func:`encode_change`/:func:`decode_change` are the wire format of the stream.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, Literal, TypeAlias

import msgspec

Entity: TypeAlias = Literal["incident", "warning", "district", "capacity"]


# gc=False: changes hold only plain data (no cycles), and there are several per report;
# untracked, they cost the cyclic garbage collector nothing.
class Change(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag=True, gc=False):
    """Common base. ``seq`` strictly increases over everything one engine emits; ``at`` is the
    event time of the change (the report's ``observed_at``, or the timer that fired); ``late``
    marks changes caused by a report older than the watermark (applied, never dropped)."""

    seq: int
    at: datetime
    entity: Entity
    id: str
    view: dict[str, Any] | None
    late: bool = False


class IncidentOpened(Change, frozen=True, kw_only=True):
    thread: str
    reason: str = "opened"


class IncidentUpdated(Change, frozen=True, kw_only=True):
    """A thread linked, updated, moved out or cancelled; warning links changed; severity,
    metrics or district changed. ``thread`` names the thread concerned, if any."""

    reason: str
    thread: str | None = None


class IncidentResolved(Change, frozen=True, kw_only=True):
    reason: str  # "quiet" (no activity for the family's quiet time) or "operator"


class IncidentReopened(Change, frozen=True, kw_only=True):
    reason: str  # "activity" (a new report joined) or "operator"
    thread: str | None = None


class IncidentClosed(Change, frozen=True, kw_only=True):
    reason: str = "closed"


class IncidentCancelled(Change, frozen=True, kw_only=True):
    thread: str | None = None
    reason: str = "cancelled"


class WarningIssued(Change, frozen=True, kw_only=True):
    thread: str


class WarningUpdated(Change, frozen=True, kw_only=True):
    reason: str  # "updated" (new version), "onset" (pending -> active)
    thread: str | None = None


class WarningExpired(Change, frozen=True, kw_only=True):
    pass


class WarningCancelled(Change, frozen=True, kw_only=True):
    thread: str | None = None


class CapacityUpdated(Change, frozen=True, kw_only=True):
    thread: str | None = None


class DistrictUpdated(Change, frozen=True, kw_only=True):
    reason: str


class DistrictLevelChanged(Change, frozen=True, kw_only=True):
    old_level: int
    new_level: int
    reason: str


AnyChange: TypeAlias = (
    IncidentOpened
    | IncidentUpdated
    | IncidentResolved
    | IncidentReopened
    | IncidentClosed
    | IncidentCancelled
    | WarningIssued
    | WarningUpdated
    | WarningExpired
    | WarningCancelled
    | CapacityUpdated
    | DistrictUpdated
    | DistrictLevelChanged
)

# The kinds whose view is always None: each removes its entity from the picture, so a reader of
# encoded changes (the partition worker, which tombstones removed keys) knows without the payload.
REMOVAL_KINDS: Final = frozenset(
    {"IncidentCancelled", "IncidentClosed", "WarningCancelled", "WarningExpired"}
)
# The kinds whose view is None only sometimes: a state-wide capacity figure whose last live report
# is cancelled leaves the picture, so for these only the payload's ``"view"`` tells.
PARTIAL_REMOVAL_KINDS: Final = frozenset({"CapacityUpdated"})

_encoder: Final = msgspec.json.Encoder()
_decoder: Final = msgspec.json.Decoder(AnyChange)


def encode_change(change: Change) -> bytes:
    return _encoder.encode(change)


class EncodedChange(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """A change in its wire form: ``payload`` is :func:`encode_change`'s bytes, and beside it
    what the history and the stream index a change by. The live path needs nothing else: it
    sends the payload to the displays and stores it, so an engine that writes these directly
    (``process_encoded``) spares building the change and its view as Python objects.

    ``array_like``: the history's blocks are msgpack arrays of these."""

    seq: int
    at: datetime
    kind: str  # the change's class name, e.g. "IncidentOpened"
    entity: str
    entity_id: str
    payload: bytes

    @classmethod
    def of(cls, change: Change, payload: bytes | None = None) -> EncodedChange:
        """``change`` encoded (``payload``: its encoding, if at hand already)."""
        if payload is None:
            payload = _encoder.encode(change)
        return cls(change.seq, change.at, type(change).__name__, change.entity, change.id, payload)


def decode_change(data: bytes | str) -> AnyChange:
    """The change encoded by :func:`encode_change`; raises ``msgspec.ValidationError`` /
    ``msgspec.DecodeError`` on anything else."""
    return _decoder.decode(data)
