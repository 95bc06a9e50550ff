"""Operator actions as data: what a duty officer did, when, and as whom.

They are engine input like reports (see :meth:`correlation.engine.Engine.act`); the runtime
journals them and replays them at the same place in the log, so the picture after a replay is
the same, byte for byte. Tagged msgspec structs: the journal stores ``to_builtins(action)`` and
:func:`decode_action` reads it back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, Literal, TypeAlias

import msgspec

IncidentStatus: TypeAlias = Literal["open", "resolved", "closed"]


class Action(msgspec.Struct, frozen=True, kw_only=True, tag_field="action", tag=str.lower):
    at: datetime
    actor: str


class Acknowledge(Action, frozen=True, kw_only=True, tag="acknowledge"):
    incident: str


class Note(Action, frozen=True, kw_only=True, tag="note"):
    incident: str
    text: str


class SetStatus(Action, frozen=True, kw_only=True, tag="set_status"):
    incident: str
    status: IncidentStatus


class Merge(Action, frozen=True, kw_only=True, tag="merge"):
    incident: str  # the one that stays
    other: str  # merged into it, leaves the picture


class Split(Action, frozen=True, kw_only=True, tag="split"):
    incident: str
    thread: str  # "source:source_id" taken out into an incident of its own


class DeclareLevel(Action, frozen=True, kw_only=True, tag="declare_level"):
    district: str  # AGS
    level: int | None  # 0..3, or None: back to the rules
    reason: str = ""


AnyAction: TypeAlias = Acknowledge | Note | SetStatus | Merge | Split | DeclareLevel
_decoder: Final = msgspec.json.Decoder(AnyAction)


def action_name(action: Action) -> str:
    return type(action).__struct_config__.tag  # type: ignore[return-value]


def action_to_builtins(action: Action) -> dict[str, Any]:
    out: dict[str, Any] = msgspec.to_builtins(action)
    return out


def decode_action(data: bytes | dict[str, Any]) -> AnyAction:
    """The action encoded by :func:`action_to_builtins` (or its JSON)."""
    if isinstance(data, dict):
        data = msgspec.json.encode(data)
    return _decoder.decode(data)


class ActionRecord(msgspec.Struct, frozen=True):
    """An operator action as engine input of the distributed mode: the action and the seq of
    its journal entry (the record travels on the report topic; see ``ops.workers.partition``)."""

    journal: int
    action: AnyAction


_record_decoder: Final = msgspec.json.Decoder(ActionRecord)


def encode_action_record(journal: int, action: AnyAction) -> bytes:
    return msgspec.json.encode(ActionRecord(journal, action))


def decode_action_record(data: bytes) -> ActionRecord:
    """The record :func:`encode_action_record` made; raises ``msgspec.ValidationError`` (or
    ``DecodeError``) naming the field for anything else."""
    return _record_decoder.decode(data)


def subject_of(action: Action) -> str:
    """What the action is about, for the journal: an incident id or ``district:<AGS>``."""
    if isinstance(action, DeclareLevel):
        return f"district:{action.district}"
    return str(getattr(action, "incident", ""))
