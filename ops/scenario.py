"""A deterministic multi-agency RLP scenario with ground truth.

Used by the correlation engine's ground-truth test, by ``lagezentrum bench engine`` and by the
demo. Everything follows from the seed: one ``random.Random`` and no clock.

What a correct engine with the DESIGN.md defaults must find, and why it is unambiguous:

* Every incident is reported by 1-3 agencies (police, fire, health), one thread each. The
  primary agency reports first; every other thread starts 2.5-15 min later, so the primary opens
  the incident in event time *and* in arrival order (arrival is at most 2 min late).
* All threads of an incident lie within ``SCENE_JITTER_M`` (100 m) of the incident point for
  scene families (pairwise ≤ 200 m < 250 m radius) and within ``AREA_JITTER_M`` (800 m) for
  flood/infrastructure (pairwise ≤ 1.6 km < 2 km). Updates and cancels keep the thread's
  location, so no update ever moves a thread.
* Threads of one incident share its family, except police ``security.*`` threads at medical or
  accident scenes, which DESIGN.md lets join those families.
* Distinct incidents are kept apart (see :data:`SPACING`): scene and security incidents at least
  1 km *or* 2 h apart, flood/infrastructure incidents 5 km or 4 h, a scene and an area incident
  4 km or 4 h (even though the defaults never merge those groups). The time gap is measured
  between activity intervals (first to last report). So no report is ever in reach of another
  incident.
* A cancel comes after every thread of its incident has started, so a cancelled incident never
  receives a late new thread; an incident whose threads are all cancelled is cancelled.
* Updates come at most 90 min after a thread starts (quiet time before ``resolved``: 2 h).

Incident locations are uniform inside a district chosen by a rough population weight (the
kreisfreie Städte get many more incidents per km²). Weather warnings and hospital capacity
reports are optional extra layers with their own ground truth.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
import random
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final, Generic, TypeVar

import shapely

from ingest.districts import District, Districts, rlp_districts
from ingest.geometry import to_shapely
from ingest.report import MsgType, Point, Polygon, Report, Severity, Source

T = TypeVar("T")

DEFAULT_START: Final = datetime(2024, 6, 1, 6, 0, tzinfo=UTC)
SCENE_JITTER_M: Final = 100.0
AREA_JITTER_M: Final = 800.0
INCIDENTS_PER_DAY: Final = 1200  # pace of generate_reports, so incidents stay well spaced
AREA_FAMILIES: Final = frozenset({"flood", "infrastructure"})

# (group of one incident, group of the other) -> (minimum distance m, minimum time gap) when
# they are *not* apart in both; the groups are "scene" (incl. security) and "area".
SPACING: Final[dict[tuple[str, str], tuple[float, timedelta]]] = {
    ("scene", "scene"): (1_000.0, timedelta(hours=2)),
    ("area", "area"): (5_000.0, timedelta(hours=4)),
    ("scene", "area"): (4_000.0, timedelta(hours=4)),
    ("area", "scene"): (4_000.0, timedelta(hours=4)),
}
_MAX_SPACING_T: Final = max(t for _, t in SPACING.values())

# Rough inhabitants (thousands, 2021) per district: the weight of incident locations.
POPULATION: Final[dict[str, int]] = {
    "07111": 113, "07131": 130, "07132": 129, "07133": 159, "07134": 80, "07135": 61,
    "07137": 214, "07138": 182, "07140": 103, "07141": 122, "07143": 203, "07211": 111,
    "07231": 112, "07232": 99, "07233": 60, "07235": 151, "07311": 48, "07312": 99,
    "07313": 47, "07314": 172, "07315": 218, "07316": 53, "07317": 40, "07318": 50,
    "07319": 83, "07320": 34, "07331": 130, "07332": 133, "07333": 75, "07334": 130,
    "07335": 106, "07336": 70, "07337": 111, "07338": 155, "07339": 211, "07340": 95,
}  # fmt: skip

_POLICE: Final = {  # Polizeipräsidium per district
    "07111": "Koblenz", "07131": "Koblenz", "07132": "Koblenz", "07133": "Mainz",
    "07134": "Trier", "07135": "Koblenz", "07137": "Koblenz", "07138": "Koblenz",
    "07140": "Koblenz", "07141": "Koblenz", "07143": "Koblenz", "07211": "Trier",
    "07231": "Trier", "07232": "Trier", "07233": "Trier", "07235": "Trier",
    "07311": "Rheinpfalz", "07312": "Westpfalz", "07313": "Rheinpfalz", "07314": "Rheinpfalz",
    "07315": "Mainz", "07316": "Rheinpfalz", "07317": "Westpfalz", "07318": "Rheinpfalz",
    "07319": "Mainz", "07320": "Westpfalz", "07331": "Mainz", "07332": "Rheinpfalz",
    "07333": "Westpfalz", "07334": "Rheinpfalz", "07335": "Westpfalz", "07336": "Westpfalz",
    "07337": "Rheinpfalz", "07338": "Rheinpfalz", "07339": "Mainz", "07340": "Westpfalz",
}  # fmt: skip
_LEITSTELLE: Final = {  # Integrierte Leitstelle (fire and rescue dispatch) per district
    "07111": "Koblenz", "07131": "Koblenz", "07135": "Koblenz", "07137": "Koblenz",
    "07138": "Koblenz", "07140": "Koblenz", "07132": "Montabaur", "07141": "Montabaur",
    "07143": "Montabaur", "07133": "Bad Kreuznach", "07134": "Bad Kreuznach", "07315": "Mainz",
    "07339": "Mainz", "07331": "Mainz", "07211": "Trier", "07231": "Trier", "07232": "Trier",
    "07233": "Trier", "07235": "Trier", "07312": "Kaiserslautern", "07335": "Kaiserslautern",
    "07336": "Kaiserslautern", "07333": "Kaiserslautern", "07317": "Kaiserslautern",
    "07320": "Kaiserslautern", "07340": "Kaiserslautern", "07313": "Landau",
    "07316": "Landau", "07337": "Landau", "07334": "Landau", "07314": "Ludwigshafen",
    "07311": "Ludwigshafen", "07318": "Ludwigshafen", "07338": "Ludwigshafen",
    "07332": "Ludwigshafen", "07319": "Ludwigshafen",
}  # fmt: skip
_BERUFSFEUERWEHR: Final = frozenset({"07111", "07211", "07312", "07314", "07315"})
_ID_PREFIX: Final = {"police": "VG", "fire": "FW-E", "health": "RD-E"}  # Vorgang, Einsatz


@dataclass(frozen=True, slots=True)
class _Family:
    weight: float
    primary: Source  # of the first thread
    others: tuple[tuple[Source, float], ...]  # (source, probability of a thread)
    categories: tuple[tuple[str, float, str], ...]  # (detail, weight, German headline)


FAMILIES: Final[dict[str, _Family]] = {
    "fire": _Family(18, "fire", (("police", 0.6), ("health", 0.4)), (
        ("building", 5, "Brand Gebäude"), ("vehicle", 3, "Fahrzeugbrand"),
        ("vegetation", 2, "Flächenbrand"), ("forest", 1, "Waldbrand"),
        ("industrial", 1, "Brand Industrieanlage"))),
    "accident": _Family(24, "police", (("fire", 0.6), ("health", 0.7)), (
        ("traffic", 9, "Verkehrsunfall"), ("rail", 0.3, "Bahnunfall"),
        ("work", 1, "Arbeitsunfall"))),
    "rescue": _Family(8, "fire", (("health", 0.6), ("police", 0.3)), (
        ("technical", 3, "Technische Rettung"), ("water", 1, "Wasserrettung"),
        ("height", 1, "Rettung aus Höhen"))),
    "medical": _Family(22, "health", (("police", 0.3), ("fire", 0.15)), (
        ("emergency", 10, "Notfalleinsatz Rettungsdienst"),
        ("mass_casualty", 0.3, "Massenanfall von Verletzten"))),
    "hazmat": _Family(4, "fire", (("police", 0.6), ("health", 0.3)), (
        ("gas_leak", 3, "Gasaustritt"), ("chemical_release", 1, "Gefahrstoffaustritt"),
        ("fuel_spill", 2, "Auslaufende Betriebsstoffe"))),
    "security": _Family(12, "police", (), (
        ("police_operation", 3, "Polizeieinsatz"), ("public_order", 2, "Störung der Ordnung"),
        ("assault", 2, "Körperverletzung"), ("missing_person", 1, "Vermisste Person"),
        ("bomb_threat", 0.3, "Bombendrohung"))),
    "flood": _Family(4, "fire", (("police", 0.5),), (
        ("river", 2, "Hochwasser"), ("flash_flood", 1, "Sturzflut"),
        ("urban", 2, "Überflutung nach Starkregen"))),
    "infrastructure": _Family(5, "fire", (("police", 0.5),), (
        ("power_outage", 3, "Stromausfall"), ("road_closure", 2, "Straßensperrung"),
        ("water_supply", 1, "Störung Wasserversorgung"),
        ("telecom_outage", 1, "Ausfall Telekommunikation"))),
}  # fmt: skip
_SECURITY_AT_SCENE: Final = (("assault", "Körperverletzung am Einsatzort"),
                             ("public_order", "Störung an der Einsatzstelle"))  # fmt: skip
_WEATHER: Final = (
    ("thunderstorm", "GEWITTER", "Amtliche UNWETTERWARNUNG vor SCHWEREM GEWITTER"),
    ("heavy_rain", "STARKREGEN", "Amtliche WARNUNG vor STARKREGEN"),
    ("storm", "STURMBÖEN", "Amtliche WARNUNG vor STURMBÖEN"),
    ("heat", "HITZE", "Amtliche WARNUNG vor HITZE"),
)
_SEVERITIES: Final[tuple[tuple[Severity, float], ...]] = (
    ("minor", 45), ("moderate", 38), ("severe", 15), ("extreme", 2))  # fmt: skip
_ESCALATE: Final[dict[Severity, Severity]] = {
    "minor": "moderate", "moderate": "severe", "severe": "extreme"}  # fmt: skip


@dataclass(frozen=True)
class ScenarioIncident:
    key: str
    family: str
    category: str  # the primary thread's category
    lon: float
    lat: float
    district: str  # AGS of the Kreis every report of the incident lies in
    start: datetime
    threads: tuple[str, ...]  # "source:source_id" of all its threads, primary first
    end: datetime = field(default=DEFAULT_START)  # event time of its last report


@dataclass(frozen=True)
class ScenarioWarning:
    thread: str
    category: str
    onset: datetime
    expires: datetime  # after the last update
    districts: tuple[str, ...]  # AGS of the districts the area covers
    cancelled: bool


@dataclass(frozen=True)
class Scenario:
    reports: tuple[Report, ...]  # in arrival (log) order
    incidents: tuple[ScenarioIncident, ...]
    cancelled_threads: frozenset[str]
    warnings: tuple[ScenarioWarning, ...] = ()
    capacity: tuple[tuple[str, int], ...] = ()  # (AGS, latest icu_beds_free), sorted


class _Choice(Generic[T]):
    """A weighted choice, prepared once (``random.choices`` rebuilds its table every call)."""

    __slots__ = ("_cumulative", "_total", "_values")

    def __init__(self, options: Iterable[tuple[T, float]]) -> None:
        values, weights = zip(*options, strict=True)
        self._values: tuple[T, ...] = values
        self._cumulative = list(itertools.accumulate(weights))
        self._total = self._cumulative[-1]

    def __call__(self, rng: random.Random) -> T:
        return self._values[bisect.bisect_right(self._cumulative, rng.random() * self._total)]


_SEVERITY: Final = _Choice[Severity](_SEVERITIES)
_WARNING_SEVERITY: Final = _Choice[Severity](
    (("minor", 3), ("moderate", 4), ("severe", 2), ("extreme", 0.3)))  # fmt: skip
_FAMILY: Final = _Choice((name, spec.weight) for name, spec in FAMILIES.items())
_CATEGORY: Final = {name: _Choice(((c[0], c[2]), c[1]) for c in spec.categories)
                    for name, spec in FAMILIES.items()}  # fmt: skip


def _metres(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    x = (lon2 - lon1) * 111_320.0 * math.cos(math.radians((lat1 + lat2) / 2))
    return math.hypot(x, (lat2 - lat1) * 110_574.0)


def _offset(lon: float, lat: float, radius_m: float, rng: random.Random) -> tuple[float, float]:
    angle = math.tau * rng.random()
    distance = radius_m * math.sqrt(rng.random())
    dlat = distance * math.cos(angle) / 110_574.0
    dlon = distance * math.sin(angle) / (111_320.0 * math.cos(math.radians(lat)))
    return (round(lon + dlon, 6), round(lat + dlat, 6))


@functools.cache
def _agency(source: str, ags: str, name: str) -> str:
    if source == "police":
        return f"PP {_POLICE[ags]}"
    if source == "health":
        return f"ILS {_LEITSTELLE[ags]}"
    return f"BF {name.split()[0]}" if ags in _BERUFSFEUERWEHR else f"FW {name}"


@dataclass(slots=True)
class _Placed:
    lon: float
    lat: float
    area: bool  # flood/infrastructure group, else scene (incl. security)
    start: float  # POSIX seconds of its first report
    end: float  # ... and of its last


def _spacing(pair: tuple[str, str]) -> tuple[float, float]:
    distance, gap = SPACING[pair]
    return distance, gap.total_seconds()


_SCENE: Final = _spacing(("scene", "scene"))
_AREA: Final = _spacing(("area", "area"))
_CROSS: Final = _spacing(("scene", "area"))
_HORIZON: Final = _MAX_SPACING_T.total_seconds()
_LON_SCALE: Final = 0.629  # cos(51°), the north edge of RLP: cells are at least as wide as high


def _conflict(a: _Placed, b: _Placed, distance_m: float, gap_s: float) -> bool:
    if a.start - b.end >= gap_s or b.start - a.end >= gap_s:
        return False
    if abs(a.lat - b.lat) * 110_574.0 >= distance_m:  # cheap test first: most are far apart
        return False
    return _metres(a.lon, a.lat, b.lon, b.lat) < distance_m


_NEAR: Final = {  # offsets of the packed cell keys within a reach of 1 and 4 cells
    reach: [(dx << 20) + dy for dx in range(-reach, reach + 1) for dy in range(-reach, reach + 1)]
    for reach in (1, 4)
}


class _Hash:
    """Placed incidents of one group in cells as large as the group's own minimum distance.
    Cell keys are ints packed as ``kx << 20 | ky`` (both positive in RLP): cheaper than tuples
    on the generator's hot path."""

    def __init__(self, cell_m: float) -> None:
        self.cell_m = cell_m
        self._deg = cell_m / 110_574.0
        self._cells: dict[int, list[_Placed]] = defaultdict(list)

    def key(self, lon: float, lat: float) -> int:
        return (int(lon * _LON_SCALE / self._deg) << 20) + int(lat / self._deg)

    def add(self, placed: _Placed) -> None:
        self._cells[self.key(placed.lon, placed.lat)].append(placed)

    def conflicts(self, candidate: _Placed, distance_m: float, gap_s: float) -> bool:
        center = self.key(candidate.lon, candidate.lat)
        get = self._cells.get
        start = candidate.start
        for offset in _NEAR[math.ceil(distance_m / self.cell_m)]:
            cell = get(center + offset)
            if not cell:
                continue
            if cell[0].end + _HORIZON < start:  # starts only grow: prune
                cell[:] = [p for p in cell if p.end + _HORIZON >= start]
            for other in cell:
                if (start - other.end < gap_s and other.start - candidate.end < gap_s
                        and _conflict(candidate, other, distance_m, gap_s)):  # fmt: skip
                    return True
        return False


class _Spacing:
    """The spacing promise of the module docstring, checked before an incident is placed."""

    def __init__(self) -> None:
        self._scene = _Hash(_SCENE[0])
        self._area = _Hash(_AREA[0])

    def free(self, candidate: _Placed) -> bool:
        if candidate.area:
            return not (self._area.conflicts(candidate, *_AREA)
                        or self._scene.conflicts(candidate, *_CROSS))  # fmt: skip
        return not (self._scene.conflicts(candidate, *_SCENE)
                    or self._area.conflicts(candidate, *_CROSS))  # fmt: skip

    def add(self, placed: _Placed) -> None:
        (self._area if placed.area else self._scene).add(placed)


class _Generator:
    def __init__(self, seed: int, start: datetime, updates: float, cancels: float) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.start = start
        self.updates = updates
        self.cancels = cancels
        self.districts: Districts = rlp_districts()
        everything = self.districts.all()
        self.by_ags: dict[str, District] = {d.ags: d for d in everything}
        self.weights = list(itertools.accumulate(POPULATION.get(d.ags, 50) for d in everything))
        self.order = [d.ags for d in everything]
        self.bounds = {d.ags: d.geometry.bounds for d in everything}
        self.pools: dict[str, list[tuple[float, float]]] = {d.ags: [] for d in everything}
        self.spacing = _Spacing()
        self.counters: dict[str, Iterator[int]] = defaultdict(lambda: itertools.count(1))
        self.timed: list[tuple[datetime, Report]] = []  # (event time, report)
        self.incidents: list[ScenarioIncident] = []
        self.cancelled: set[str] = set()

    # -- incidents -------------------------------------------------------------------------------

    def _location(self) -> tuple[str, float, float]:
        """A district by population weight and a uniform random point strictly inside it."""
        rng = self.rng
        ags = self.order[bisect.bisect_right(self.weights, rng.random() * self.weights[-1])]
        pool = self.pools[ags]
        while not pool:  # refill in bulk: one vectorised polygon test for many candidates
            minx, miny, maxx, maxy = self.bounds[ags]
            xs = [round(minx + (maxx - minx) * rng.random(), 6) for _ in range(64)]
            ys = [round(miny + (maxy - miny) * rng.random(), 6) for _ in range(64)]
            inside = shapely.contains_xy(self.by_ags[ags].geometry, xs, ys).tolist()
            pool.extend((x, y) for x, y, ok in zip(xs, ys, inside, strict=True) if ok)
            pool.reverse()  # pop() from the end takes them in the order drawn
        lon, lat = pool.pop()
        return ags, lon, lat

    def _source_id(self, source: Source) -> str:
        return f"{_ID_PREFIX[source]}-{self.seed}-{next(self.counters[source]):07d}"

    def incident(self, start: datetime) -> tuple[int, ScenarioIncident]:
        """Place and report one incident starting at ``start``; returns its report count."""
        rng = self.rng
        family = _FAMILY(rng)
        spec = FAMILIES[family]
        detail, headline = _CATEGORY[family](rng)
        threads: list[tuple[Source, str, str, timedelta]] = [  # source, category, headline, offset
            (spec.primary, f"{family}.{detail}", headline, timedelta(0))]  # fmt: skip
        for source, probability in spec.others:
            if rng.random() < probability:
                category, text = f"{family}.{detail}", headline
                if source == "police" and family == "medical":
                    kind, text = _SECURITY_AT_SCENE[rng.randrange(2)]
                    category = f"security.{kind}"
                offset = timedelta(seconds=150 + 750 * rng.random())
                threads.append((source, category, text, offset))
        if family == "accident" and rng.random() < 0.1:
            offset = timedelta(seconds=300 + 600 * rng.random())
            threads.append(("police", "security.public_order", _SECURITY_AT_SCENE[1][1], offset))
        area = family in AREA_FAMILIES
        jitter = AREA_JITTER_M if area else SCENE_JITTER_M
        severity = _SEVERITY(rng)
        if detail == "mass_casualty":
            severity = "extreme" if rng.random() < 0.3 else "severe"

        plans = [self._thread_plan(start + t[3]) for t in threads]
        last_start = max(start + t[3] for t in threads)
        plans = [self._with_cancel(p, last_start) for p in plans]
        end = max(p[-1][0] for p in plans)
        for _ in range(200):
            ags, lon, lat = self._location()
            placed = _Placed(lon, lat, area, start.timestamp(), end.timestamp())
            if self.spacing.free(placed):
                break
        else:
            raise ValueError("scenario too dense: no free place for an incident; give more time")
        self.spacing.add(placed)
        name = self.by_ags[ags].name

        keys: list[str] = []
        count = 0
        for (source, category, text, _), plan in zip(threads, plans, strict=True):
            source_id = self._source_id(source)
            keys.append(f"{source}:{source_id}")
            point = self._near(ags, lon, lat, jitter)
            count += self._thread(
                plan, source, source_id, category, f"{text} – {name}", point, severity,
                _agency(source, ags, name), family,
            )  # fmt: skip
        key = f"S{self.seed}-I{len(self.incidents) + 1:06d}"
        incident = ScenarioIncident(key, family, threads[0][1], lon, lat, ags, start,
                                    tuple(keys), end)  # fmt: skip
        return count, incident

    def _near(self, ags: str, lon: float, lat: float, radius: float) -> tuple[float, float]:
        for _ in range(20):
            point = _offset(lon, lat, radius, self.rng)
            if self.districts.at(*point) == ags:
                return point
        return (lon, lat)

    def _thread_plan(self, first: datetime) -> list[tuple[datetime, MsgType]]:
        """Event times and message types of one thread: alert, maybe updates (≥ 3 min apart)."""
        plan: list[tuple[datetime, MsgType]] = [(first, "alert")]
        if self.rng.random() < self.updates:
            at = first + timedelta(minutes=5 + 40 * self.rng.random())
            for _ in range(1 if self.rng.random() < 0.67 else 2):
                plan.append((at, "update"))
                at += timedelta(minutes=5 + 35 * self.rng.random())
        return plan

    def _with_cancel(
        self, plan: list[tuple[datetime, MsgType]], last_start: datetime
    ) -> list[tuple[datetime, MsgType]]:
        if self.rng.random() >= self.cancels:
            return plan
        after = max(plan[-1][0], last_start)
        return [*plan, (after + timedelta(minutes=3 + 17 * self.rng.random()), "cancel")]

    def _thread(
        self,
        plan: list[tuple[datetime, MsgType]],
        source: Source,
        source_id: str,
        category: str,
        headline: str,
        point: tuple[float, float],
        severity: Severity,
        agency: str,
        family: str,
    ) -> int:
        rng = self.rng
        metrics = self._metrics(source, family, severity)
        for sequence, (at, msg_type) in enumerate(plan, start=1):
            if msg_type == "update":
                if rng.random() < 0.3:
                    severity = _ESCALATE.get(severity, severity)
                metrics = {k: v + int((3 + v // 2) * rng.random()) for k, v in metrics.items()}
            cancel = msg_type == "cancel"
            if cancel:
                self.cancelled.add(f"{source}:{source_id}")
            report = Report(
                source=source,
                source_id=source_id,
                category=category,
                observed_at=at,
                sequence=sequence,
                msg_type=msg_type,
                severity=severity,
                # A cancel may come without a location (the thread names what it withdraws).
                geometry=None if cancel and rng.random() < 0.5 else Point(list(point)),
                headline=f"Aufgehoben: {headline}" if cancel else headline,
                metrics={} if cancel else metrics,
                agency=agency,
            )
            self.timed.append((at, report))
        return len(plan)

    def _metrics(self, source: Source, family: str, severity: Severity) -> dict[str, int]:
        rng = self.rng
        scale = {"minor": 1, "moderate": 2, "severe": 5, "extreme": 15}[severity]
        metrics: dict[str, int] = {}
        if source == "fire":
            metrics["units"] = (1 + int(3 * rng.random())) * scale
            if family in {"fire", "hazmat", "flood"} and scale >= 2:
                metrics["evacuated"] = int(30 * scale * scale * rng.random())
        if family in {"fire", "accident", "rescue", "medical", "hazmat"} and source != "fire":
            metrics["injured"] = int(2 * scale * rng.random()) + (family == "medical")
            if scale >= 5 and rng.random() < 0.3:
                metrics["dead"] = int(scale // 2 * rng.random())
        if family == "infrastructure":
            metrics["affected"] = int(50 + 1_950 * rng.random()) * scale
        return metrics

    # -- warnings and capacity -------------------------------------------------------------------

    def warning(self, sent: datetime, number: int) -> ScenarioWarning:
        rng = self.rng
        detail, event, headline = _WEATHER[rng.randrange(len(_WEATHER))]
        ags, lon, lat = self._location()
        if rng.random() < 0.5:  # by area codes: a district and some of its neighbours
            near = self.districts.intersecting(self.by_ags[ags].geometry.buffer(0.01))
            chosen = sorted({ags, *rng.sample(near, min(len(near), rng.randint(0, 3)))})
            codes: tuple[str, ...] = tuple(f"{a}0000000" for a in chosen)
            geometry: Polygon | None = None
            districts = self.districts.for_codes(codes)
        else:  # a forecaster's polygon, an ellipse of 10-30 km radius
            rx, ry, turn = rng.uniform(0.14, 0.4), rng.uniform(0.09, 0.27), rng.uniform(0, math.pi)
            ring = [[round(lon + rx * math.cos(a) * math.cos(turn) - ry * math.sin(a)
                           * math.sin(turn), 5),
                     round(lat + rx * math.cos(a) * math.sin(turn) + ry * math.sin(a)
                           * math.cos(turn), 5)]
                    for a in (i * math.tau / 24 for i in range(24))]  # fmt: skip
            geometry = Polygon([[*ring, ring[0]]])
            codes = ()
            districts = self.districts.intersecting(to_shapely(geometry))
        onset = sent + timedelta(minutes=rng.uniform(0, 120))
        expires = onset + timedelta(hours=rng.uniform(2, 12))
        severity = _WARNING_SEVERITY(rng)
        source_id = f"DWD-{self.seed}-{number:06d}"
        plan: list[tuple[datetime, MsgType]] = [(sent, "alert")]
        if rng.random() < self.updates:
            plan.append((sent + timedelta(minutes=rng.uniform(20, 90)), "update"))
        cancelled = rng.random() < self.cancels
        if cancelled:
            plan.append((plan[-1][0] + timedelta(minutes=rng.uniform(10, 60)), "cancel"))
        for sequence, (at, msg_type) in enumerate(plan, start=1):
            if msg_type == "update":
                expires += timedelta(hours=rng.uniform(1, 4))
            report = Report(
                source="weather", source_id=source_id, category=f"weather.{detail}",
                observed_at=at, sequence=sequence, msg_type=msg_type,
                severity=severity,
                urgency="immediate" if onset <= at else "future", certainty="likely",
                onset_at=onset, expires_at=max(expires, at), geometry=geometry,
                area_codes=codes, headline=headline, event=event, language="de-DE",
                agency="Deutscher Wetterdienst", feed_format="cap",
            )  # fmt: skip
            self.timed.append((at, report))
        if cancelled:
            self.cancelled.add(f"weather:{source_id}")
        return ScenarioWarning(f"weather:{source_id}", f"weather.{detail}", onset, expires,
                               districts, cancelled)  # fmt: skip

    def capacity(self, count: int, first: datetime, last: datetime) -> tuple[tuple[str, int], ...]:
        rng = self.rng
        latest: dict[str, tuple[int, int, int]] = {}  # ags -> (sequence, icu, beds)
        span = max((last - first).total_seconds(), 60.0)
        times = sorted(rng.uniform(0, span) for _ in range(count))
        for seconds in times:
            ags = self.order[bisect.bisect_right(self.weights, rng.random() * self.weights[-1])]
            size = POPULATION.get(ags, 50)
            sequence, icu, beds = latest.get(ags, (0, size // 8, size * 2))
            icu = max(0, icu + rng.randint(-3, 3))
            beds = max(0, beds + rng.randint(-20, 20))
            latest[ags] = (sequence + 1, icu, beds)
            at = first + timedelta(seconds=seconds)
            report = Report(
                source="health", source_id=f"ICU-{self.seed}-{ags}", category="capacity.hospital",
                observed_at=at, sequence=sequence + 1,
                msg_type="alert" if sequence == 0 else "update",
                area_codes=(f"{ags}0000000",), metrics={"icu_beds_free": icu, "beds_free": beds},
                headline=f"Bettenkapazität {self.by_ags[ags].name}", agency="DIVI-Intensivregister",
            )  # fmt: skip
            self.timed.append((at, report))
        return tuple(sorted((ags, value[1]) for ags, value in latest.items()))

    # -- the log ---------------------------------------------------------------------------------

    def log(self) -> tuple[Report, ...]:
        """Reports in arrival order: event time plus a transport delay of up to 2 minutes."""
        rng = self.rng
        arrivals: list[tuple[datetime, int, Report]] = []
        for index, (at, report) in enumerate(self.timed):
            roll = rng.random()
            spread = rng.random()
            delay = (0.5 + 9.5 * spread if roll < 0.85 else
                     10 + 50 * spread if roll < 0.98 else 60 + 60 * spread)  # fmt: skip
            arrivals.append((at + timedelta(seconds=delay), index, report))
        arrivals.sort(key=lambda a: (a[0], a[1]))
        return tuple(a[2] for a in arrivals)


def _build(
    gen: _Generator,
    starts: Iterator[datetime],
    enough: Callable[[int, int], bool],
    warnings: int,
    capacity_reports: Callable[[int], int],
) -> Scenario:
    reports = 0
    last = gen.start
    for start in starts:
        count, incident = gen.incident(start)
        if enough(reports, count):
            gen.timed = gen.timed[: len(gen.timed) - count]
            gen.cancelled -= set(incident.threads)
            break
        reports += count
        gen.incidents.append(incident)
        last = max(last, incident.end)
    span = max(last - gen.start, timedelta(hours=1))
    ground_truth = [gen.warning(gen.start + span * gen.rng.random(), n + 1)
                    for n in range(warnings)]  # fmt: skip
    capacity = gen.capacity(capacity_reports(len(gen.timed)), gen.start, gen.start + span)
    return Scenario(
        reports=gen.log(),
        incidents=tuple(gen.incidents),
        cancelled_threads=frozenset(gen.cancelled),
        warnings=tuple(ground_truth),
        capacity=capacity,
    )


def generate(
    *,
    incidents: int,
    seed: int = 1,
    start: datetime = DEFAULT_START,
    duration: timedelta = timedelta(hours=24),
    updates: float = 0.3,
    cancels: float = 0.05,
    warnings: int = 0,
    capacity_reports: int = 0,
) -> Scenario:
    """A scenario of ``incidents`` incidents starting uniformly within ``duration``.

    ``updates``/``cancels`` are the share of threads that get updates / are withdrawn.
    Raises ValueError if the incidents cannot be spaced as promised (far too many for the time).
    """
    if incidents < 0 or warnings < 0 or capacity_reports < 0:
        raise ValueError("incidents, warnings and capacity_reports must not be negative")
    if start.tzinfo is None:
        raise ValueError("start must carry a time zone")
    gen = _Generator(seed, start, updates, cancels)
    seconds = duration.total_seconds()
    offsets = sorted(gen.rng.uniform(0, seconds) for _ in range(incidents))
    starts = (start + timedelta(seconds=s) for s in offsets)
    return _build(gen, starts, lambda _r, _c: False, warnings, lambda _n: capacity_reports)


def generate_reports(total: int, *, seed: int = 1) -> Scenario:
    """A scenario of exactly ``total`` reports (for benchmarks): incidents at a steady pace of
    :data:`INCIDENTS_PER_DAY`, one weather warning per 5,000 reports, and hospital capacity
    reports filling up the rest (about 1 %)."""
    if total < 0:
        raise ValueError("total must not be negative")
    gen = _Generator(seed, DEFAULT_START, 0.3, 0.05)
    warnings = total // 5_000
    budget = total - 3 * warnings - total // 100  # a warning has at most 3 reports

    def starts() -> Iterator[datetime]:
        at = DEFAULT_START
        while True:
            yield at
            at += timedelta(days=gen.rng.expovariate(INCIDENTS_PER_DAY))

    def enough(reports: int, count: int) -> bool:
        return reports + count > budget

    return _build(gen, starts(), enough, warnings, lambda made: total - made)
