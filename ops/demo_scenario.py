"""The demo's scenario: flood and storm along Rhein and Mosel in Rheinland-Pfalz.

A script of posts in *scenario time* (seconds from the start), deterministic for a seed. The
demo sends each post through the real ingest API when its time has come (scenario time divided
by the speed factor) and stamps it with the wall clock then: the live engine's clock follows wall
time, so reports must be current when they arrive.

The story, on the real district geography (bundled BKG outlines) and real DWD warnings:

* 0 min: DWD WINDBÖEN (real CAP alert) for the north (Ahrweiler, Mayen-Koblenz, Koblenz …);
  5 min: DWD STARKREGEN for the Mosel; 35 min: its update, raised to a severe warning and
  widened to Ahr and Rhein; 70 min: the wind warning widened to Mainz and Bingen.
* Incidents (flooded cellars, flash floods, water rescues, power cuts, trees on roads, lightning
  fires, aquaplaning crashes …) at real municipalities of the affected districts, their rate
  rising over the scenario. Most are reported by several agencies (fire, police, ambulance) a
  few minutes apart and a few dozen metres apart, so the engine joins them into one incident;
  threads are updated (severity and casualty figures rising), a few are cancelled (false alarm).
* Hospitals in the affected districts report free ICU and normal beds, falling over time.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources
from typing import Any, Final, Literal
from xml.etree import ElementTree as ET

import defusedxml.ElementTree as SafeET

from ingest.districts import District, Municipality, rlp_districts
from ops.scenario import POPULATION

CAP_NS: Final = "urn:oasis:names:tc:emergency:cap:1.2"
_NS: Final = {"cap": CAP_NS}
ET.register_namespace("", CAP_NS)  # write CAP elements unprefixed, as DWD does
DURATION: Final = 3 * 3600.0  # scenario seconds

# District -> weight of incidents there: the valleys of Ahr, Mosel and Rhein get the most.
AFFECTED: Final[dict[str, float]] = {
    "07131": 6.0,  # Ahrweiler
    "07137": 4.0,  # Mayen-Koblenz
    "07111": 4.0,  # Koblenz
    "07135": 4.0,  # Cochem-Zell
    "07231": 4.0,  # Bernkastel-Wittlich
    "07211": 3.0,  # Trier
    "07235": 2.5,  # Trier-Saarburg
    "07138": 2.0,  # Neuwied
    "07141": 1.5,  # Rhein-Lahn-Kreis
    "07140": 1.0,  # Rhein-Hunsrück-Kreis
    "07315": 2.0,  # Mainz
    "07339": 1.5,  # Mainz-Bingen
}
_POLICE: Final = {"07211": "Trier", "07231": "Trier", "07235": "Trier", "07315": "Mainz",
                  "07339": "Mainz"}  # fmt: skip
_LEITSTELLE: Final = {"07211": "Trier", "07231": "Trier", "07235": "Trier", "07315": "Mainz",
                      "07339": "Mainz", "07141": "Montabaur"}  # fmt: skip
_BERUFSFEUERWEHR: Final = frozenset({"07111", "07211", "07315"})

Source = Literal["police", "fire", "health"]


@dataclass(frozen=True, slots=True)
class _Kind:
    category: str
    headline: str
    weight: float
    primary: Source
    others: tuple[tuple[Source, float], ...]
    severities: tuple[float, float, float, float]  # weights of minor, moderate, severe, extreme
    spread_m: float  # how far apart its agencies report (scene vs. area)


KINDS: Final = (
    _Kind("flood.urban", "Keller und Straßen überflutet", 9, "fire", (("police", 0.3),),
          (4, 4, 1.5, 0.2), 300),
    _Kind("flood.river", "Hochwasser – Ortslage überflutet", 4, "fire",
          (("police", 0.6), ("health", 0.2)), (1, 3, 3, 1), 500),
    _Kind("flood.flash_flood", "Sturzflut", 2, "fire", (("police", 0.6), ("health", 0.4)),
          (0.5, 2, 3, 1.5), 400),
    _Kind("rescue.water", "Wasserrettung – Personen eingeschlossen", 3, "fire",
          (("health", 0.8), ("police", 0.5)), (0, 2, 4, 2), 60),
    _Kind("infrastructure.power_outage", "Stromausfall", 3, "fire", (("police", 0.3),),
          (3, 3, 1, 0.2), 600),
    _Kind("infrastructure.road_closure", "Straßensperrung – Baum auf Fahrbahn", 6, "police",
          (("fire", 0.7),), (5, 3, 0.5, 0), 60),
    _Kind("fire.building", "Brand nach Blitzeinschlag", 2, "fire",
          (("police", 0.6), ("health", 0.5)), (1, 3, 2, 0.5), 50),
    _Kind("accident.traffic", "Verkehrsunfall – Aquaplaning", 4, "police",
          (("fire", 0.5), ("health", 0.8)), (3, 4, 2, 0.3), 50),
    _Kind("medical.emergency", "Rettungsdiensteinsatz – Person verletzt", 3, "health",
          (("police", 0.2),), (3, 4, 1, 0.1), 40),
    _Kind("hazmat.fuel_spill", "Heizöl im Hochwasser ausgelaufen", 1, "fire", (("police", 0.5),),
          (1, 3, 1, 0.2), 60),
)  # fmt: skip
_SEVERITY: Final = ("minor", "moderate", "severe", "extreme")
_PREFIX: Final = {"police": "VG", "fire": "FW-E", "health": "RD-E"}


@dataclass(frozen=True, slots=True)
class Post:
    """One request of the script. ``report`` is a contract-1 report without ``observed_at``
    (stamped when sent); ``cap`` a CAP warning to be rendered at send time."""

    at: float  # scenario seconds
    report: dict[str, Any] | None = None
    cap: CapWarning | None = None


@dataclass(frozen=True, slots=True)
class CapWarning:
    """A real DWD CAP file, rewritten at send time (identifier, times, areas, severity)."""

    resource: str
    identifier: str
    msg_type: Literal["Alert", "Update"]
    districts: tuple[str, ...]
    valid_hours: float
    references: CapWarning | None = None
    severity: str | None = None  # CAP value, e.g. "Severe"
    headline: str | None = None


@dataclass(frozen=True, slots=True)
class DemoScript:
    seed: int
    posts: tuple[Post, ...]  # sorted by ``at``

    @property
    def duration(self) -> float:
        return self.posts[-1].at if self.posts else 0.0

    def counts(self) -> dict[str, int]:
        reports = sum(1 for p in self.posts if p.report is not None)
        return {"reports": reports, "warnings": len(self.posts) - reports}


# -- warnings -------------------------------------------------------------------------------------


def _warnings(run: str) -> list[Post]:
    def ident(n: int) -> str:
        return f"2.49.0.0.276.0.DWD.PVW.LZDEMO.{run}.{n}.MUL"

    wind = CapWarning("windboeen_alert.xml", ident(1), "Alert",
                      ("07131", "07137", "07111", "07138", "07135", "07140"), 6)  # fmt: skip
    rain = CapWarning("starkregen_update_1.xml", ident(2), "Alert",
                      ("07231", "07211", "07235", "07135"), 4)  # fmt: skip
    rain_severe = CapWarning(
        "starkregen_update_2.xml", ident(3), "Update",
        ("07231", "07211", "07235", "07135", "07131", "07137", "07111"), 8, references=rain,
        severity="Severe", headline="Amtliche UNWETTERWARNUNG vor HEFTIGEM STARKREGEN",
    )  # fmt: skip
    wind_wider = CapWarning(
        "windboeen_alert.xml", ident(4), "Update",
        (*wind.districts, "07315", "07339", "07141"), 8, references=wind,
    )  # fmt: skip
    return [Post(0, cap=wind), Post(300, cap=rain), Post(2100, cap=rain_severe),
            Post(4200, cap=wind_wider)]  # fmt: skip


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _polygons(district: District) -> list[str]:
    geometry = district.geometry
    parts = list(getattr(geometry, "geoms", [geometry]))
    return [" ".join(f"{lat:.5f},{lon:.5f}" for lon, lat in part.exterior.coords) for part in parts]


def render_cap(
    warning: CapWarning, now: datetime, sent: Mapping[str, datetime] | None = None
) -> bytes:
    """The CAP XML of ``warning`` as sent at ``now``: DWD's text, current times, RLP areas.
    ``sent`` gives the send time of earlier warnings by identifier (for ``<references>``)."""
    original = resources.files("ops.demo_data").joinpath("dwd", warning.resource).read_bytes()
    root = SafeET.fromstring(original)
    districts = rlp_districts()

    def set_text(parent: ET.Element, name: str, value: str) -> None:
        node = parent.find(f"cap:{name}", _NS)
        if node is not None:
            node.text = value

    set_text(root, "identifier", warning.identifier)
    set_text(root, "sent", _iso(now))
    set_text(root, "msgType", warning.msg_type)
    code = root.find("cap:code", _NS)
    if code is not None:
        code.text = f"id:{warning.identifier}"
    references = root.find("cap:references", _NS)
    earlier = warning.references
    earlier_sent = None if earlier is None else (sent or {}).get(earlier.identifier)
    if earlier is None or earlier_sent is None:
        if references is not None:
            root.remove(references)
    else:
        text = f"opendata@dwd.de,{earlier.identifier},{_iso(earlier_sent)}"
        if references is None:
            references = ET.Element(f"{{{CAP_NS}}}references")
            first_info = next(i for i, c in enumerate(root) if c.tag == f"{{{CAP_NS}}}info")
            root.insert(first_info, references)
        references.text = text
    expires = now + timedelta(hours=warning.valid_hours)
    for info in root.findall("cap:info", _NS):
        for name in ("effective", "onset"):
            set_text(info, name, _iso(now))
        set_text(info, "expires", _iso(expires))
        if warning.severity is not None:
            set_text(info, "severity", warning.severity)
        language = info.findtext("cap:language", default="", namespaces=_NS)
        if warning.headline is not None and language.startswith("de"):
            set_text(info, "headline", warning.headline)
        for area in info.findall("cap:area", _NS):
            info.remove(area)
        for ags in warning.districts:
            district = districts.get(ags)
            if district is None:
                continue
            area = ET.SubElement(info, f"{{{CAP_NS}}}area")
            ET.SubElement(area, f"{{{CAP_NS}}}areaDesc").text = district.name
            for ring in _polygons(district):
                ET.SubElement(area, f"{{{CAP_NS}}}polygon").text = ring
            geocode = ET.SubElement(area, f"{{{CAP_NS}}}geocode")
            ET.SubElement(geocode, f"{{{CAP_NS}}}valueName").text = "WARNCELLID"
            ET.SubElement(geocode, f"{{{CAP_NS}}}value").text = f"1{ags}000"
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return body


# -- incidents ------------------------------------------------------------------------------------


def _agency(source: Source, ags: str, name: str) -> str:
    if source == "police":
        return f"PP {_POLICE.get(ags, 'Koblenz')}"
    if source == "health":
        return f"ILS {_LEITSTELLE.get(ags, 'Koblenz')}"
    return f"BF {name.split()[0]}" if ags in _BERUFSFEUERWEHR else f"FW {name}"


def _near(lon: float, lat: float, metres: float, rng: random.Random) -> tuple[float, float]:
    angle = math.tau * rng.random()
    distance = metres * math.sqrt(rng.random())
    dlat = distance * math.cos(angle) / 110_574.0
    dlon = distance * math.sin(angle) / (111_320.0 * math.cos(math.radians(lat)))
    return round(lon + dlon, 6), round(lat + dlat, 6)


def _choice(rng: random.Random, weights: Sequence[float]) -> int:
    return rng.choices(range(len(weights)), weights=weights)[0]


class _Incidents:
    def __init__(self, seed: int, run: str) -> None:
        self.rng = random.Random(seed)
        self.run = run
        self.counter = 0
        districts = rlp_districts()
        self.names = {ags: districts.get(ags).name for ags in AFFECTED}  # type: ignore[union-attr]
        by_district: dict[str, list[Municipality]] = {ags: [] for ags in AFFECTED}
        for municipality in districts.municipalities():
            if municipality.ags[:5] in by_district:
                by_district[municipality.ags[:5]].append(municipality)
        self.places = by_district
        self.order = list(AFFECTED)
        self.weights = [AFFECTED[a] for a in self.order]

    def source_id(self, source: Source) -> str:
        self.counter += 1
        return f"{_PREFIX[source]}-DEMO-{self.run}-{self.counter:06d}"

    def incident(self, start: float) -> list[Post]:
        rng = self.rng
        kind = KINDS[_choice(rng, [k.weight for k in KINDS])]
        ags = self.order[_choice(rng, self.weights)]
        place = rng.choice(self.places[ags])
        lon, lat = _near(place.point[0], place.point[1], 400, rng)
        severity = _choice(rng, kind.severities)
        threads: list[tuple[Source, float]] = [(kind.primary, start)]
        for source, probability in kind.others:
            if rng.random() < probability:
                threads.append((source, start + rng.uniform(90, 600)))
        cancelled = len(threads) == 1 and rng.random() < 0.06
        posts: list[Post] = []
        for source, first in threads:
            source_id = self.source_id(source)
            point = _near(lon, lat, min(kind.spread_m, 150) / 2, rng)
            level = severity
            metrics: dict[str, int] = {}
            if kind.category.startswith(("rescue", "accident", "medical", "fire")):
                metrics["injured"] = rng.randint(0, 3) if source == "health" else 0
            if kind.category.startswith("flood"):
                metrics["affected"] = rng.randint(5, 60)
            plan: list[tuple[float, str]] = [(first, "alert")]
            if rng.random() < 0.45:
                plan.append((first + rng.uniform(600, 2400), "update"))
                if rng.random() < 0.4:
                    plan.append((plan[-1][0] + rng.uniform(600, 1800), "update"))
            if cancelled:
                plan = [(first, "alert"), (first + rng.uniform(300, 900), "cancel")]
            for sequence, (at, msg_type) in enumerate(plan, start=1):
                if msg_type == "update":
                    if rng.random() < 0.5:
                        level = min(level + 1, 3)
                    metrics = {k: v + rng.randint(0, 4) for k, v in metrics.items()}
                headline = f"{kind.headline} – {place.name}"
                posts.append(
                    Post(
                        at,
                        report={
                            "source": source,
                            "source_id": source_id,
                            "sequence": sequence,
                            "msg_type": msg_type,
                            "category": kind.category,
                            "severity": _SEVERITY[level],
                            "geometry": {"type": "Point", "coordinates": list(point)},
                            "headline": headline,
                            "description": f"{kind.headline} in {place.name} "
                            f"({self.names[ags]}). Meldung {sequence}.",
                            "metrics": metrics,
                            "agency": _agency(source, ags, self.names[ags]),
                        },
                    )
                )
        return posts


def _capacity(seed: int, run: str) -> list[Post]:
    rng = random.Random(seed * 7919 + 1)
    districts = rlp_districts()
    posts: list[Post] = []
    for ags in AFFECTED:
        size = POPULATION.get(ags, 80)
        icu, beds = max(4, size // 7), size * 2
        at = rng.uniform(0, 240)
        sequence = 1
        name = districts.get(ags).name  # type: ignore[union-attr]
        while at < DURATION:
            posts.append(
                Post(
                    at,
                    report={
                        "source": "health",
                        "source_id": f"ICU-DEMO-{run}-{ags}",
                        "sequence": sequence,
                        "msg_type": "alert" if sequence == 1 else "update",
                        "category": "capacity.hospital",
                        "area_codes": [ags],
                        "metrics": {"icu_beds_free": icu, "beds_free": beds},
                        "headline": f"Bettenkapazität {name}",
                        "agency": "DIVI-Intensivregister",
                    },
                )
            )
            sequence += 1
            at += rng.uniform(600, 1200)
            # falling as the casualties of the scenario arrive, now and then a bed freed
            icu = max(0, icu - rng.choice((0, 1, 1, 2, 3)) + (rng.random() < 0.1))
            beds = max(0, beds - rng.randint(0, 12))
    return posts


def build_script(seed: int = 1, *, incidents: int = 300, run: str | None = None) -> DemoScript:
    """The scenario for ``seed``; ``run`` makes its identifiers unique (default: random) so a
    second run into the same database starts new threads instead of duplicating old ones."""
    if incidents < 0:
        raise ValueError("incidents must not be negative")
    run = run or uuid.uuid4().hex[:8]
    posts = _warnings(run) + _capacity(seed, run)
    generator = _Incidents(seed, run)
    rng = random.Random(seed)
    # Incidents start after the first warnings, ever more often: density rising linearly.
    starts = sorted(DURATION * (0.05 + 0.85 * math.sqrt(rng.random())) for _ in range(incidents))
    for start in starts:
        posts.extend(generator.incident(start))
    posts.sort(key=lambda p: p.at)
    return DemoScript(seed=seed, posts=tuple(posts))


def stamp(report: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The report as sent at ``now`` (event time = now: the live clock follows wall time)."""
    return {**report, "observed_at": now.isoformat()}
