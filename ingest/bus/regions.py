"""The region of a report: the partition key of ``lz.reports.v1``.

Correlation is local: a report joins incidents near it, and a district's level depends on what
happens in it. So reports are keyed by the district (5-digit AGS) the engine will place them in,
computed exactly as the engine does (the point of a Point, the representative point of an area,
the union of the area codes), and one engine per partition sees all of its districts' reports in
order.

Reports that concern many districts are broadcast (None): warnings (their districts' levels and
the incidents under them need them everywhere) and capacity figures for the whole state or
several districts. Reports outside every district share one fallback key.

Limitation: an incident is clustered within its partition. Two reports of one scene that fall on
either side of a district border (within the join radius, 250 m for scene families) are two
incidents in the distributed mode but one in the embedded mode; an incident whose centroid
drifts across a border keeps being counted in the partition that holds it.
"""

from __future__ import annotations

from typing import Final, Protocol

from ingest.districts import Districts, rlp_districts
from ingest.geometry import representative_point
from ingest.report import Point, Report

OUTSIDE: Final = "outside"


class Routing(Protocol):
    """The routing part of the correlation rules (``correlation.rules.Rules`` has it)."""

    @property
    def warning_families(self) -> frozenset[str]: ...
    @property
    def warning_sources(self) -> frozenset[str]: ...
    @property
    def warning_formats(self) -> frozenset[str]: ...
    @property
    def capacity_families(self) -> frozenset[str]: ...


class RegionOf:
    """``region(report) -> AGS | "outside" | None (broadcast)`` under the engine's routing."""

    def __init__(self, routing: Routing, districts: Districts | None = None) -> None:
        self.routing = routing
        self.districts = districts if districts is not None else rlp_districts()
        self._states = {d.ags[:2] for d in self.districts.all()}

    def __call__(self, report: Report) -> str | None:
        routing = self.routing
        family = report.category.partition(".")[0]
        if family in routing.warning_families or (
            report.source in routing.warning_sources
            and report.feed_format in routing.warning_formats
        ):
            return None
        if family in routing.capacity_families:
            return self._capacity(report)
        return self._point(report) or OUTSIDE

    def _point(self, report: Report) -> str | None:
        geometry = report.geometry
        if type(geometry) is Point:
            return self.districts.at(geometry.coordinates[0], geometry.coordinates[1])
        if geometry is not None:
            lon, lat = representative_point(geometry)
            return self.districts.at(lon, lat)
        if report.area_codes:
            area = self.districts.geometry_for_codes(report.area_codes)
            if area is not None:
                point = area.representative_point()
                return self.districts.at(point.x, point.y)
        return None

    def _capacity(self, report: Report) -> str | None:
        scopes: set[str] = set()
        for code in report.area_codes:
            if code[:2] in self._states and code[2:].strip("0") == "":
                return None  # the whole state
            if len(code) >= 5 and self.districts.get(code[:5]) is not None:
                scopes.add(code[:5])
        if not scopes and type(report.geometry) is Point:
            ags = self._point(report)
            return ags or OUTSIDE
        if len(scopes) == 1:
            return scopes.pop()
        return None
