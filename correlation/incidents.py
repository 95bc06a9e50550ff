"""The incident layer: reports clustered into incidents, their threads and their lifecycle.

Where a report goes is decided in clustering.py; the state it changes is in incident_state.py.
This layer applies the decision, keeps the indexes (threads, grid cells, timers) and the board
in step, and emits the changes.

Views are rebuilt from plain fields for every change; their cost grows with the threads of that
one incident, never with the number of incidents.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from correlation.changes import (
    IncidentCancelled,
    IncidentClosed,
    IncidentOpened,
    IncidentReopened,
    IncidentResolved,
    IncidentUpdated,
)
from correlation.clock import CLOSE, RESOLVE
from correlation.clustering import nearest, stays
from correlation.context import Context
from correlation.errors import UnknownIncident
from correlation.escalation import Board
from correlation.incident_state import Incident, Link, Obs, incident_id, incident_view, new_link
from correlation.spatial import Grid


class Incidents:
    __slots__ = (
        "_armed", "_board", "_ctx", "_grids", "_group", "_link_views", "_pairs", "_quiet",
        "_scans", "by_thread", "covering", "live",
    )  # fmt: skip

    def __init__(self, ctx: Context, board: Board) -> None:
        self._ctx = ctx
        self._board = board
        rules = ctx.rules
        self._grids = {g.name: Grid(rules.cell_m[g.name]) for g in rules.groups}
        self._group = {f: g.name for f, g in rules.group_of.items()}
        self._quiet = rules.quiet_us
        # per report family: the grids to search with their radius, and the pair rules
        self._scans = {
            f: tuple((self._grids[name], radius) for name, radius in plan)
            for f, plan in rules.scans.items()
        }
        self._pairs = {
            f: {b: pair for (a, b), pair in rules.pairs.items() if a == f} for f in rules.group_of
        }
        self.live: dict[str, Incident] = {}
        self.by_thread: dict[str, str] = {}
        # thread -> view of its link, built once per link version (not part of the state)
        self._link_views: dict[str, dict[str, Any]] = {}
        # incident -> (due, kind) of its one authoritative timer entry (see _arm)
        self._armed: dict[str, tuple[int, int]] = {}
        # set by the engine: ids of the active warnings whose area contains a point, sorted
        self.covering: Callable[[float, float], list[str]] = lambda lon, lat: []

    # -- reports --------------------------------------------------------------------------------

    def apply(self, obs: Obs) -> None:
        ident = self.by_thread.get(obs.thread)
        incident = self.live.get(ident) if ident is not None else None
        if obs.cancel:
            if incident is not None:
                self.remove(incident, obs.thread, "thread_cancelled")
            return
        if incident is not None:
            rules = self._ctx.rules
            if stays(incident, obs, rules.pairs, rules.move_out_factor):
                self._replace(incident, obs)
                return
            self.remove(incident, obs.thread, "thread_moved_out")
        found = None
        if obs.lon is not None:
            family = obs.family
            found = nearest(obs, self.live, self._scans[family], self._pairs[family])
        if found is None:
            self._open(obs)
        else:
            self._join(*found, obs)

    def remove_thread(self, thread: str, reason: str) -> None:
        ident = self.by_thread.get(thread)
        incident = self.live.get(ident) if ident is not None else None
        if incident is not None:
            self.remove(incident, thread, reason)

    def _open(self, obs: Obs) -> None:
        ident = incident_id(obs.key)
        salt = 1
        while ident in self.live:  # never for distinct report keys; kept deterministic anyway
            ident = incident_id(f"{obs.key}#{salt}")
            salt += 1
        link = new_link(obs, 0, 0.0, 0, "opened")
        incident = Incident(
            id=ident,
            status="open",
            links={obs.thread: link},
            families={obs.family: 1},
            first_us=obs.t_us,
            first=obs.t_str,
            last_us=obs.t_us,
            last=obs.t_str,
            active_us=obs.t_us,
            due_us=-1,
        )
        self.live[ident] = incident
        self.by_thread[obs.thread] = ident
        self._settle(incident, moved=True)
        ctx = self._ctx  # hot path: the change is built here, not through ctx.emit(**fields)
        ctx.seq += 1
        ctx.out.append(
            IncidentOpened(
                seq=ctx.seq,
                at=ctx.at,
                late=ctx.late,
                entity="incident",
                id=ident,
                view=self.view(incident),
                thread=obs.thread,
            )
        )

    def _join(self, incident: Incident, d: float, reach: float, window: int, obs: Obs) -> None:
        gap = abs(obs.t_us - incident.last_us) // 1_000_000
        with_ = "+".join(
            sorted(f for f in incident.families if (obs.family, f) in self._ctx.rules.pairs)
        )
        reason = (
            f"{obs.family} joins {with_}: {d:.0f} m <= {reach:.0f} m, "
            f"{gap} s <= {window // 1_000_000} s"
        )
        incident.links[obs.thread] = new_link(obs, incident.next_order, round(d, 1), gap, reason)
        incident.next_order += 1
        incident.families[obs.family] = incident.families.get(obs.family, 0) + 1
        self.by_thread[obs.thread] = incident.id
        self._activity(incident, obs, "thread_linked")

    def _replace(self, incident: Incident, obs: Obs) -> None:
        link = incident.links[obs.thread]
        if link.family != obs.family:
            self._uncount(incident, link.family)
            incident.families[obs.family] = incident.families.get(obs.family, 0) + 1
        link.update(obs)
        self._link_views.pop(obs.thread, None)
        self._activity(incident, obs, "thread_updated")

    def _activity(self, incident: Incident, obs: Obs, reason: str) -> None:
        if obs.t_us > incident.last_us:
            incident.last_us, incident.last = obs.t_us, obs.t_str
        if obs.t_us < incident.first_us:
            incident.first_us, incident.first = obs.t_us, obs.t_str
        incident.active_us = max(incident.active_us, obs.t_us)
        reopened = incident.status == "resolved"
        if reopened:
            incident.status, incident.resolved_us = "open", None
            incident.due_us = -1  # a fresh resolve deadline even if it equals the close one
        self._settle(incident, moved=True)
        view = self.view(incident)
        ctx = self._ctx
        ctx.seq += 1
        kind = IncidentReopened if reopened else IncidentUpdated
        ctx.out.append(
            kind(
                seq=ctx.seq,
                at=ctx.at,
                late=ctx.late,
                entity="incident",
                id=incident.id,
                view=view,
                reason="activity" if reopened else reason,
                thread=obs.thread,
            )
        )

    def _uncount(self, incident: Incident, family: str) -> None:
        left = incident.families[family] - 1
        if left:
            incident.families[family] = left
        else:
            del incident.families[family]

    def remove(self, incident: Incident, thread: str, reason: str) -> None:
        link = incident.links.pop(thread)
        self._link_views.pop(thread, None)
        self._uncount(incident, link.family)
        if self.by_thread.get(thread) == incident.id:
            del self.by_thread[thread]
        if not incident.links:
            self._drop(incident)
            self._ctx.emit(
                IncidentCancelled, entity="incident", id=incident.id, view=None, thread=thread
            )
            return
        self._settle(incident, moved=True)
        self._ctx.emit(
            IncidentUpdated,
            entity="incident",
            id=incident.id,
            view=self.view(incident),
            reason=reason,
            thread=thread,
        )

    def _drop(self, incident: Incident) -> None:
        del self.live[incident.id]
        self._armed.pop(incident.id, None)  # its heap entry, when it pops, finds no match
        for group, key in incident.cells:
            self._grids[group].remove(key, incident.id)
        for thread in incident.links:
            self._link_views.pop(thread, None)
            if self.by_thread.get(thread) == incident.id:
                del self.by_thread[thread]
        self._board.incident(incident.id, None, "unknown", {})

    # -- derived state --------------------------------------------------------------------------

    def _settle(self, incident: Incident, *, moved: bool) -> None:
        """Recompute everything derived from the links; index, timers and board follow."""
        links = incident.links
        lon: float | None
        lat: float | None
        lead: Link | None = None
        if len(links) == 1:  # most incidents: no sums, no search for the lead
            (lead,) = links.values()
            metrics = lead.metrics
            lon, lat = lead.lon, lead.lat
            if lon is not None and lat is not None:
                lon, lat = round(lon, 6), round(lat, 6)
        else:
            metrics = {}
            sum_lon = sum_lat = 0.0
            located = 0
            for link in links.values():
                if lead is None or (link.rank, -link.order) > (lead.rank, -lead.order):
                    lead = link
                for name, value in link.metrics.items():
                    metrics[name] = metrics.get(name, 0) + value
                if link.lon is not None and link.lat is not None:
                    sum_lon += link.lon
                    sum_lat += link.lat
                    located += 1
            lon = round(sum_lon / located, 6) if located else None
            lat = round(sum_lat / located, 6) if located else None
            metrics = dict(sorted(metrics.items()))
        assert lead is not None
        incident.severity = lead.severity
        incident.category = lead.category
        incident.title = lead.headline or lead.category
        incident.metrics = metrics  # never mutated in place: views and the board share it
        if moved:
            if lon != incident.lon or lat != incident.lat:
                incident.lon, incident.lat = lon, lat
                if lon is None or lat is None:
                    incident.district, incident.warnings = None, []
                else:
                    incident.district = self._ctx.districts.at(lon, lat)
                    incident.warnings = self.covering(lon, lat)
                self._index(incident)
            elif lon is not None:
                # Same place: the cells change only if the groups of its families did.
                cells, families = incident.cells, incident.families
                if len(cells) != 1 or len(families) != 1:
                    self._index(incident)
                else:
                    for family in families:
                        if cells[0][0] != self._group[family]:
                            self._index(incident)
        if incident.status == "open":
            families = incident.families
            if len(families) == 1:
                for family in families:
                    quiet = self._quiet[family]
            else:
                quiet = max(self._quiet[f] for f in families)
            due = incident.active_us + quiet
            if due != incident.due_us:
                incident.due_us = due
                armed = self._armed.get(incident.id)
                if armed is None or (due, RESOLVE) < armed:
                    self._arm(incident.id, due, RESOLVE)
            self._board.incident(incident.id, incident.district, incident.severity, metrics)
        else:
            self._board.incident(incident.id, None, "unknown", {})

    def _index(self, incident: Incident) -> None:
        """Register the incident in the grid of each group of its families, at its centroid."""
        lon, lat = incident.lon, incident.lat
        cells: list[tuple[str, int]] = []  # (group, grid key) where it is indexed
        if lon is not None and lat is not None:
            families = incident.families
            if len(families) == 1:
                for family in families:
                    names: list[str] | tuple[str] = (self._group[family],)
            else:
                names = sorted({self._group[f] for f in families})
            grids = self._grids
            for name in names:
                cells.append((name, grids[name].key(lon, lat)))
        if cells != incident.cells:
            for group, key in incident.cells:
                self._grids[group].remove(key, incident.id)
            for group, key in cells:
                self._grids[group].add(key, incident.id)
            incident.cells = cells

    def view(self, incident: Incident) -> dict[str, Any]:
        return incident_view(incident, self._link_views)

    def views(self) -> Iterator[dict[str, Any]]:
        for incident in self.live.values():
            yield self.view(incident)

    # -- lifecycle ------------------------------------------------------------------------------

    def _arm(self, ident: str, due_us: int, kind: int) -> None:
        """Push the incident's timer entry. A deadline that moves later (every report of an
        active incident) pushes nothing: the earlier entry, when it pops, re-arms at the
        current deadline (:meth:`fire`), which is still in the heap before its time comes, so
        timers fire exactly as if every deadline had its own entry."""
        self._armed[ident] = (due_us, kind)
        self._ctx.timers.push(due_us, ident, kind)

    def fire(self, due_us: int, ident: str, kind: int) -> None:
        """A timer popped; act only if it is still the incident's current deadline."""
        if self._armed.get(ident) != (due_us, kind):
            return  # superseded by an earlier entry pushed since
        incident = self.live[ident]  # armed only while live (see _drop)
        current = RESOLVE if incident.status == "open" else CLOSE
        if (incident.due_us, current) != (due_us, kind):
            if incident.due_us != -1:
                self._arm(ident, incident.due_us, current)
            else:
                del self._armed[ident]
            return
        del self._armed[ident]
        if kind == RESOLVE and incident.status == "open":
            self._resolve(incident, due_us, "quiet")
        elif kind == CLOSE and incident.status == "resolved":
            self._drop(incident)
            ctx = self._ctx  # as frequent as reports: built here, not through ctx.emit(**fields)
            ctx.seq += 1
            ctx.out.append(
                IncidentClosed(
                    seq=ctx.seq, at=ctx.at, late=ctx.late, entity="incident", id=ident, view=None
                )
            )

    def _resolve(self, incident: Incident, at_us: int, reason: str) -> None:
        incident.status = "resolved"
        incident.resolved_us = at_us
        incident.due_us = due = at_us + self._ctx.rules.close_after_us
        armed = self._armed.get(incident.id)
        if armed is None or (due, CLOSE) < armed:
            self._arm(incident.id, due, CLOSE)
        self._board.incident(incident.id, None, "unknown", {})
        view = self.view(incident)
        ctx = self._ctx
        ctx.seq += 1
        ctx.out.append(
            IncidentResolved(
                seq=ctx.seq,
                at=ctx.at,
                late=ctx.late,
                entity="incident",
                id=incident.id,
                view=view,
                reason=reason,
            )
        )

    def resolve(self, ident: str, at_us: int) -> None:
        incident = self.live.get(ident)
        if incident is None:
            raise UnknownIncident(ident)
        if incident.status == "open":
            self._resolve(incident, at_us, "operator")

    def reopen(self, ident: str, at_us: int) -> None:
        incident = self.live.get(ident)
        if incident is None:
            raise UnknownIncident(ident)
        if incident.status == "resolved":
            incident.status, incident.resolved_us, incident.due_us = "open", None, -1
            incident.active_us = max(incident.active_us, at_us)
            self._settle(incident, moved=False)
            self._ctx.emit(
                IncidentReopened,
                entity="incident",
                id=ident,
                view=self.view(incident),
                reason="operator",
            )

    def set_warnings(self, ident: str, warnings: list[str], reason: str) -> None:
        incident = self.live[ident]
        if warnings != incident.warnings:
            incident.warnings = warnings
            self._ctx.emit(
                IncidentUpdated,
                entity="incident",
                id=ident,
                view=self.view(incident),
                reason=reason,
            )

    # -- restore --------------------------------------------------------------------------------

    def restore(self, incidents: list[Incident]) -> None:
        """Rebuild indexes, timers and board contributions from restored incidents."""
        for incident in incidents:
            self.live[incident.id] = incident
            for thread in incident.links:
                self.by_thread[thread] = incident.id
            for group, key in incident.cells:
                self._grids[group].add(key, incident.id)
            kind = RESOLVE if incident.status == "open" else CLOSE
            self._arm(incident.id, incident.due_us, kind)
            if incident.status == "open":
                self._board.incident(
                    incident.id, incident.district, incident.severity, incident.metrics
                )
