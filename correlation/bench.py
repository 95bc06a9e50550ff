"""Throughput of the engine alone on synthetic point reports: ``python -m correlation.bench``.

Incidents start every ``--spacing`` seconds at random places in Rheinland-Pfalz; each gets 1-4
reports from police, fire and health within 100 m and 20 minutes, some with updates. Reports
are built before timing, so only ``Engine.process`` is measured, in slices of 10,000 to show
that the cost per report stays flat as the picture fills up.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime, timedelta

from correlation.engine import Engine
from ingest.report import Point, Report

_FAMILIES = (
    ("fire", "fire.building"),
    ("police", "accident.traffic"),
    ("health", "medical.emergency"),
    ("fire", "rescue.technical"),
)
_SEVERITIES = ("minor", "moderate", "moderate", "severe", "unknown")


def synthetic(count: int, *, seed: int = 7, spacing_s: float = 10.0) -> list[Report]:
    rng = random.Random(seed)
    start = datetime(2026, 11, 29, tzinfo=UTC)
    pending: list[tuple[datetime, Report]] = []
    n = 0
    incident = 0
    while n < count:
        t0 = start + timedelta(seconds=incident * spacing_s)
        lon, lat = rng.uniform(6.2, 8.4), rng.uniform(49.1, 50.8)
        for k in range(rng.randint(1, 4)):
            source, category = _FAMILIES[k]
            at = t0 + timedelta(seconds=rng.uniform(0, 1200))
            versions = 2 if rng.random() < 0.3 else 1
            for sequence in range(1, versions + 1):
                report = Report(
                    source=source,  # type: ignore[arg-type]
                    source_id=f"{incident}-{k}",
                    category=category,
                    observed_at=at + timedelta(seconds=60 * (sequence - 1)),
                    sequence=sequence,
                    severity=rng.choice(_SEVERITIES),  # type: ignore[arg-type]
                    geometry=Point(
                        [lon + rng.uniform(-0.0008, 0.0008), lat + rng.uniform(-0.0006, 0.0006)]
                    ),
                    metrics={"injured": rng.randint(0, 3)} if rng.random() < 0.3 else {},
                    agency=f"{source} unit {incident % 17}",
                )
                pending.append((report.observed_at, report))
                n += 1
        incident += 1
    pending.sort(key=lambda p: p[0])
    return [r for _, r in pending[:count]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reports", type=int, default=200_000)
    parser.add_argument("--spacing", type=float, default=10.0)
    args = parser.parse_args()
    reports = synthetic(args.reports, spacing_s=args.spacing)
    engine = Engine()
    changes = 0
    total = 0.0
    for offset in range(0, len(reports), 10_000):
        chunk = reports[offset : offset + 10_000]
        began = time.process_time()
        for report in chunk:
            changes += len(engine.process(report))
        spent = time.process_time() - began
        total += spent
        if offset % 50_000 == 0 or offset + 10_000 >= len(reports):
            print(
                f"{offset + len(chunk):>8} reports: {len(chunk) / spent:>9,.0f}/s in this slice, "
                f"{len(engine.picture().incidents)} live incidents"
            )
    print(f"total {len(reports)} reports, {changes} changes, {len(reports) / total:,.0f} reports/s")


if __name__ == "__main__":
    main()
