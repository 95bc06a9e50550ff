"""Correlation rules: the thresholds of contract 2 as data (``rules.toml``), validated.

:meth:`Rules.load` reads a TOML file and checks every key; anything wrong raises
:class:`RulesInvalid` naming the dotted key. The engine only reads the precomputed tables
(:attr:`Rules.pairs`, :attr:`Rules.quiet_us`, ...), so a lookup on the hot path is one dict get.
"""

from __future__ import annotations

import hashlib
import json
import operator
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Final

from correlation.errors import RulesInvalid
from ingest.report import FAMILIES, SEVERITIES, SOURCES

US_PER_MIN: Final = 60_000_000
FEED_FORMATS: Final = ("canonical", "cap", "nina", "geojson", "csv")
OPS: Final[Mapping[str, Callable[[float, float], bool]]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
}
_SIMPLE_METRICS: Final = (
    "incidents_open",
    *(f"incidents_{s}" for s in SEVERITIES),
    "warnings_active",
    *(f"warnings_{s}" for s in SEVERITIES),
    "casualties",
    "icu_beds_free",
    "beds_free",
)
_CONDITION = re.compile(r"^\s*([a-z][a-z0-9_.]*)\s*(>=|<=|==|>|<)\s*([0-9]+(?:\.[0-9]+)?)\s*$")


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    families: tuple[str, ...]
    radius_m: float
    window_us: int
    quiet_us: int
    joins: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Pair:
    """Radius and window under which a report of one family may join an incident of another."""

    radius_m: float
    window_us: int


@dataclass(frozen=True, slots=True)
class Condition:
    metric: str
    op: str
    value: float


@dataclass(frozen=True, slots=True)
class EscalationRule:
    level: int
    conditions: tuple[Condition, ...]
    text: str


@dataclass(frozen=True, slots=True)
class Rules:
    allowed_lateness_us: int
    close_after_us: int
    warning_duration_us: int
    warning_families: frozenset[str]
    warning_sources: frozenset[str]
    warning_formats: frozenset[str]
    capacity_families: frozenset[str]
    pair_rule: str
    move_out_factor: float
    groups: tuple[Group, ...]
    escalation: tuple[EscalationRule, ...]
    digest: str
    # derived lookup tables
    group_of: Mapping[str, Group] = field(default_factory=dict)
    pairs: Mapping[tuple[str, str], Pair] = field(default_factory=dict)
    quiet_us: Mapping[str, int] = field(default_factory=dict)
    cell_m: Mapping[str, float] = field(default_factory=dict)
    # report family -> ((group name, largest radius to any compatible family of that group), ...)
    scans: Mapping[str, tuple[tuple[str, float], ...]] = field(default_factory=dict)

    @classmethod
    def default(cls) -> Rules:
        return _default()

    @classmethod
    def load(cls, path: str | Path) -> Rules:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except UnicodeDecodeError as error:
            raise RulesInvalid("$", f"{path}: not UTF-8 text: {error}") from None
        return cls.from_toml(text)

    @classmethod
    def from_toml(cls, text: str) -> Rules:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise RulesInvalid("$", f"not valid TOML: {error}") from None
        return cls.from_mapping(data)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Rules:
        return _parse(data)


def _default() -> Rules:
    global _DEFAULT
    if _DEFAULT is None:
        text = resources.files("correlation").joinpath("rules.toml").read_text(encoding="utf-8")
        _DEFAULT = Rules.from_toml(text)
    return _DEFAULT


_DEFAULT: Rules | None = None


# -- validation -------------------------------------------------------------------------------


def _table(data: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise RulesInvalid(_join(where, key), "required table is missing")
    return value


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _known(data: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    for key in data:
        if key not in allowed:
            raise RulesInvalid(_join(where, key), f"unknown key (known: {', '.join(allowed)})")


def _number(data: Mapping[str, Any], key: str, where: str, *, allow_zero: bool = False) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RulesInvalid(_join(where, key), "required number is missing or not a number")
    if value < 0 or (value == 0 and not allow_zero) or value != value:
        bound = "negative" if allow_zero else "zero or negative"
        raise RulesInvalid(_join(where, key), f"must not be {bound}, got {value}")
    if value > 10**9:
        raise RulesInvalid(_join(where, key), f"implausibly large: {value}")
    return float(value)


def _names(data: Mapping[str, Any], key: str, where: str, allowed: tuple[str, ...]) -> list[str]:
    value = data.get(key)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RulesInvalid(_join(where, key), "required list of strings is missing")
    for item in value:
        if item not in allowed:
            raise RulesInvalid(_join(where, key), f"{item!r} is not one of {', '.join(allowed)}")
    return list(value)


def _minutes(data: Mapping[str, Any], key: str, where: str) -> int:
    return round(_number(data, key, where) * US_PER_MIN)


def _parse(data: Mapping[str, Any]) -> Rules:
    _known(data, ("version", "time", "routing", "clustering", "groups", "escalation"), "")
    if data.get("version") != 1:
        raise RulesInvalid("version", f"must be 1, got {data.get('version')!r}")

    time = _table(data, "time", "")
    _known(
        time,
        ("allowed_lateness_min", "close_after_resolved_min", "warning_default_duration_min"),
        "time",
    )
    routing = _table(data, "routing", "")
    _known(
        routing,
        ("warning_families", "warning_sources", "warning_formats", "capacity_families"),
        "routing",
    )
    warning_families = _names(routing, "warning_families", "routing", FAMILIES)
    capacity_families = _names(routing, "capacity_families", "routing", FAMILIES)
    for family in capacity_families:
        if family in warning_families:
            raise RulesInvalid("routing.capacity_families", f"{family!r} is also a warning family")

    clustering = _table(data, "clustering", "")
    _known(clustering, ("pair_rule", "move_out_factor"), "clustering")
    pair_rule = clustering.get("pair_rule")
    if pair_rule not in ("larger", "incident"):
        raise RulesInvalid(
            "clustering.pair_rule", f"must be 'larger' or 'incident', got {pair_rule!r}"
        )
    move_out = _number(clustering, "move_out_factor", "clustering")
    if move_out < 1:
        raise RulesInvalid("clustering.move_out_factor", f"must be at least 1, got {move_out:g}")

    routed = set(warning_families) | set(capacity_families)
    incident_families = tuple(f for f in FAMILIES if f not in routed)
    groups = _groups(_table(data, "groups", ""), incident_families)
    rules = Rules(
        allowed_lateness_us=round(
            _number(time, "allowed_lateness_min", "time", allow_zero=True) * US_PER_MIN
        ),
        close_after_us=_minutes(time, "close_after_resolved_min", "time"),
        warning_duration_us=_minutes(time, "warning_default_duration_min", "time"),
        warning_families=frozenset(warning_families),
        warning_sources=frozenset(_names(routing, "warning_sources", "routing", SOURCES)),
        warning_formats=frozenset(_names(routing, "warning_formats", "routing", FEED_FORMATS)),
        capacity_families=frozenset(capacity_families),
        pair_rule=pair_rule,
        move_out_factor=move_out,
        groups=groups,
        escalation=_escalation(data.get("escalation")),
        digest=hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16],
    )
    return _derive(rules)


def _groups(table: Mapping[str, Any], incident_families: tuple[str, ...]) -> tuple[Group, ...]:
    groups: list[Group] = []
    owner: dict[str, str] = {}
    for name in sorted(table):
        where = f"groups.{name}"
        spec = table[name]
        if not isinstance(spec, dict):
            raise RulesInvalid(where, "must be a table")
        _known(spec, ("families", "radius_m", "window_min", "quiet_min", "joins"), where)
        families = _names(spec, "families", where, incident_families)
        if not families:
            raise RulesInvalid(f"{where}.families", "must name at least one family")
        for family in families:
            if family in owner:
                raise RulesInvalid(
                    f"{where}.families", f"{family!r} is already in groups.{owner[family]}"
                )
            owner[family] = name
        groups.append(
            Group(
                name=name,
                families=tuple(families),
                radius_m=_number(spec, "radius_m", where),
                window_us=_minutes(spec, "window_min", where),
                quiet_us=_minutes(spec, "quiet_min", where),
                joins=tuple(_names(spec, "joins", where, incident_families)),
            )
        )
    for family in incident_families:
        if family not in owner:
            raise RulesInvalid("groups", f"family {family!r} belongs to no group")
    return tuple(groups)


def _escalation(value: Any) -> tuple[EscalationRule, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise RulesInvalid("escalation", "must be an array of tables ([[escalation]])")
    found: list[EscalationRule] = []
    for index, spec in enumerate(value):
        where = f"escalation[{index}]"
        if not isinstance(spec, dict):
            raise RulesInvalid(where, "must be a table")
        _known(spec, ("level", "when"), where)
        level = spec.get("level")
        if isinstance(level, bool) or level not in (1, 2, 3):
            raise RulesInvalid(f"{where}.level", f"must be 1, 2 or 3, got {level!r}")
        when = spec.get("when")
        if not isinstance(when, str) or not when.strip():
            raise RulesInvalid(f"{where}.when", "required condition text is missing")
        conditions = tuple(_condition(part, f"{where}.when") for part in when.split(" and "))
        found.append(EscalationRule(level, conditions, " ".join(when.split())))
    return tuple(found)


def _condition(text: str, where: str) -> Condition:
    match = _CONDITION.match(text)
    if not match:
        raise RulesInvalid(where, f"{text.strip()!r} is not 'METRIC OP NUMBER'")
    metric, op, number = match.groups()
    if metric not in _SIMPLE_METRICS and not re.fullmatch(r"metrics\.[a-z][a-z0-9_]{0,39}", metric):
        raise RulesInvalid(
            where, f"unknown metric {metric!r} (known: {', '.join(_SIMPLE_METRICS)}, metrics.NAME)"
        )
    return Condition(metric, op, float(number))


def _derive(rules: Rules) -> Rules:
    group_of = {f: g for g in rules.groups for f in g.families}

    def compatible(a: str, b: str) -> bool:
        return b in group_of[a].joins or a in group_of[b].joins

    pairs: dict[tuple[str, str], Pair] = {}
    for a in group_of:
        for b in group_of:
            if compatible(a, b):
                ga, gb = group_of[a], group_of[b]
                if rules.pair_rule == "incident":
                    pairs[(a, b)] = Pair(gb.radius_m, gb.window_us)
                else:
                    pairs[(a, b)] = Pair(
                        max(ga.radius_m, gb.radius_m), max(ga.window_us, gb.window_us)
                    )
    # Grid cell edge per group: the largest radius any report may search it with, so a search
    # never needs more than the 3x3 neighbouring cells (north-south; see spatial.py).
    cell_m = {
        g.name: max(p.radius_m for (_, b), p in pairs.items() if group_of[b] is g)
        for g in rules.groups
    }
    scans: dict[str, tuple[tuple[str, float], ...]] = {}
    for a in group_of:
        plan = []
        for g in rules.groups:
            radii = [pairs[(a, b)].radius_m for b in g.families if (a, b) in pairs]
            if radii:
                plan.append((g.name, max(radii)))
        scans[a] = tuple(plan)
    object.__setattr__(rules, "group_of", group_of)
    object.__setattr__(rules, "pairs", pairs)
    object.__setattr__(rules, "quiet_us", {f: g.quiet_us for f, g in group_of.items()})
    object.__setattr__(rules, "cell_m", cell_m)
    object.__setattr__(rules, "scans", scans)
    return rules
