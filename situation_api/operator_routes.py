"""Duty officer actions (role ``operator``) and the journal (role ``viewer``).

Every action is checked against the live engine, recorded in the hash-chained journal together
with the log offset the engine has reached, and only then applied: the journal is the engine's
input for operator actions, so merges, splits, status changes and declared levels survive
restarts and replays exactly. The answer carries the journal entry and the changes the action
caused (they also go out on the stream).

In the distributed mode (:mod:`situation_api.bus_actions`) the action is checked against this
instance's picture, journaled in the shared PostgreSQL journal and sent to the correlation
worker that holds its target; the answer comes once this instance's picture shows it (200; its
changes arrive on the stream, so ``changes`` is empty), or as 202 if the worker has not handled it
within a few seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Final, Literal

import msgspec
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from correlation.actions import (
    Acknowledge,
    AnyAction,
    DeclareLevel,
    Merge,
    Note,
    SetStatus,
    Split,
)
from correlation.changes import Change
from correlation.errors import ActionInvalid, UnknownIncident
from ingest.store.errors import StoreError
from situation_api.auth.guard import principal_of
from situation_api.bus_actions import ActionConflict, ActionUndelivered, BusActions
from situation_api.journal.chain import JournalEntry
from situation_api.journal.service import Journal
from situation_api.problems import FieldError, ProblemError, problem_responses
from situation_api.services import Services

Clock = Callable[[], datetime]
_encoder: Final = msgspec.json.Encoder()
_IncidentId = Annotated[str, Path(max_length=200, pattern=r"^inc-[0-9a-f]{1,64}$")]


class NoteBody(BaseModel):
    text: str = Field(min_length=1, max_length=2000)


class StatusBody(BaseModel):
    status: Literal["open", "resolved", "closed"]


class MergeBody(BaseModel):
    incident: str = Field(max_length=200, description="the incident that stays")
    other: str = Field(max_length=200, description="merged into it; leaves the picture")


class SplitBody(BaseModel):
    thread: str = Field(max_length=300, description='"source:source_id" of a contributing report')


class LevelBody(BaseModel):
    level: int | None = Field(
        ge=0, le=3, description="0..3; null hands the level back to the rules"
    )
    reason: str = Field(default="", max_length=500)


class ActionResult(BaseModel):
    journal: dict[str, Any] = Field(description="the journal entry of the action")
    changes: list[dict[str, Any]] = Field(
        description="situation changes the action caused (embedded mode; in the distributed "
        "mode they arrive on the stream and this list is empty)"
    )


ACTION_DESCRIPTION: Final = (
    "Checked against the live picture, recorded in the hash-chained journal, then applied. "
    "**200**: applied; the picture shows it. Embedded mode: `changes` lists what it changed. "
    "Distributed mode: the action went to the correlation worker holding its target and this "
    "instance's picture shows the result; `changes` is empty (they come on the stream). "
    "**202** (distributed mode only): journaled and handed to the bus, but the worker has not "
    "reported it within a few seconds (down or catching up); it applies when the worker gets to "
    "it. **409** (distributed mode only): a merge of incidents held by different partitions, or "
    "the worker found the action moot (the picture was behind); an `action_failed` journal "
    "entry records the latter. **503**: no journal (distributed mode without "
    "LAGEZENTRUM_DATABASE_URL), or the journal or the bus cannot take it now."
)


class Me(BaseModel):
    id: str
    name: str
    role: str
    sources: list[str] | None = Field(description="feed tokens: the sources they may report as")


class JournalPage(BaseModel):
    entries: list[dict[str, Any]]
    next_after: int = Field(description="pass as `after` for the next page")


def journal_of(services: Services) -> Journal:
    journal: Journal | None = services.extra.get("journal")
    if journal is None:
        missing: str | None = services.extra.get("journal_missing")
        if missing is not None:  # a setting, not a passing state: no Retry-After
            raise ProblemError(
                503, missing, kind="journal-unavailable", title="Journal not configured"
            )
        raise ProblemError(503, "the journal is not open", kind="not-ready", title="Not ready")
    return journal


async def perform(services: Services, action: AnyAction) -> tuple[JournalEntry, list[Change], bool]:
    """Check, journal, apply (see the module docstring); problems for what cannot be done.
    The entry, the changes (embedded mode) and whether this instance's picture shows them."""
    journal = journal_of(services)
    bus: BusActions | None = services.extra.get("bus_actions")
    recorded: list[JournalEntry] = []

    async def record(offset: int) -> int:
        entry = await journal.record(action, offset)
        recorded.append(entry)
        return entry.seq

    try:
        if bus is not None:
            done = await bus.perform(action)
            return done.entry, [], done.visible
        changes = await services.runtime.act(action, record)
    except UnknownIncident as error:
        raise ProblemError(404, str(error), kind="not-found", title="Incident not found") from None
    except ActionInvalid as error:
        raise ProblemError(
            422, error.reason, kind="action-invalid", title="Action not possible",
            errors=[FieldError(field="$", reason=error.reason)],
        ) from None  # fmt: skip
    except ActionConflict as error:
        detail = error.reason
        if error.entry is not None:
            detail = f"journal entry {error.entry.seq} did not take effect: {detail}"
        raise ProblemError(
            409, detail, kind="action-conflict", title="Action not possible here"
        ) from None
    except ActionUndelivered as error:
        raise ProblemError(
            503,
            f"journal entry {error.entry.seq} was not delivered: {error.reason}; it may not "
            "take effect: check the picture before repeating it",
            kind="bus-unavailable", headers={"Retry-After": "5"},
        ) from None  # fmt: skip
    except StoreError as error:
        raise ProblemError(
            503, f"the journal cannot take writes now; nothing was done: {error}",
            kind="store-unavailable", headers={"Retry-After": "5"},
        ) from None  # fmt: skip
    return recorded[0], changes, True


def _answer(entry: JournalEntry, changes: list[Change], visible: bool = True) -> Response:
    body = {"journal": entry.to_builtins(), "changes": [msgspec.to_builtins(c) for c in changes]}
    return Response(
        _encoder.encode(body), status_code=200 if visible else 202, media_type="application/json"
    )


def operator_router(services_of: Callable[[Request], Services], clock: Clock) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["operator actions"])
    responses: dict[int | str, dict[str, Any]] = {
        200: {"model": ActionResult, "description": "applied; this picture shows it"},
        202: {
            "model": ActionResult,
            "description": "distributed mode: journaled and sent, not handled by the worker yet",
        },
        **problem_responses(401, 403, 404, 409, 422, 429, 503),
    }

    async def act(request: Request, make: Callable[[datetime, str], AnyAction]) -> Response:
        services = services_of(request)
        action = make(clock(), principal_of(request).actor)
        return _answer(*await perform(services, action))

    @router.post(
        "/incidents/merge",
        response_model=None,
        responses=responses,
        description=ACTION_DESCRIPTION,
        summary="Merge `other` into `incident` (manual override of the correlation)",
    )
    async def merge(request: Request, body: MergeBody) -> Response:
        return await act(
            request,
            lambda at, who: Merge(at=at, actor=who, incident=body.incident, other=body.other),
        )

    @router.post(
        "/incidents/{incident_id}/acknowledge",
        response_model=None,
        responses=responses,
        description=ACTION_DESCRIPTION,
        summary="Acknowledge an incident",
    )
    async def acknowledge(request: Request, incident_id: _IncidentId) -> Response:
        return await act(
            request, lambda at, who: Acknowledge(at=at, actor=who, incident=incident_id)
        )

    @router.post(
        "/incidents/{incident_id}/notes",
        response_model=None,
        responses=responses,
        description=ACTION_DESCRIPTION,
        summary="Add a note to an incident",
    )
    async def add_note(request: Request, incident_id: _IncidentId, body: NoteBody) -> Response:
        return await act(
            request, lambda at, who: Note(at=at, actor=who, incident=incident_id, text=body.text)
        )

    @router.post(
        "/incidents/{incident_id}/status",
        response_model=None,
        responses=responses,
        description=ACTION_DESCRIPTION,
        summary="Set an incident's status (open, resolved, closed)",
    )
    async def set_status(request: Request, incident_id: _IncidentId, body: StatusBody) -> Response:
        return await act(
            request,
            lambda at, who: SetStatus(at=at, actor=who, incident=incident_id, status=body.status),
        )

    @router.post(
        "/incidents/{incident_id}/split",
        response_model=None,
        responses=responses,
        description=ACTION_DESCRIPTION,
        summary="Split a report thread out of an incident into an incident of its own",
    )
    async def split(request: Request, incident_id: _IncidentId, body: SplitBody) -> Response:
        return await act(
            request,
            lambda at, who: Split(at=at, actor=who, incident=incident_id, thread=body.thread),
        )

    @router.put(
        "/districts/{ags}/level",
        response_model=None,
        responses=responses,
        description=ACTION_DESCRIPTION,
        summary="Declare a district's escalation level (null: back to the rules)",
    )
    async def declare_level(
        request: Request,
        ags: Annotated[str, Path(pattern=r"^\d{5}$")],
        body: LevelBody,
    ) -> Response:
        return await act(
            request,
            lambda at, who: DeclareLevel(
                at=at, actor=who, district=ags, level=body.level, reason=body.reason
            ),
        )

    return router


def journal_router(services_of: Callable[[Request], Services]) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["journal"])

    @router.get("/me", response_model=Me, summary="Who the token in use belongs to")
    async def me(request: Request) -> Me:
        principal = principal_of(request)
        sources = None if principal.sources is None else sorted(principal.sources)
        return Me(id=principal.id, name=principal.name, role=principal.role, sources=sources)

    @router.get(
        "/journal",
        response_model=JournalPage,
        responses=problem_responses(401, 403, 503),
        summary="The journal of operator actions and level changes, oldest first",
    )
    async def get_journal(
        request: Request,
        after: Annotated[
            int, Query(ge=0, le=2**63 - 1, description="only entries after this seq")
        ] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
        subject: Annotated[
            str | None, Query(max_length=200, description="an incident id or district:<AGS>")
        ] = None,
    ) -> Response:
        journal = journal_of(services_of(request))
        try:
            found = await journal.store.since(after, limit, subject=subject)
        except StoreError as error:
            raise ProblemError(503, str(error), kind="store-unavailable") from None
        body = {
            "entries": [e.to_builtins() for e in found],
            "next_after": found[-1].seq if found else after,
        }
        return Response(_encoder.encode(body), media_type="application/json")

    return router
