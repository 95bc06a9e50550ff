"""The warning layer: areas with onset and expiry, linked to incidents and districts.

A warning is one thread (``"wrn-" + sha1(thread)``). It is *pending* until its onset and
*active* until it expires; only active warnings are linked. A warning issued (or updated) when
its onset is not after the engine clock is active at once; a future onset becomes active when
the watermark passes it, and it expires when the watermark passes ``expires`` (``expires_at``,
or onset + ``warning_default_duration_min``), leaving the live picture.

Links: districts from the report's area codes (``Districts.for_codes``), else those the
geometry intersects; incidents whose centroid lies inside the warning area. The area is the
report geometry, else the union of the areas the codes name. Each version's area is prepared
once; incidents find the warnings covering them through a coarse grid of bounding boxes, so the
cost per incident does not grow with the number of warnings elsewhere.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator
from typing import Any, Final

import msgspec
import shapely
from shapely.geometry.base import BaseGeometry

from correlation.changes import WarningCancelled, WarningExpired, WarningIssued, WarningUpdated
from correlation.clock import EXPIRE, ONSET, rfc3339, to_us
from correlation.context import Context
from correlation.escalation import Board
from correlation.incidents import Incidents
from ingest.geometry import to_shapely
from ingest.report import Report

_CELL: Final = 0.1  # degrees; coarse cells of the coverage index
_MAX_CELLS: Final = 20_000  # bigger boxes go to the list checked for every incident


class WarningState(msgspec.Struct, kw_only=True):
    id: str
    thread: str
    source: str
    agency: str
    category: str
    severity: str
    headline: str | None
    description: str | None
    event: str | None
    sequence: int
    onset_us: int
    expires_us: int
    status: str  # "pending" | "active"
    geometry: dict[str, Any] | None
    districts: list[str]
    issued: str
    updated: str


def warning_id(thread: str) -> str:
    return "wrn-" + hashlib.sha1(thread.encode("utf-8"), usedforsecurity=False).hexdigest()[:12]


class Warnings:
    __slots__ = ("_areas", "_board", "_cells", "_ctx", "_global", "_incidents", "live")

    def __init__(self, ctx: Context, board: Board, incidents: Incidents) -> None:
        self._ctx = ctx
        self._board = board
        self._incidents = incidents
        self.live: dict[str, WarningState] = {}
        self._areas: dict[str, tuple[BaseGeometry, tuple[float, float, float, float]]] = {}
        self._cells: dict[tuple[int, int], list[str]] = {}  # active warnings by bbox cell
        self._global: list[str] = []
        incidents.covering = self.covering

    # -- reports --------------------------------------------------------------------------------

    def apply(self, thread: str, report: Report) -> None:
        ident = warning_id(thread)
        warning = self.live.get(ident)
        if report.msg_type == "cancel":
            if warning is not None:
                self._withdraw(warning)
                self._ctx.emit(
                    WarningCancelled, entity="warning", id=ident, view=None, thread=thread
                )
                self._link_incidents(ident, None)
            return
        new = self._build(ident, thread, report, warning)
        if warning is not None and warning.status == "active":
            self._unindex(warning)
        self.live[ident] = new
        self._areas.pop(ident, None)
        self._prepare(new)
        self._schedule(new, warning)
        view = self.view(new)
        if warning is None:
            self._ctx.emit(WarningIssued, entity="warning", id=ident, view=view, thread=thread)
        else:
            self._ctx.emit(
                WarningUpdated,
                entity="warning",
                id=ident,
                view=view,
                reason="updated",
                thread=thread,
            )
        self._relink(new)

    def remove_thread(self, thread: str) -> None:
        """The thread left the warning layer (rerouted): the warning is cancelled."""
        ident = warning_id(thread)
        warning = self.live.get(ident)
        if warning is not None:
            self._withdraw(warning)
            self._ctx.emit(WarningCancelled, entity="warning", id=ident, view=None, thread=thread)
            self._link_incidents(ident, None)

    def _build(
        self, ident: str, thread: str, report: Report, old: WarningState | None
    ) -> WarningState:
        ctx = self._ctx
        onset_us = to_us(report.onset_at) if report.onset_at is not None else ctx.at_us
        if report.expires_at is not None:
            expires_us = to_us(report.expires_at)
        else:
            expires_us = onset_us + ctx.rules.warning_duration_us
        geometry: dict[str, Any] | None = None
        area: BaseGeometry | None = None
        if report.geometry is not None:
            geometry = msgspec.to_builtins(report.geometry)
        elif report.area_codes:
            area = ctx.districts.geometry_for_codes(report.area_codes)
            if area is not None:
                geometry = json.loads(shapely.to_geojson(area))
        if report.area_codes and (found := ctx.districts.for_codes(report.area_codes)):
            districts = list(found)
        elif report.geometry is not None:
            districts = list(ctx.districts.intersecting(to_shapely(report.geometry)))
        else:
            districts = []
        clock = ctx.clock_us if ctx.clock_us is not None else ctx.at_us
        return WarningState(
            id=ident,
            thread=thread,
            source=report.source,
            agency=report.agency or report.source,
            category=report.category,
            severity=report.severity,
            headline=report.headline,
            description=report.description,
            event=report.event,
            sequence=report.sequence,
            onset_us=onset_us,
            expires_us=expires_us,
            status="active" if onset_us <= clock else "pending",
            geometry=geometry,
            districts=districts,
            issued=old.issued if old is not None else rfc3339(ctx.at_us),
            updated=rfc3339(ctx.at_us),
        )

    def _schedule(self, new: WarningState, old: WarningState | None) -> None:
        timers = self._ctx.timers
        if new.status == "pending" and (
            old is None or old.onset_us != new.onset_us or old.status != "pending"
        ):
            timers.push(new.onset_us, new.id, ONSET)
        if old is None or old.expires_us != new.expires_us:
            timers.push(new.expires_us, new.id, EXPIRE)

    def fire(self, due_us: int, ident: str, kind: int) -> None:
        warning = self.live.get(ident)
        if warning is None:
            return
        if kind == ONSET and warning.status == "pending" and warning.onset_us == due_us:
            warning.status = "active"
            self._ctx.emit(
                WarningUpdated, entity="warning", id=ident, view=self.view(warning), reason="onset"
            )
            self._relink(warning)
        elif kind == EXPIRE and warning.expires_us == due_us:
            self._withdraw(warning)
            self._ctx.emit(WarningExpired, entity="warning", id=ident, view=None)
            self._link_incidents(ident, None)

    def _withdraw(self, warning: WarningState) -> None:
        """The warning leaves the picture: out of the index, the live map and the districts;
        the caller emits its change and then unlinks incidents (so that comes after it)."""
        if warning.status == "active":
            self._unindex(warning)
        self._board.warning(warning.id, (), None)
        del self.live[warning.id]
        self._areas.pop(warning.id, None)

    # -- geometry and links ---------------------------------------------------------------------

    def _prepare(self, warning: WarningState) -> None:
        if warning.geometry is None:
            return
        area = shapely.from_geojson(json.dumps(warning.geometry))
        shapely.prepare(area)
        bounds = area.bounds
        self._areas[warning.id] = (area, (bounds[0], bounds[1], bounds[2], bounds[3]))

    def _box_cells(self, ident: str) -> Iterator[tuple[int, int]] | None:
        found = self._areas.get(ident)
        if found is None:
            return None
        minx, miny, maxx, maxy = found[1]
        x0, x1 = math.floor(minx / _CELL), math.floor(maxx / _CELL)
        y0, y1 = math.floor(miny / _CELL), math.floor(maxy / _CELL)
        if (x1 - x0 + 1) * (y1 - y0 + 1) > _MAX_CELLS:
            return iter(())
        return ((x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1))

    def _index(self, warning: WarningState) -> None:
        cells = self._box_cells(warning.id)
        if cells is None:
            return
        placed = False
        for cell in cells:
            self._cells.setdefault(cell, []).append(warning.id)
            placed = True
        if not placed:
            self._global.append(warning.id)

    def _unindex(self, warning: WarningState) -> None:
        if warning.id in self._global:
            self._global.remove(warning.id)
        cells = self._box_cells(warning.id)
        for cell in cells or ():
            ids = self._cells.get(cell)
            if ids is not None and warning.id in ids:
                ids.remove(warning.id)
                if not ids:
                    del self._cells[cell]

    def covering(self, lon: float, lat: float) -> list[str]:
        """Ids of the active warnings whose area contains the point, sorted."""
        candidates = self._cells.get((math.floor(lon / _CELL), math.floor(lat / _CELL)))
        if not candidates and not self._global:
            return []
        found = []
        for ident in (*(candidates or ()), *self._global):
            area, (minx, miny, maxx, maxy) = self._areas[ident]
            if minx <= lon <= maxx and miny <= lat <= maxy and shapely.contains_xy(area, lon, lat):
                found.append(ident)
        return sorted(set(found))

    def _relink(self, warning: WarningState) -> None:
        """Bring district and incident links in line with the warning's current version."""
        active = warning.status == "active"
        if active:
            self._index(warning)
        self._board.warning(
            warning.id, tuple(warning.districts), warning.severity if active else None
        )
        area = self._areas.get(warning.id) if active else None
        self._link_incidents(warning.id, area)

    def _link_incidents(
        self, ident: str, area: tuple[BaseGeometry, tuple[float, float, float, float]] | None
    ) -> None:
        incidents = self._incidents
        changed: list[tuple[str, list[str], str]] = []
        for incident in incidents.live.values():
            lon, lat = incident.lon, incident.lat
            inside = False
            if area is not None and lon is not None and lat is not None:
                minx, miny, maxx, maxy = area[1]
                inside = (
                    minx <= lon <= maxx
                    and miny <= lat <= maxy
                    and bool(shapely.contains_xy(area[0], lon, lat))
                )
            listed = ident in incident.warnings
            if inside and not listed:
                changed.append((incident.id, sorted([*incident.warnings, ident]), "warning_linked"))
            elif listed and not inside:
                rest = [w for w in incident.warnings if w != ident]
                changed.append((incident.id, rest, "warning_unlinked"))
        for incident_id, warnings, reason in sorted(changed):
            incidents.set_warnings(incident_id, warnings, reason)

    def view(self, warning: WarningState) -> dict[str, Any]:
        return {
            "id": warning.id,
            "status": warning.status,
            "category": warning.category,
            "severity": warning.severity,
            "headline": warning.headline,
            "description": warning.description,
            "event": warning.event,
            "source": warning.source,
            "agency": warning.agency,
            "onset": rfc3339(warning.onset_us),
            "expires": rfc3339(warning.expires_us),
            "issued": warning.issued,
            "updated": warning.updated,
            "districts": warning.districts,
            "threads": [warning.thread],
            "geometry": warning.geometry,
        }

    def views(self) -> Iterator[dict[str, Any]]:
        for warning in self.live.values():
            yield self.view(warning)

    # -- restore --------------------------------------------------------------------------------

    def restore(self, warnings: list[WarningState]) -> None:
        for warning in warnings:
            self.live[warning.id] = warning
            self._prepare(warning)
            if warning.status == "pending":
                self._ctx.timers.push(warning.onset_us, warning.id, ONSET)
            else:
                self._index(warning)
                self._board.warning(warning.id, tuple(warning.districts), warning.severity)
            self._ctx.timers.push(warning.expires_us, warning.id, EXPIRE)
