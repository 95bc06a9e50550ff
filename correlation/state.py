"""The engine's state as a snapshot stores it, and its one codec (msgpack), shared by both
engines: a snapshot of either restores in the other.

Equal histories give equal bytes: every map here keeps insertion order, and both engines insert
in the same order.
"""

from __future__ import annotations

from typing import Final, get_args

import msgspec

from correlation.capacity import Entry
from correlation.errors import SnapshotInvalid
from correlation.incident_state import Incident
from correlation.warnings import WarningState
from ingest.report import Status

FORMAT: Final = 1
_STATUSES: Final = get_args(Status)


class ThreadState(msgspec.Struct, array_like=True, gc=False):
    """What the engine keeps of a thread: the layer it is in and its current version."""

    layer: str
    t_us: int  # observed_at of the current version
    own: str  # "source:source_id" of the report that made the current version


class EngineState(msgspec.Struct, kw_only=True):
    format: int
    status: str
    rules: str  # digest of the rules it was made with
    seq: int
    clock_us: int | None
    seqs: dict[str, int]
    canon: dict[str, str]
    alias: dict[str, str]
    threads: dict[str, ThreadState]
    incidents: list[Incident]
    warnings: list[WarningState]
    capacity: list[Entry]
    declared: dict[str, tuple[int, str]] = {}


_encoder: Final = msgspec.msgpack.Encoder()
_decoder: Final = msgspec.msgpack.Decoder(EngineState)


def encode_state(state: EngineState) -> bytes:
    return _encoder.encode(state)


def decode_state(data: bytes) -> EngineState:
    """The state in ``data``; raises :class:`SnapshotInvalid` if it is not a snapshot of this
    format."""
    try:
        state = _decoder.decode(data)
    except msgspec.MsgspecError as error:
        raise SnapshotInvalid(str(error)) from None
    if state.format != FORMAT:
        raise SnapshotInvalid(f"format {state.format} is not {FORMAT}")
    if state.status not in _STATUSES:
        raise SnapshotInvalid(f"unknown status {state.status!r}")
    return state
