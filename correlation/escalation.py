"""District status: open incidents by severity, active warnings, capacity, escalation level.

Incidents count while they are *open* (a resolved incident no longer needs resources; it shows
on the map until it closes, but not in the district's figures). Each incident and warning
contributes to the board through one call; contributions are kept per entity so that a change
subtracts the old one and adds the new one (O(1) per change, whatever the number of incidents).
Districts touched during a step are re-evaluated once at its end (:meth:`Board.flush`), in AGS
order, and emit a change only when their view actually differs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from correlation.changes import DistrictLevelChanged, DistrictUpdated
from correlation.context import Context
from correlation.rules import EscalationRule
from ingest.report import SEVERITIES

SEVERITY_INDEX: Final[Mapping[str, int]] = {s: i for i, s in enumerate(SEVERITIES)}
assert SEVERITIES == ("extreme", "severe", "moderate", "minor", "unknown")  # _view relies on it
_COUNT_KEYS: Final = tuple(f"incidents_{s}" for s in SEVERITIES)
_WARNING_KEYS: Final = tuple(f"warnings_{s}" for s in SEVERITIES)


class _District:
    __slots__ = (
        "ags", "beds", "counts", "icu", "level", "metrics", "name", "shown_metrics",
        "shown_warnings", "view", "warnings", "wcounts",
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
        # the sorted forms of metrics and warnings in the view, shared by the views until they
        # change (views are read-only); None = to be rebuilt
        self.shown_metrics: dict[str, int] | None = None
        self.shown_warnings: list[str] | None = None


def _expression(metric: str) -> str:
    """Python source computing one metric from ``(counts, wcounts, sums, icu, beds)``."""
    if metric == "incidents_open":
        return "sum(counts)"
    if metric == "warnings_active":
        return "sum(wcounts)"
    if metric.startswith("incidents_"):
        return f"counts[{SEVERITIES.index(metric.removeprefix('incidents_'))}]"
    if metric.startswith("warnings_"):
        return f"wcounts[{SEVERITIES.index(metric.removeprefix('warnings_'))}]"
    if metric == "casualties":
        return "sums.get('dead', 0) + sums.get('injured', 0)"
    if metric in ("icu_beds_free", "beds_free"):
        return "icu" if metric == "icu_beds_free" else "beds"
    return f"sums.get({metric.removeprefix('metrics.')!r}, 0)"


class Evaluator:
    """The escalation rules compiled into one Python function, highest level first: the first
    rule that holds decides, so the reason is that of the first matching rule of the highest
    level in file order; the function also formats that reason ("text (metric = value, ...)").
    Compiling is safe because the rules are validated data (metric names from a fixed set or
    ``metrics.[a-z0-9_]``, operators from a fixed set, numbers; texts enter as ``repr``
    literals); it turns a district evaluation, done on every change of a district, into a few
    comparisons."""

    __slots__ = ("match",)

    def __init__(self, rules: tuple[EscalationRule, ...]) -> None:
        ordered = [rule for _, rule in sorted(enumerate(rules), key=lambda p: (-p[1].level, p[0]))]
        metrics = sorted({c.metric for rule in ordered for c in rule.conditions})
        names = {metric: f"v{i}" for i, metric in enumerate(metrics)}
        lines = ["def match(counts, wcounts, sums, icu, beds):"]
        lines += [f"    {names[m]} = {_expression(m)}" for m in metrics]
        for rule in ordered:
            tests = []
            for c in rule.conditions:
                test = f"{names[c.metric]} {c.op} {c.value!r}"
                if c.metric in ("icu_beds_free", "beds_free"):
                    test = f"({names[c.metric]} is not None and {test})"
                tests.append(test)
            parts = [repr(f"{rule.text} (")]
            for index, c in enumerate(rule.conditions):
                label = f"{', ' if index else ''}{c.metric} = "
                parts += [repr(label), f"str({names[c.metric]})"]
            parts.append("')'")
            reason = " + ".join(parts)
            lines.append(f"    if {' and '.join(tests)}: return {rule.level!r}, {reason}")
        lines.append("    return 0, ''")
        namespace: dict[str, Any] = {}
        exec(compile("\n".join(lines), "<escalation rules>", "exec"), namespace)  # see docstring
        self.match: Callable[
            [list[int], list[int], dict[str, int], int | None, int | None], tuple[int, str]
        ] = namespace["match"]


class Board:
    __slots__ = (
        "_ctx", "_dirty", "_districts", "_incidents", "_match", "_warnings", "declared",
    )  # fmt: skip

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._match = Evaluator(ctx.rules.escalation).match
        self._districts = {d.ags: _District(d.ags, d.name) for d in ctx.districts.all()}
        self._incidents: dict[str, tuple[str, int, dict[str, int]]] = {}
        self._warnings: dict[str, tuple[tuple[str, ...], str]] = {}
        self._dirty: dict[str, set[str]] = {}
        # levels declared by an operator: ags -> (level, reason); they override the rules
        self.declared: dict[str, tuple[int, str]] = {}
        for district in self._districts.values():
            district.view = self._view(district)

    # -- contributions --------------------------------------------------------------------------

    def incident(self, ident: str, ags: str | None, severity: str, metrics: dict[str, int]) -> None:
        """The current contribution of an incident; ``ags`` None = counts nowhere (outside the
        state, not open, or gone)."""
        districts = self._districts
        new = (ags, SEVERITY_INDEX[severity], metrics) if ags in districts else None
        old = self._incidents.get(ident)
        if old == new:
            return
        dirty = self._dirty
        if old is not None:
            district = districts[old[0]]
            district.counts[old[1]] -= 1
            if old[2]:
                district.shown_metrics = None
                sums = district.metrics
                for name, value in old[2].items():
                    if not value:
                        continue
                    left = sums[name] - value
                    if left:
                        sums[name] = left
                    else:
                        del sums[name]
            reasons = dirty.get(old[0])
            if reasons is None:
                dirty[old[0]] = {"incidents"}
            else:
                reasons.add("incidents")
        if new is None:
            self._incidents.pop(ident, None)
            return
        self._incidents[ident] = new
        district = districts[new[0]]
        district.counts[new[1]] += 1
        if metrics:
            district.shown_metrics = None
            sums = district.metrics
            for name, value in metrics.items():
                if value:
                    sums[name] = sums.get(name, 0) + value
        reasons = dirty.get(new[0])
        if reasons is None:
            dirty[new[0]] = {"incidents"}
        else:
            reasons.add("incidents")

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
                district.shown_warnings = None
                district.wcounts[SEVERITY_INDEX[old[1]]] -= 1
                self._touch(ags, "warnings")
        if new is None:
            self._warnings.pop(ident, None)
            return
        self._warnings[ident] = new
        for ags in new[0]:
            district = self._districts[ags]
            district.warnings[ident] = new[1]
            district.shown_warnings = None
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
        districts = self._districts
        for ags in sorted(dirty) if len(dirty) > 1 else dirty:
            district = districts[ags]
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
                reasons = dirty[ags]
                ctx.seq += 1
                ctx.out.append(
                    DistrictUpdated(
                        seq=ctx.seq,
                        at=ctx.at,
                        late=ctx.late,
                        entity="district",
                        id=ags,
                        view=view,
                        reason="+".join(sorted(reasons)) if len(reasons) > 1 else min(reasons),
                    )
                )

    def declare(self, ags: str, level: int | None, reason: str) -> None:
        """An operator's declaration of a district's level (None: back to the rules); the
        district is re-evaluated at the next flush."""
        if ags not in self._districts:
            raise KeyError(ags)
        if level is None:
            self.declared.pop(ags, None)
        else:
            self.declared[ags] = (level, reason)
        self._touch(ags, "declared")

    def _view(self, district: _District) -> dict[str, Any]:
        counts = district.counts
        sums = district.metrics
        level, reason = self._match(counts, district.wcounts, sums, district.icu, district.beds)
        declared = self.declared.get(district.ags) if self.declared else None
        if declared is not None:
            level, reason = declared
        district.level = level
        shown_metrics = district.shown_metrics
        if shown_metrics is None:
            shown_metrics = district.shown_metrics = dict(sorted(sums.items()))
        shown_warnings = district.shown_warnings
        if shown_warnings is None:
            shown_warnings = district.shown_warnings = sorted(district.warnings)
        return {
            "ags": district.ags,
            "name": district.name,
            "level": level,
            "level_reason": reason,
            "declared_level": None if declared is None else declared[0],
            "open_incidents": {
                "extreme": counts[0],
                "severe": counts[1],
                "moderate": counts[2],
                "minor": counts[3],
                "unknown": counts[4],
            },
            "warnings": shown_warnings,
            "icu_beds_free": district.icu,
            "beds_free": district.beds,
            "metrics": shown_metrics,
        }

    def views(self) -> list[dict[str, Any]]:
        return [self._districts[ags].view for ags in sorted(self._districts)]
