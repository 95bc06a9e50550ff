"""Where a report belongs: the nearest incident it may join, and whether an updated thread
stays in its incident.

A report joins the NEAREST live incident (open, or resolved — which reopens it) that has a
family compatible with the report's, lies within the pair's radius of the report, and whose
``last_seen`` is within the pair's time window of the report's ``observed_at`` (rules.py says
how a pair's radius and window are chosen). Ties in distance go to the smaller id. Otherwise the
report opens a new incident.

A thread stays in its incident when updated, even if it moved, unless it moved further than
``move_out_factor`` × radius from the centroid of the incident's other threads or its new family
fits none of theirs: then it leaves (``thread_moved_out``) and is clustered afresh. The centroid
is the mean of the live threads' latest positions (threads that carry no position are left out).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeAlias

from correlation.incident_state import Incident, Obs
from correlation.rules import Pair
from correlation.spatial import Grid, distance_m

Candidate: TypeAlias = tuple[Incident, float, float, int]
Scans: TypeAlias = tuple[tuple[Grid, float], ...]


def nearest(
    obs: Obs, live: Mapping[str, Incident], scans: Scans, pairs: Mapping[str, Pair]
) -> Candidate | None:
    """``(incident, distance, radius, window)`` of the nearest incident obs may join: ``scans``
    are the grids to search for its family with their radius, ``pairs`` its family's pair
    rules by the other family."""
    lon, lat, t_us = obs.lon, obs.lat, obs.t_us
    assert lon is not None
    assert lat is not None
    best: tuple[Incident, float, float, int] | None = None
    best_key: tuple[float, str] | None = None
    seen: set[str] | None = set() if len(scans) > 1 else None
    for grid, radius in scans:
        for ident in grid.near(lon, lat, radius):
            if seen is not None:
                if ident in seen:
                    continue
                seen.add(ident)
            incident = live[ident]
            reach, window = -1.0, -1
            for other in incident.families:
                pair = pairs.get(other)
                if pair is not None:
                    if pair.radius_m > reach:
                        reach = pair.radius_m
                    if pair.window_us > window:
                        window = pair.window_us
            if reach < 0 or abs(t_us - incident.last_us) > window:
                continue
            d = distance_m(lon, lat, incident.lon, incident.lat)  # type: ignore[arg-type]
            if d <= reach and (best_key is None or (d, ident) < best_key):
                best, best_key = (incident, d, reach, window), (d, ident)
    return best


def stays(
    incident: Incident, obs: Obs, pairs: Mapping[tuple[str, str], Pair], move_out_factor: float
) -> bool:
    """Whether an updated thread remains in its incident (see the module docstring)."""
    if len(incident.links) == 1 or incident.links[obs.thread].pinned:
        return True
    reach = -1.0
    sum_lon = sum_lat = 0.0
    located = 0
    for thread, link in incident.links.items():
        if thread == obs.thread:
            continue
        pair = pairs.get((obs.family, link.family))
        if pair is not None:
            reach = max(reach, pair.radius_m)
        if link.lon is not None and link.lat is not None:
            sum_lon += link.lon
            sum_lat += link.lat
            located += 1
    if reach < 0:
        return False
    if obs.lon is None or obs.lat is None or not located:
        return True
    d = distance_m(obs.lon, obs.lat, sum_lon / located, sum_lat / located)
    return d <= reach * move_out_factor
