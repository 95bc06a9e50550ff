"""Clustering: which reports share an incident (contract 2, shipped rules)."""

from __future__ import annotations

from correlation.changes import IncidentOpened, IncidentUpdated
from correlation.engine import Engine
from tests.correlation.helpers import KOBLENZ, MAINZ, feed, incidents, moved, report


def test_reports_within_radius_and_window_join(engine: Engine) -> None:
    changes = feed(
        engine,
        [
            report("fire", "f1", "fire.building", 0, KOBLENZ),
            report("health", "h1", "medical.emergency", 10, moved(KOBLENZ, east_m=200)),
        ],
    )
    kinds = [type(c).__name__ for c in changes if c.entity == "incident"]
    assert kinds == [IncidentOpened.__name__, IncidentUpdated.__name__]
    (incident,) = incidents(engine)
    assert incident["threads"] == ["fire:f1", "health:h1"]
    assert incident["families"] == ["fire", "medical"]
    link = incident["links"][1]
    assert link["thread"] == "health:h1"
    assert 190 < link["distance_m"] < 210
    assert link["time_gap_s"] == 600
    assert "medical joins fire" in link["reason"]


def test_report_beyond_radius_opens_a_new_incident(engine: Engine) -> None:
    feed(
        engine,
        [
            report("fire", "f1", "fire.building", 0, KOBLENZ),
            report("fire", "f2", "fire.building", 1, moved(KOBLENZ, north_m=260)),
        ],
    )
    assert len(incidents(engine)) == 2


def test_report_beyond_time_window_opens_a_new_incident(engine: Engine) -> None:
    feed(
        engine,
        [
            report("fire", "f1", "fire.building", 0, KOBLENZ),
            report("fire", "f2", "fire.building", 31, KOBLENZ),
        ],
    )
    assert len(incidents(engine)) == 2


def test_window_is_measured_from_last_seen(engine: Engine) -> None:
    feed(
        engine,
        [
            report("fire", "f1", "fire.building", 0, KOBLENZ),
            report("fire", "f1", "fire.building", 25, KOBLENZ, sequence=2),
            report("police", "p1", "accident.traffic", 50, KOBLENZ),
        ],
    )
    (incident,) = incidents(engine)
    assert incident["threads"] == ["fire:f1", "police:p1"]


def test_report_joins_the_nearest_of_two_candidates(engine: Engine) -> None:
    west, east = moved(KOBLENZ, east_m=-150), moved(KOBLENZ, east_m=150)
    feed(
        engine,
        [
            report("fire", "a", "fire.building", 0, west),
            report("fire", "b", "fire.building", 0, east),
            report("health", "h", "medical.emergency", 5, moved(KOBLENZ, east_m=40)),
        ],
    )
    by_thread = {tuple(i["threads"]): i for i in incidents(engine)}
    assert ("fire:b", "health:h") in by_thread
    assert ("fire:a",) in by_thread


def test_security_joins_only_security_medical_or_accident(engine: Engine) -> None:
    feed(
        engine,
        [
            report("fire", "f1", "fire.building", 0, KOBLENZ),
            report("police", "p1", "security.public_order", 2, KOBLENZ),
        ],
    )
    assert len(incidents(engine)) == 2  # security never joins a fire
    engine2 = type(engine)(engine.rules, engine.districts)
    feed(
        engine2,
        [
            report("health", "h1", "medical.emergency", 0, KOBLENZ),
            report("police", "p1", "security.public_order", 2, KOBLENZ),
            report("police", "p2", "security.public_order", 3, moved(KOBLENZ, north_m=100)),
        ],
    )
    (incident,) = incidents(engine2)
    assert incident["threads"] == ["health:h1", "police:p1", "police:p2"]


def test_security_report_opens_a_security_incident(engine: Engine) -> None:
    feed(engine, [report("police", "p1", "security.public_order", 0, MAINZ)])
    (incident,) = incidents(engine)
    assert incident["category"] == "security.public_order"
    assert incident["district"] == "07315"


def test_other_joins_only_other(engine: Engine) -> None:
    feed(
        engine,
        [
            report("other", "o1", "other.misc", 0, KOBLENZ),
            report("fire", "f1", "fire.building", 1, KOBLENZ),
            report("other", "o2", "other.misc", 2, moved(KOBLENZ, east_m=100)),
        ],
    )
    threads = sorted(tuple(i["threads"]) for i in incidents(engine))
    assert threads == [("fire:f1",), ("other:o1", "other:o2")]


def test_flood_and_infrastructure_join_over_two_kilometres(engine: Engine) -> None:
    feed(
        engine,
        [
            report("civil_protection", "c1", "flood.river", 0, KOBLENZ),
            report("fire", "f1", "infrastructure.power_outage", 120, moved(KOBLENZ, east_m=1900)),
            report("fire", "f2", "fire.building", 121, moved(KOBLENZ, east_m=1900)),
            report("police", "p1", "flood.river", 130, moved(KOBLENZ, north_m=-3000)),
        ],
    )
    threads = sorted(tuple(i["threads"]) for i in incidents(engine))
    assert threads == [("civil_protection:c1", "fire:f1"), ("fire:f2",), ("police:p1",)]


def test_police_fire_health_at_one_scene_make_one_incident(engine: Engine) -> None:
    feed(
        engine,
        [
            report("police", "p", "accident.traffic", 0, KOBLENZ, agency="PP Koblenz"),
            report(
                "fire", "f", "rescue.technical", 3, moved(KOBLENZ, east_m=60), agency="BF Koblenz"
            ),
            report("health", "h", "medical.mass_casualty", 6, moved(KOBLENZ, north_m=-80)),
        ],
    )
    (incident,) = incidents(engine)
    assert incident["agencies"] == ["BF Koblenz", "PP Koblenz", "health"]
    assert [link["reason"] == "opened" for link in incident["links"]] == [False, False, True]


def test_polygon_report_clusters_at_its_representative_point(engine: Engine) -> None:
    lon, lat = KOBLENZ
    square = [[lon - 0.001, lat - 0.001], [lon + 0.001, lat - 0.001], [lon + 0.001, lat + 0.001],
              [lon - 0.001, lat + 0.001], [lon - 0.001, lat - 0.001]]  # fmt: skip
    feed(
        engine,
        [
            report(
                "fire",
                "f1",
                "flood.urban",
                0,
                None,
                geometry={"type": "Polygon", "coordinates": [square]},
            ),
            report("fire", "f2", "flood.urban", 5, moved(KOBLENZ, east_m=500)),
        ],
    )
    (incident,) = incidents(engine)
    assert incident["district"] == "07111"
    assert abs(incident["centroid"][0] - (lon + moved(KOBLENZ, east_m=500)[0]) / 2) < 0.0005


def test_area_code_only_report_is_placed_in_its_municipality(engine: Engine) -> None:
    feed(engine, [report("police", "p1", "security.threat", 0, None, area_codes=["071110000000"])])
    (incident,) = incidents(engine)
    assert incident["district"] == "07111"
    assert incident["centroid"] is not None


def test_update_moving_far_leaves_the_incident(engine: Engine) -> None:
    feed(
        engine,
        [
            report("fire", "f1", "fire.building", 0, KOBLENZ),
            report("police", "p1", "accident.traffic", 1, KOBLENZ),
        ],
    )
    changes = feed(
        engine,
        [report("police", "p1", "accident.traffic", 2, moved(KOBLENZ, east_m=1100), sequence=2)],
    )
    reasons = [getattr(c, "reason", None) for c in changes if c.entity == "incident"]
    assert reasons == ["thread_moved_out", "opened"]
    threads = sorted(tuple(i["threads"]) for i in incidents(engine))
    assert threads == [("fire:f1",), ("police:p1",)]


def test_update_moving_a_little_stays(engine: Engine) -> None:
    feed(
        engine,
        [
            report("fire", "f1", "fire.building", 0, KOBLENZ),
            report("police", "p1", "accident.traffic", 1, KOBLENZ),
            report("police", "p1", "accident.traffic", 2, moved(KOBLENZ, east_m=900), sequence=2),
        ],
    )
    (incident,) = incidents(engine)
    assert incident["threads"] == ["fire:f1", "police:p1"]


def test_report_outside_rlp_is_an_incident_without_district(engine: Engine) -> None:
    feed(engine, [report("fire", "f1", "fire.building", 0, (13.4, 52.5))])  # Berlin
    (incident,) = incidents(engine)
    assert incident["district"] is None
    assert incident["centroid"] == [13.4, 52.5]


def test_report_that_cannot_be_located_is_an_incident_without_centroid(engine: Engine) -> None:
    feed(
        engine,
        [
            report("police", "p1", "security.threat", 0, None, area_codes=["09162000"]),  # Munich
            report("police", "p2", "security.threat", 1, None, area_codes=["09162000"]),
        ],
    )
    found = incidents(engine)
    assert [(i["centroid"], i["district"]) for i in found] == [(None, None), (None, None)]
    # located later by an update of its thread
    feed(engine, [report("police", "p1", "security.threat", 2, MAINZ, sequence=2)])
    located = [i for i in incidents(engine) if i["threads"] == ["police:p1"]]
    assert located[0]["district"] == "07315"
