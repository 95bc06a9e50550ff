"""The capacity layer: free hospital beds per district, and per state for state-wide figures.

Scope of a report: each area code names the whole state when everything after the two state
digits is zero ("07", "070000000000"), else the one Kreis it lies in (AGS, ARS or DWD warn cell;
codes naming several Kreise, such as a Regierungsbezirk, are ignored); without usable codes,
the district containing a point or the districts a polygon intersects. District figures go
into the district status (``icu_beds_free``, ``beds_free``); state figures are entities of
their own (``entity="capacity"``, id = state code).

Value of a scope, per metric: that of the latest report (by ``observed_at``, ties by thread)
among the scope's live threads that carry the metric; a cancelled thread falls back to the
next latest. A thread that changes scope leaves the old one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec

from correlation.changes import CapacityUpdated
from correlation.context import Context
from correlation.escalation import Board
from ingest.geometry import to_shapely
from ingest.report import Point, Report

METRICS = ("icu_beds_free", "beds_free")


class Entry(msgspec.Struct, kw_only=True):
    thread: str
    scopes: list[str]
    t_us: int
    seen: str
    values: dict[str, int]


class Capacity:
    __slots__ = ("_board", "_ctx", "_scopes", "_states", "threads")

    def __init__(self, ctx: Context, board: Board) -> None:
        self._ctx = ctx
        self._board = board
        self.threads: dict[str, Entry] = {}
        self._scopes: dict[str, dict[str, None]] = {}  # scope -> threads in it
        self._states = {d.ags[:2] for d in ctx.districts.all()}

    def scopes_of(self, report: Report) -> list[str]:
        districts = self._ctx.districts
        found: set[str] = set()
        for code in report.area_codes:
            if code[:2] in self._states and code[2:].strip("0") == "":
                found.add(code[:2])
                continue
            kreise = districts.for_codes((code,))
            if len(kreise) == 1:  # a region spanning several districts has no district figure
                found.add(kreise[0])
        if not found and report.geometry is not None:
            if isinstance(report.geometry, Point):
                ags = districts.at(report.geometry.coordinates[0], report.geometry.coordinates[1])
                found.update((ags,) if ags else ())
            else:
                found.update(districts.intersecting(to_shapely(report.geometry)))
        return sorted(found)

    def apply(self, thread: str, report: Report, t_us: int, seen: str) -> None:
        old = self.threads.pop(thread, None)
        touched = set(old.scopes) if old is not None else set()
        if old is not None:
            for scope in old.scopes:
                members = self._scopes[scope]
                del members[thread]
                if not members:
                    del self._scopes[scope]
        if report.msg_type != "cancel":
            values = {m: report.metrics[m] for m in METRICS if m in report.metrics}
            entry = Entry(
                thread=thread, scopes=self.scopes_of(report), t_us=t_us, seen=seen, values=values
            )
            self.threads[thread] = entry
            for scope in entry.scopes:
                self._scopes.setdefault(scope, {})[thread] = None
            touched.update(entry.scopes)
        for scope in sorted(touched):
            self._publish(scope, thread)

    def remove_thread(self, thread: str) -> None:
        entry = self.threads.pop(thread, None)
        if entry is None:
            return
        for scope in entry.scopes:
            members = self._scopes[scope]
            del members[thread]
            if not members:
                del self._scopes[scope]
        for scope in entry.scopes:
            self._publish(scope, thread)

    def _publish(self, scope: str, thread: str) -> None:
        if len(scope) == 5:
            value = self.value(scope)
            self._board.capacity(scope, value["icu_beds_free"], value["beds_free"])
            return
        view = self.view(scope) if scope in self._scopes else None
        self._ctx.emit(CapacityUpdated, entity="capacity", id=scope, view=view, thread=thread)

    def value(self, scope: str) -> dict[str, Any]:
        members = self._scopes.get(scope, {})
        latest: dict[str, tuple[int, str, int]] = {}
        for thread in members:
            entry = self.threads[thread]
            for metric, number in entry.values.items():
                best = latest.get(metric)
                if best is None or (entry.t_us, thread) > best[:2]:
                    latest[metric] = (entry.t_us, thread, number)
        result: dict[str, Any] = {m: latest[m][2] if m in latest else None for m in METRICS}
        seen = [(self.threads[t].t_us, self.threads[t].seen) for t in members]
        result["updated_at"] = max(seen)[1] if seen else None
        return result

    def view(self, scope: str) -> dict[str, Any]:
        value = self.value(scope)
        return {
            "id": scope,
            "scope": "state",
            "icu_beds_free": value["icu_beds_free"],
            "beds_free": value["beds_free"],
            "updated_at": value["updated_at"],
            "threads": sorted(self._scopes.get(scope, ())),
        }

    def views(self) -> Iterator[dict[str, Any]]:
        for scope in sorted(self._scopes):
            if len(scope) != 5:
                yield self.view(scope)

    def restore(self, entries: list[Entry]) -> None:
        for entry in entries:
            self.threads[entry.thread] = entry
            for scope in entry.scopes:
                self._scopes.setdefault(scope, {})[entry.thread] = None
        for scope in sorted(self._scopes):
            if len(scope) == 5:
                value = self.value(scope)
                self._board.capacity(scope, value["icu_beds_free"], value["beds_free"])
