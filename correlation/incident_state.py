"""The state of the incident layer: incidents, the threads linked into them, and their views.

These structs are what a snapshot stores (engine.py encodes them with msgspec) and what views
are built from; the layer that changes them is incidents.py.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

from correlation.clock import rfc3339


# gc=False on the structs here: plain data without cycles, untracked by the cyclic collector
# (whose full collections would otherwise walk every live incident, again and again).
class Obs(msgspec.Struct, gc=False):
    """One report as the incident layer needs it (built once per report; never stored)."""

    thread: str
    key: str  # "source:source_id:sequence" of the report: seeds the id of an incident it opens
    source: str
    agency: str
    family: str
    category: str
    severity: str
    rank: int
    lon: float | None
    lat: float | None
    t_us: int
    t_str: str
    sequence: int
    metrics: dict[str, int]
    headline: str | None
    cancel: bool


class Link(msgspec.Struct, kw_only=True, gc=False):
    """A thread inside an incident: its latest version and why it was linked."""

    thread: str
    source: str
    agency: str
    family: str
    category: str
    severity: str
    rank: int
    lon: float | None
    lat: float | None
    seen_us: int
    seen: str
    sequence: int
    metrics: dict[str, int]
    headline: str | None
    order: int  # 0 for the opening thread, then in joining order
    linked_at: str
    distance_m: float
    time_gap_s: int
    reason: str
    pinned: bool = False  # put here by an operator (merge): updates never move it out

    def view(self) -> dict[str, Any]:
        return {
            "thread": self.thread,
            "source": self.source,
            "agency": self.agency,
            "category": self.category,
            "severity": self.severity,
            "linked_at": self.linked_at,
            "distance_m": self.distance_m,
            "time_gap_s": self.time_gap_s,
            "reason": self.reason,
        }

    def update(self, obs: Obs) -> None:
        self.source = obs.source
        self.agency = obs.agency
        self.family = obs.family
        self.category = obs.category
        self.severity = obs.severity
        self.rank = obs.rank
        self.lon = obs.lon
        self.lat = obs.lat
        self.seen_us = obs.t_us
        self.seen = obs.t_str
        self.sequence = obs.sequence
        self.metrics = obs.metrics
        self.headline = obs.headline


class Incident(msgspec.Struct, kw_only=True, gc=False):
    id: str
    status: str  # "open" | "resolved"
    links: dict[str, Link]
    families: dict[str, int]  # family -> number of live threads of it
    first_us: int
    first: str
    last_us: int
    last: str
    active_us: int  # last activity: latest report, or an operator's reopen
    due_us: int  # resolve deadline while open, close deadline while resolved
    resolved_us: int | None = None
    next_order: int = 1
    # derived from the links by _settle (kept so views and the board need not recompute)
    lon: float | None = None
    lat: float | None = None
    district: str | None = None
    warnings: list[str] = []
    severity: str = "unknown"
    category: str = ""
    title: str = ""
    metrics: dict[str, int] = {}
    cells: list[tuple[str, int]] = []  # (group, grid key) where it is indexed
    # operator annotations (correlation/overrides.py); in the view only once set
    acknowledged: tuple[str, str] | None = None  # (at, by)
    notes: list[tuple[str, str, str]] = []  # (at, by, text)


def incident_id(key: str) -> str:
    return "inc-" + hashlib.sha1(key.encode("utf-8"), usedforsecurity=False).hexdigest()[:12]


def new_link(obs: Obs, order: int, d: float, gap: int, reason: str) -> Link:
    """The link of a thread that opened (order 0) or joined an incident."""
    return Link(
        thread=obs.thread,
        source=obs.source,
        agency=obs.agency,
        family=obs.family,
        category=obs.category,
        severity=obs.severity,
        rank=obs.rank,
        lon=obs.lon,
        lat=obs.lat,
        seen_us=obs.t_us,
        seen=obs.t_str,
        sequence=obs.sequence,
        metrics=obs.metrics,
        headline=obs.headline,
        order=order,
        linked_at=obs.t_str,
        distance_m=d,
        time_gap_s=gap,
        reason=reason,
    )


def incident_view(incident: Incident, cache: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The contract-3 view; ``cache`` keeps each thread's link view (thread -> view) until its
    link changes."""
    links = incident.links
    if len(links) == 1:  # most incidents: no sorting
        for thread, link in links.items():
            threads = [thread]
            agencies = [link.agency]
            view = cache.get(thread)
            if view is None:
                view = cache[thread] = link.view()
            link_views = [view]
        families = list(incident.families)
    else:
        threads = sorted(links)
        agencies = sorted({link.agency for link in links.values()})
        link_views = []
        for thread in threads:
            view = cache.get(thread)
            if view is None:
                view = cache[thread] = links[thread].view()
            link_views.append(view)
        families = sorted(incident.families)
    resolved = incident.resolved_us
    view = {
        "id": incident.id,
        "status": incident.status,
        "category": incident.category,
        "severity": incident.severity,
        "title": incident.title,
        "centroid": None if incident.lon is None else [incident.lon, incident.lat],
        "district": incident.district,
        "first_seen": incident.first,
        "last_seen": incident.last,
        "resolved_at": None if resolved is None else rfc3339(resolved),
        "agencies": agencies,
        "families": families,
        "metrics": incident.metrics,
        "warnings": incident.warnings,
        "threads": threads,
        "links": link_views,
    }
    if incident.acknowledged is not None:
        view["acknowledged"] = {"at": incident.acknowledged[0], "by": incident.acknowledged[1]}
    if incident.notes:
        view["notes"] = [{"at": at, "by": by, "text": text} for at, by, text in incident.notes]
    return view
