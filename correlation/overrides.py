"""Operator overrides of the incident layer: acknowledge, note, close, merge, split.

They are inputs like reports: the runtime records each in the journal with the log offset it was
applied after and replays it at that point, so a replay reproduces every override exactly.
Threads an operator merged into an incident are *pinned*: their updates never move them out
again, however far they move. A thread split out of an incident gets an incident of its own
(an update keeps a single-thread incident together, so it stays apart).
"""

from __future__ import annotations

from correlation.changes import IncidentClosed, IncidentOpened, IncidentUpdated
from correlation.clock import rfc3339
from correlation.errors import ActionInvalid, UnknownIncident
from correlation.incident_state import Incident, incident_id
from correlation.incidents import Incidents

MAX_NOTES = 200  # per incident; a note is text a person typed, so this is generous
MAX_NOTE_CHARS = 2000


def _live(incidents: Incidents, ident: str) -> Incident:
    incident = incidents.live.get(ident)
    if incident is None:
        raise UnknownIncident(ident)
    return incident


def acknowledge(incidents: Incidents, ident: str, at_us: int, actor: str) -> None:
    incident = _live(incidents, ident)
    if incident.acknowledged is not None:
        return  # the first acknowledgement counts
    incident.acknowledged = (rfc3339(at_us), actor)
    _updated(incidents, incident, "acknowledged")


def note(incidents: Incidents, ident: str, at_us: int, actor: str, text: str) -> None:
    incident = _live(incidents, ident)
    text = text.strip()
    if not text or len(text) > MAX_NOTE_CHARS:
        raise ActionInvalid(f"a note has 1 to {MAX_NOTE_CHARS} characters")
    if len(incident.notes) >= MAX_NOTES:
        raise ActionInvalid(f"incident {ident} already has {MAX_NOTES} notes")
    incident.notes = [*incident.notes, (rfc3339(at_us), actor, text)]
    _updated(incidents, incident, "note")


def close(incidents: Incidents, ident: str, reason: str = "operator") -> None:
    incident = _live(incidents, ident)
    incidents._drop(incident)
    incidents._ctx.emit(IncidentClosed, entity="incident", id=ident, view=None, reason=reason)


def merge(incidents: Incidents, target_id: str, other_id: str) -> None:
    """Move every thread of ``other`` into ``target`` (pinned there); ``other`` leaves the
    picture (closed, reason ``merged_into:<target>``)."""
    if target_id == other_id:
        raise ActionInvalid("an incident cannot be merged with itself")
    target = _live(incidents, target_id)
    other = _live(incidents, other_id)
    moved = sorted(other.links.items(), key=lambda item: item[1].order)
    close(incidents, other_id, f"merged_into:{target_id}")
    for thread, link in moved:
        link.order = target.next_order
        target.next_order += 1
        link.pinned = True
        link.reason = f"merged by an operator from {other_id}"
        target.links[thread] = link
        target.families[link.family] = target.families.get(link.family, 0) + 1
        incidents.by_thread[thread] = target_id
        incidents._link_views.pop(thread, None)
        if link.seen_us > target.last_us:
            target.last_us, target.last = link.seen_us, link.seen
        if link.seen_us < target.first_us:
            target.first_us, target.first = link.seen_us, link.seen
    target.active_us = max(target.active_us, other.active_us)
    target.notes = [*target.notes, *other.notes][-MAX_NOTES:]
    if target.status == "resolved" and other.status == "open":
        target.status, target.resolved_us, target.due_us = "open", None, -1
    incidents._settle(target, moved=True)
    _updated(incidents, target, "merged")


def split(incidents: Incidents, ident: str, thread: str, at_us: int) -> str:
    """Take ``thread`` out of incident ``ident`` into a new incident of its own; its id."""
    incident = _live(incidents, ident)
    link = incident.links.get(thread)
    if link is None:
        raise ActionInvalid(f"thread {thread!r} is not in incident {ident}")
    if len(incident.links) == 1:
        raise ActionInvalid(f"{thread!r} is the only thread of incident {ident}")
    incidents.remove(incident, thread, "thread_split")
    new_id = incident_id(f"split:{ident}:{thread}:{at_us}")
    link.order, link.pinned, link.distance_m, link.time_gap_s = 0, False, 0.0, 0
    link.reason = f"split out of {ident} by an operator"
    link.linked_at = rfc3339(at_us)
    alone = Incident(
        id=new_id,
        status="open",
        links={thread: link},
        families={link.family: 1},
        first_us=link.seen_us,
        first=link.seen,
        last_us=link.seen_us,
        last=link.seen,
        active_us=max(link.seen_us, at_us),
        due_us=-1,
    )
    incidents.live[new_id] = alone
    incidents.by_thread[thread] = new_id
    incidents._link_views.pop(thread, None)
    incidents._settle(alone, moved=True)
    incidents._ctx.emit(
        IncidentOpened,
        entity="incident",
        id=new_id,
        view=incidents.view(alone),
        thread=thread,
        reason=f"split_from:{ident}",
    )
    return new_id


def _updated(incidents: Incidents, incident: Incident, reason: str) -> None:
    incidents._ctx.emit(
        IncidentUpdated,
        entity="incident",
        id=incident.id,
        view=incidents.view(incident),
        reason=reason,
    )
