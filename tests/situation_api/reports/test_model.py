"""The frozen report snapshot: the picture at T, figures, region filter, timeline, series."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from correlation import Picture
from correlation.changes import DistrictLevelChanged
from ops.replay import run_replay
from situation_api.reports import ReportInvalid, ReportOptions, SituationReport, build_report
from situation_api.reports.model import SEVERITIES, Figures, picture_until, window
from tests.situation_api.reports.conftest import AT, START, Day


def test_picture_at_t_is_the_replayed_picture(day: Day, report: SituationReport) -> None:
    # `lagezentrum replay --at T` over the same reports (minus the operator action) must hold
    # the same incidents; the operator-resolved one is the only status difference.
    engine, _ = run_replay(list(day.reports), at=AT)
    replayed = engine.picture()
    assert {i.id for i in report.incidents} == set(replayed.incidents)
    ours = picture_until(day.base, day.changes, AT)
    assert ours.incidents == day.engine.picture().incidents
    assert ours.districts == day.engine.picture().districts
    differing = {i.id for i in report.incidents if i.status != replayed.incidents[i.id]["status"]}
    assert differing <= {day.resolved_by_operator}


def test_district_counts_agree_with_the_engine(day: Day, report: SituationReport) -> None:
    views = day.engine.picture().districts
    assert len(report.districts) == len(views) == 36
    for row in report.districts:
        engine_counts = views[row.ags]["open_incidents"]
        assert row.open_by_severity == tuple(engine_counts[s] for s in SEVERITIES), row.ags
        assert row.level == views[row.ags]["level"]
        assert row.icu_beds_free == views[row.ags]["icu_beds_free"]


def test_totals_are_the_sums_of_the_rows(report: SituationReport) -> None:
    t = report.totals
    inside = [i for i in report.incidents if i.district is not None]
    assert len(inside) == len(report.incidents)  # the scenario stays inside the state
    assert t.incidents == len(report.incidents) > 100
    assert t.open == sum(d.open_total for d in report.districts) > 0
    assert t.resolved == sum(d.resolved for d in report.districts) > 0
    figures = Figures()
    for d in report.districts:
        figures = figures + d.figures
    assert figures == t.figures
    assert t.figures.injured > 0
    assert t.figures.evacuated > 0
    assert t.max_level == max(d.level for d in report.districts) >= 1
    assert t.icu_beds_free == sum(d.icu_beds_free or 0 for d in report.districts)
    assert t.warnings == len(report.warnings)


def test_series_ends_at_the_open_total_and_starts_at_the_window_start(
    day: Day, report: SituationReport
) -> None:
    assert report.series[0][0] == START
    assert report.series[-1][0] == AT
    assert report.series[-1][1] == report.totals.open
    at_start = picture_until(day.base, day.changes, START)
    assert report.series[0][1] == sum(
        1 for v in at_start.incidents.values() if v["status"] == "open"
    )
    middle = report.series[len(report.series) // 2]
    at_middle = picture_until(day.base, day.changes, middle[0])
    assert middle[1] == sum(1 for v in at_middle.incidents.values() if v["status"] == "open")


def test_timeline_holds_every_level_change_in_the_window(day: Day, report: SituationReport) -> None:
    expected = [
        c for c in day.changes if isinstance(c, DistrictLevelChanged) and START < c.at <= AT
    ]
    levels = [e for e in report.timeline if e.kind == "level"]
    assert len(levels) == len(expected) > 0
    assert all(START < e.at <= AT for e in report.timeline)
    assert [e.at for e in report.timeline] == sorted(e.at for e in report.timeline)
    severe = [e for e in report.timeline if e.kind == "incident"]
    assert severe
    assert all(e.severity in ("severe", "extreme") for e in severe)
    assert any("Stufe" in e.text for e in levels)


def test_operator_actions_become_journal_entries(day: Day, report: SituationReport) -> None:
    (entry,) = report.journal
    title = next(
        v["title"]
        for v in day.engine.picture().incidents.values()
        if v["id"] == day.resolved_by_operator
    )
    assert title in entry.text
    assert entry.author == "Lagedienst"


def test_region_filter(day: Day) -> None:
    region = ("07111", "07137")
    filtered = build_report(
        day.base, day.changes, ReportOptions(at=AT, start=START, districts=region, lang="en")
    )
    assert [d.ags for d in filtered.districts] == list(region)
    assert filtered.incidents
    assert all(i.district in region for i in filtered.incidents)
    assert all(set(w.districts) & set(region) for w in filtered.warnings)
    assert filtered.number.startswith("LB-20240602-0200Z-")
    assert filtered.region == region
    assert "Koblenz (07111)" in filtered.region_label
    assert filtered.series[-1][1] == filtered.totals.open
    assert filtered.classification == "UNCLASSIFIED"


def test_the_same_request_gives_the_same_report(day: Day, report: SituationReport) -> None:
    again = build_report(day.base, list(reversed(day.changes)), ReportOptions(at=AT, start=START))
    assert again == report
    assert report.number == "LB-20240602-0200Z"
    assert report.classification == "OFFEN"


def test_bad_options_name_the_option(day: Day) -> None:
    with pytest.raises(ReportInvalid) as unknown:
        build_report(day.base, day.changes, ReportOptions(at=AT, start=START, districts=("99999",)))
    assert unknown.value.option == "district"
    assert "99999" in unknown.value.reason
    with pytest.raises(ReportInvalid) as order:
        build_report(day.base, day.changes, ReportOptions(at=START, start=AT))
    assert order.value.option == "from"
    with pytest.raises(ReportInvalid) as naive:
        build_report(day.base, day.changes, ReportOptions(at=datetime(2024, 6, 2), start=START))
    assert naive.value.option == "at"


def test_window_defaults_and_conflicts() -> None:
    now = datetime(2024, 6, 2, 12, tzinfo=UTC)
    assert window(None, None, None, now=now) == (now - timedelta(hours=24), now)
    assert window(now, None, None, now=AT)[1] == now
    start = now - timedelta(hours=4)
    assert window(None, start, now, now=AT) == (start, now)
    with pytest.raises(ReportInvalid, match="at"):
        window(now, None, now - timedelta(hours=1), now=now)
    with pytest.raises(ReportInvalid, match="from"):
        window(None, now, now, now=now)


def test_empty_picture_gives_an_empty_but_complete_report() -> None:
    from correlation import Engine

    base: Picture = Engine().picture()
    empty = build_report(base, [], ReportOptions(at=AT, start=START))
    assert empty.totals.incidents == 0
    assert len(empty.districts) == 36
    assert [count for _, count in empty.series] == [0] * len(empty.series)
    assert empty.timeline == ()
    assert empty.journal == ()
