"""A day of the deterministic RLP scenario, replayed once per session, for the report tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from correlation import Change, Engine, Picture
from ingest.report import Point, Report
from ops.inputs import log_order
from ops.scenario import DEFAULT_START, generate
from situation_api.reports import ReportOptions, SituationReport, build_report

AT = DEFAULT_START + timedelta(hours=20)
START = AT - timedelta(hours=24)
HOSTILE = '=HYPERLINK("evil") </script><script>alert("x")</script> & <b>'


@dataclass(frozen=True)
class Day:
    reports: tuple[Report, ...]
    base: Picture
    changes: tuple[Change, ...]
    engine: Engine  # its state is the picture at AT
    resolved_by_operator: str  # incident id


def _replay() -> Day:
    scenario = generate(incidents=240, seed=11, warnings=6, capacity_reports=90)
    hostile = Report(
        source="police",
        source_id="HOSTILE-1",
        category="security.public_order",
        observed_at=DEFAULT_START + timedelta(hours=19),
        severity="severe",
        geometry=Point([7.6011, 50.3612]),
        headline=HOSTILE,
        agency="PP <Koblenz> & Co",
    )
    reports = (*scenario.reports, hostile)
    engine = Engine()
    base = engine.picture()
    changes: list[Change] = []
    operator_at = DEFAULT_START + timedelta(hours=12)
    resolved = ""
    for report in log_order(list(reports)):
        if report.observed_at > AT:
            continue
        if not resolved and report.observed_at > operator_at:
            target = next(
                v["id"] for v in engine.picture().incidents.values() if v["status"] == "open"
            )
            changes.extend(engine.resolve(target, operator_at))
            resolved = target
        changes.extend(engine.process(report))
    changes.extend(engine.advance(AT))
    return Day(tuple(reports), base, tuple(changes), engine, resolved)


@pytest.fixture(scope="session")
def day() -> Day:
    return _replay()


@pytest.fixture(scope="session")
def report(day: Day) -> SituationReport:
    return build_report(day.base, day.changes, ReportOptions(at=AT, start=START))
