"""District status: open incidents by severity, active warnings, capacity, escalation level.

Incidents count while they are *open* (a resolved incident no longer needs resources; it shows
on the map until it closes, but not in the district's figures). Each incident and warning
contributes to the board through one call; contributions are kept per entity so that a change
subtracts the old one and adds the new one (O(1) per change, whatever the number of incidents).
Districts touched during a step are re-evaluated once at its end (:meth:`Board.flush`), in AGS
order, and emit a change only when their view actually differs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from correlation.changes import DistrictLevelChanged, DistrictUpdated
from correlation.context import Context
from correlation.rules import OPS, EscalationRule
from ingest.report import SEVERITIES

SEVERITY_INDEX: Final[Mapping[str, int]] = {s: i for i, s in enumerate(SEVERITIES)}
assert SEVERITIES == ("extreme", "severe", "moderate", "minor", "unknown")  # _view relies on it
_COUNT_KEYS: Final = tuple(f"incidents_{s}" for s in SEVERITIES)
_WARNING_KEYS: Final = tuple(f"warnings_{s}" for s in SEVERITIES)


class _District:
    __slots__ = (
        "ags", "beds", "counts", "icu", "level", "metrics", "name", "view", "warnings", "wcounts",
    )  # fmt: skip

    def __init__(self, ags: str, name: str) -> None:
        self.ags = ags
        self.name = name
        self.counts = [0] * len(SEVERITIES)
        self.metrics: dict[str, int] = {}
        self.warnings: dict[str, str] = {}  # active warning id -> severity
        self.wcounts = [0] * len(SEVERITIES)  # active warnings by severity
        self.icu: int | None = None
        self.beds: int | None = None
        self.level = 0
        self.view: dict[str, Any] = {}


_BASE: Final = (
    *_COUNT_KEYS, "incidents_open", *_WARNING_KEYS, "warnings_active", "casualties",
    "icu_beds_free", "beds_free",
)  # fmt: skip


class Evaluator:
    """The escalation rules compiled for one district at a time: the values the rules mention
    go into a flat list once, then each rule is a few indexed comparisons, highest level first
    (the first rule that holds decides, so the reason is that of the first matching rule of the
    highest level in file order)."""

    __slots__ = ("_extra", "_rules")

    def __init__(self, rules: tuple[EscalationRule, ...]) -> None:
        names = {c.metric for r in rules for c in r.conditions} - set(_BASE)
        self._extra = tuple(sorted(n.removeprefix("metrics.") for n in names))
        index = {name: i for i, name in enumerate((*_BASE, *sorted(names)))}
        ordered = sorted(enumerate(rules), key=lambda p: (-p[1].level, p[0]))
        self._rules = tuple(
            (
                rule.level,
                tuple((index[c.metric], OPS[c.op], c.value, c.metric) for c in rule.conditions),
                rule.text,
            )
            for _, rule in ordered
        )

    def __call__(self, district: _District) -> tuple[int, str]:
        counts, wcounts, sums = district.counts, district.wcounts, district.metrics
        values: list[int | None] = [
            *counts, sum(counts), *wcounts, sum(wcounts),
            sums.get("dead", 0) + sums.get("injured", 0), district.icu, district.beds,
        ]  # fmt: skip
        for name in self._extra:
            values.append(sums.get(name, 0))
        for level, conditions, text in self._rules:
            for index, op, value, _ in conditions:
                actual = values[index]
                if actual is None or not op(actual, value):
                    break
            else:
                shown = ", ".join(f"{name} = {values[i]}" for i, _, _, name in conditions)
                return level, f"{text} ({shown})"
        return 0, ""


class Board:
    __slots__ = ("_ctx", "_dirty", "_districts", "_evaluate", "_incidents", "_warnings")

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._evaluate = Evaluator(ctx.rules.escalation)
        self._districts = {d.ags: _District(d.ags, d.name) for d in ctx.districts.all()}
        self._incidents: dict[str, tuple[str, int, dict[str, int]]] = {}
        self._warnings: dict[str, tuple[tuple[str, ...], str]] = {}
        self._dirty: dict[str, set[str]] = {}
        for district in self._districts.values():
            district.view = self._view(district)

    # -- contributions --------------------------------------------------------------------------

    def incident(self, ident: str, ags: str | None, severity: str, metrics: dict[str, int]) -> None:
        """The current contribution of an incident; ``ags`` None = counts nowhere (outside the
        state, not open, or gone)."""
        new = (ags, SEVERITY_INDEX[severity], metrics) if ags in self._districts else None
        old = self._incidents.get(ident)
        if old == new:
            return
        if old is not None:
            district = self._districts[old[0]]
            district.counts[old[1]] -= 1
            sums = district.metrics
            for name, value in old[2].items():
                if not value:
                    continue
                left = sums[name] - value
                if left:
                    sums[name] = left
                else:
                    del sums[name]
            self._touch(old[0], "incidents")
        if new is None:
            self._incidents.pop(ident, None)
            return
        self._incidents[ident] = new
        district = self._districts[new[0]]
        district.counts[new[1]] += 1
        sums = district.metrics
        for name, value in metrics.items():
            if value:
                sums[name] = sums.get(name, 0) + value
        self._touch(district.ags, "incidents")

    def warning(self, ident: str, districts: tuple[str, ...], severity: str | None) -> None:
        """An active warning's districts and severity; ``severity`` None = no longer active."""
        new = None
        if severity is not None:
            new = (tuple(a for a in districts if a in self._districts), severity)
        old = self._warnings.get(ident)
        if old == new:
            return
        if old is not None:
            for ags in old[0]:
                district = self._districts[ags]
                del district.warnings[ident]
                district.wcounts[SEVERITY_INDEX[old[1]]] -= 1
                self._touch(ags, "warnings")
        if new is None:
            self._warnings.pop(ident, None)
            return
        self._warnings[ident] = new
        for ags in new[0]:
            district = self._districts[ags]
            district.warnings[ident] = new[1]
            district.wcounts[SEVERITY_INDEX[new[1]]] += 1
            self._touch(ags, "warnings")

    def capacity(self, ags: str, icu: int | None, beds: int | None) -> None:
        district = self._districts.get(ags)
        if district is not None and (district.icu, district.beds) != (icu, beds):
            district.icu, district.beds = icu, beds
            self._touch(ags, "capacity")

    def _touch(self, ags: str, why: str) -> None:
        reasons = self._dirty.get(ags)
        if reasons is None:
            self._dirty[ags] = {why}
        else:
            reasons.add(why)

    # -- evaluation -----------------------------------------------------------------------------

    def flush(self, *, emit: bool = True) -> None:
        """Re-evaluate the districts touched since the last flush; emit their changes."""
        if not self._dirty:
            return
        dirty, self._dirty = self._dirty, {}
        ctx = self._ctx
        for ags in sorted(dirty):
            district = self._districts[ags]
            old_level = district.level
            view = self._view(district)
            if view == district.view:
                continue
            district.view = view
            if not emit:
                continue
            if district.level != old_level:
                ctx.emit(
                    DistrictLevelChanged,
                    entity="district",
                    id=ags,
                    view=view,
                    old_level=old_level,
                    new_level=district.level,
                    reason=view["level_reason"] or "no rule holds",
                )
            else:
                reason = "+".join(sorted(dirty[ags]))
                ctx.emit(DistrictUpdated, entity="district", id=ags, view=view, reason=reason)

    def _view(self, district: _District) -> dict[str, Any]:
        district.level, reason = self._evaluate(district)
        counts = district.counts
        return {
            "ags": district.ags,
            "name": district.name,
            "level": district.level,
            "level_reason": reason,
            "open_incidents": {
                "extreme": counts[0],
                "severe": counts[1],
                "moderate": counts[2],
                "minor": counts[3],
                "unknown": counts[4],
            },
            "warnings": sorted(district.warnings),
            "icu_beds_free": district.icu,
            "beds_free": district.beds,
            "metrics": dict(sorted(district.metrics.items())),
        }

    def views(self) -> list[dict[str, Any]]:
        return [self._districts[ags].view for ags in sorted(self._districts)]
