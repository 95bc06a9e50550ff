"""The scenario generator: determinism, valid reports and the ground-truth promises."""

from __future__ import annotations

import itertools
import math
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import pytest
import shapely

from ingest.districts import rlp_districts
from ingest.geometry import to_shapely
from ingest.report import Point, Report, decode_report, encode_report
from ops.scenario import (
    AREA_FAMILIES,
    AREA_JITTER_M,
    SCENE_JITTER_M,
    SPACING,
    Scenario,
    ScenarioIncident,
    generate,
    generate_reports,
)

START = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Haversine: independent of the generator's own flat-earth approximation."""
    lon1, lat1, lon2, lat2 = map(math.radians, (*a, *b))
    h = (math.sin((lat2 - lat1) / 2) ** 2
         + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2)  # fmt: skip
    return 2 * 6_371_008.8 * math.asin(math.sqrt(h))


def _point(report: Report) -> tuple[float, float]:
    assert isinstance(report.geometry, Point)
    return (report.geometry.coordinates[0], report.geometry.coordinates[1])


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return generate(
        incidents=400, seed=7, start=START, duration=timedelta(hours=12),
        updates=0.4, cancels=0.1, warnings=12, capacity_reports=60,
    )  # fmt: skip


@pytest.fixture(scope="module")
def by_thread(scenario: Scenario) -> dict[str, list[Report]]:
    threads: dict[str, list[Report]] = defaultdict(list)
    for report in scenario.reports:
        threads[report.thread].append(report)
    return threads


def test_same_seed_same_bytes_other_seed_other_bytes() -> None:
    def encoded(seed: int) -> list[bytes]:
        made = generate(incidents=60, seed=seed, warnings=3, capacity_reports=10)
        return [encode_report(r) for r in made.reports]

    assert encoded(3) == encoded(3)
    assert encoded(3) != encoded(4)
    assert generate_reports(500, seed=2) == generate_reports(500, seed=2)


def test_every_report_round_trips_through_the_canonical_json(scenario: Scenario) -> None:
    for report in scenario.reports:
        assert decode_report(encode_report(report)) == report


def test_counts_are_as_asked(scenario: Scenario) -> None:
    assert len(scenario.incidents) == 400
    assert len(scenario.warnings) == 12
    capacity = [r for r in scenario.reports if r.family == "capacity"]
    assert len(capacity) == 60
    families = Counter(i.family for i in scenario.incidents)
    assert set(families) == {"fire", "accident", "rescue", "medical", "hazmat", "security",
                             "flood", "infrastructure"}  # fmt: skip
    threads = [t for i in scenario.incidents for t in i.threads]
    assert len(threads) == len(set(threads))
    assert 1.3 < len(threads) / len(scenario.incidents) < 2.6  # 1-3 agencies, mostly 1-2
    updated = {r.thread for r in scenario.reports if r.msg_type == "update"}
    assert 0.25 < len(updated & set(threads)) / len(threads) < 0.55  # asked for 0.4
    cancelled = {r.thread for r in scenario.reports if r.msg_type == "cancel"}
    assert cancelled == scenario.cancelled_threads
    assert 0.05 < len(cancelled & set(threads)) / len(threads) < 0.16  # asked for 0.1
    assert {r.source for r in scenario.reports} == {"police", "fire", "health", "weather"}
    keys = [i.key for i in scenario.incidents]
    assert len(set(keys)) == len(keys)


def test_generate_reports_makes_exactly_that_many() -> None:
    for total in (0, 1, 7, 2_345):
        made = generate_reports(total, seed=5)
        assert len(made.reports) == total
    made = generate_reports(12_000, seed=5)
    assert len(made.reports) == 12_000
    assert len(made.warnings) == 2
    in_incidents = {t for i in made.incidents for t in i.threads}
    incident_reports = [r for r in made.reports if r.thread in in_incidents]
    assert len(incident_reports) > 0.95 * 12_000


def test_reports_lie_in_rlp_in_their_incident_district(
    scenario: Scenario, by_thread: dict[str, list[Report]]
) -> None:
    districts = rlp_districts()
    for incident in scenario.incidents:
        assert districts.at(incident.lon, incident.lat) == incident.district
        jitter = AREA_JITTER_M if incident.family in AREA_FAMILIES else SCENE_JITTER_M
        for thread in incident.threads:
            for report in by_thread[thread]:
                if report.geometry is None:
                    assert report.msg_type == "cancel"
                    continue
                point = _point(report)
                assert districts.at(*point) == incident.district
                assert _metres(point, (incident.lon, incident.lat)) <= jitter + 1.0


def test_threads_are_well_formed(scenario: Scenario, by_thread: dict[str, list[Report]]) -> None:
    for incident in scenario.incidents:
        firsts = []
        for thread in incident.threads:
            reports = by_thread[thread]
            # Arrival order keeps each thread's order: versions are minutes apart, delays < 2 min.
            assert [r.sequence for r in reports] == list(range(1, len(reports) + 1))
            assert reports[0].msg_type == "alert"
            assert all(r.msg_type == "update" for r in reports[1:-1])
            assert (reports[-1].msg_type == "cancel") == (thread in scenario.cancelled_threads)
            assert len({r.category for r in reports}) == 1
            assert len({_point(r) for r in reports if r.geometry is not None}) == 1
            family = reports[0].family
            assert family == incident.family or (
                family == "security" and incident.family in {"medical", "accident"}
            )
            assert reports[-1].observed_at - reports[0].observed_at <= timedelta(minutes=110)
            firsts.append(reports[0].observed_at)
        # The primary opens the incident; the others join within 15 minutes.
        assert firsts[0] == incident.start == min(firsts)
        assert all(timedelta(minutes=2) < f - incident.start <= timedelta(minutes=15)
                   for f in firsts[1:])  # fmt: skip
        assert by_thread[incident.threads[0]][0].category == incident.category
        last_start = max(firsts)
        for thread in incident.threads:
            if thread in scenario.cancelled_threads:  # only after every thread has started
                assert by_thread[thread][-1].observed_at > last_start
        assert incident.end == max(by_thread[t][-1].observed_at for t in incident.threads)


def test_agencies_are_plausible(scenario: Scenario) -> None:
    agencies = Counter((r.source, r.agency) for r in scenario.reports)
    names = {agency for _, agency in agencies}
    assert {"PP Koblenz", "PP Mainz", "PP Trier", "PP Rheinpfalz", "PP Westpfalz"} <= names
    assert {"BF Mainz", "BF Koblenz", "ILS Trier"} <= names
    for source, agency in agencies:
        assert agency is not None
        prefixes = {"police": ("PP ",), "fire": ("BF ", "FW "), "health": ("ILS ", "DIVI"),
                    "weather": ("Deutscher Wetterdienst",)}[source]  # fmt: skip
        assert agency.startswith(prefixes), (source, agency)


def test_spacing_makes_the_ground_truth_unambiguous(scenario: Scenario) -> None:
    """Distinct incidents are apart in space or in time, as the module docstring promises."""

    def group(incident: ScenarioIncident) -> str:
        return "area" if incident.family in AREA_FAMILIES else "scene"

    for a, b in itertools.combinations(scenario.incidents, 2):
        distance, gap = SPACING[(group(a), group(b))]
        apart_in_time = b.start - a.end >= gap or a.start - b.end >= gap
        # 0.5 % slack: the generator measures on a flat earth.
        assert apart_in_time or _metres((a.lon, a.lat), (b.lon, b.lat)) >= distance * 0.995
    # So no report is within a scene radius (250 m, 30 min) of another incident's report.


def test_log_order_is_event_time_with_small_disorder(scenario: Scenario) -> None:
    times = [r.observed_at for r in scenario.reports]
    latest = times[0]
    late = 0
    for at in times:
        assert latest - at <= timedelta(minutes=2)
        late += at < latest
        latest = max(latest, at)
    assert 0 < late < len(times) // 3


def test_warnings_and_capacity(scenario: Scenario, by_thread: dict[str, list[Report]]) -> None:
    districts = rlp_districts()
    for warning in scenario.warnings:
        reports = by_thread[warning.thread]
        assert all(r.source == "weather" and r.feed_format == "cap" for r in reports)
        assert all(r.category == warning.category for r in reports)
        first = reports[0]
        assert first.onset_at == warning.onset
        assert max(r.expires_at for r in reports if r.expires_at) == warning.expires
        assert warning.onset < warning.expires
        if first.area_codes:
            assert districts.for_codes(first.area_codes) == warning.districts
        else:
            assert first.geometry is not None
            area = to_shapely(first.geometry)
            assert districts.intersecting(area) == warning.districts
        assert warning.districts
        assert warning.cancelled == (reports[-1].msg_type == "cancel")
    latest: dict[str, int] = {}
    for report in sorted(scenario.reports, key=lambda r: r.observed_at):
        if report.family == "capacity":
            assert report.source == "health"
            assert report.geometry is None
            (ags,) = districts.for_codes(report.area_codes)
            latest[ags] = report.metrics["icu_beds_free"]
    assert tuple(sorted(latest.items())) == scenario.capacity


def test_locations_follow_population() -> None:
    made = generate(incidents=600, seed=11, duration=timedelta(days=3))
    districts = rlp_districts()
    per_km2: dict[str, float] = {}
    counts = Counter(i.district for i in made.incidents)
    for district in districts.all():
        area = shapely.area(district.geometry) * 111.3 * 71.5  # deg² → km² at 50° N
        per_km2[district.ags] = counts[district.ags] / area
    cities = [per_km2[d.ags] for d in districts.all() if d.kind == "Kreisfreie Stadt"]
    rural = [per_km2[d.ags] for d in districts.all() if d.kind == "Landkreis"]
    assert sum(cities) / len(cities) > 3 * sum(rural) / len(rural)
    assert len(counts) > 30


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="negative"):
        generate(incidents=-1)
    with pytest.raises(ValueError, match="time zone"):
        generate(incidents=1, start=datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="too dense"):
        generate(incidents=3_000, duration=timedelta(minutes=10))
    with pytest.raises(ValueError, match="negative"):
        generate_reports(-5)
