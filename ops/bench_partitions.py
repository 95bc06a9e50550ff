"""``lagezentrum bench partitions``: how far the distributed mode's picture departs from the
embedded one because clustering stops at partition borders.

The generated RLP scenario is fed once to one engine (the embedded mode) and once, routed
exactly as the ingest publisher routes it (region key of a thread's first report, broadcast of
warnings and state-wide capacity), to one :class:`~ops.workers.partition.PartitionEngine` per
partition (the distributed mode without Kafka in between). Both are advanced to the same final
time; the incidents each partition owns make up the distributed picture. An incident counts as
equal when some incident of the other picture has exactly the same contributing threads.
Prints one JSON object.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Annotated, Any

import msgspec
import typer

from ops.cli import bench_app


def compare(incidents: int, partitions: int, seed: int, hours: float) -> dict[str, Any]:
    from correlation.engines import engine_type
    from correlation.rules import Rules
    from ingest.bus.regions import RegionOf
    from ingest.bus.wire import encode_for_bus, partition_for
    from ops.scenario import generate
    from ops.workers.partition import PartitionEngine

    plan = generate(
        incidents=incidents,
        seed=seed,
        duration=timedelta(hours=hours),
        warnings=max(incidents // 500, 1),
        capacity_reports=max(incidents // 75, 1),
    )
    region = RegionOf(Rules.default())
    embedded = engine_type()()
    engines = [PartitionEngine(p, partitions) for p in range(partitions)]
    keys: dict[str, bytes | None] = {}
    offsets = [0] * partitions
    last = None
    for report in plan.reports:
        # arrival shortly after the event, as a live feed would deliver it
        last = report.observed_at + timedelta(seconds=30)
        report = msgspec.structs.replace(report, received_at=last)
        embedded.advance(last)
        embedded.process(report)
        if report.thread not in keys:  # a thread keeps the key of its first report
            found = region(report)
            keys[report.thread] = None if found is None else found.encode()
        key = keys[report.thread]
        value = encode_for_bus(report)
        targets = range(partitions) if key is None else (partition_for(key, partitions),)
        for target in targets:
            engines[target].handle(offsets[target], value)
            offsets[target] += 1
    if last is not None:
        for engine in engines:
            engine.tick(last)
    one = embedded.picture().incidents
    split: dict[str, dict[str, Any]] = {}
    for engine in engines:
        split.update(engine.engine.picture().incidents)

    def groups(views: dict[str, dict[str, Any]]) -> set[frozenset[str]]:
        return {frozenset(view["threads"]) for view in views.values()}

    same = groups(one) & groups(split)
    return {
        "bench": "partitions",
        "reports": len(plan.reports),
        "incidents_generated": incidents,
        "partitions": partitions,
        "live_incidents_embedded": len(one),
        "live_incidents_partitioned": len(split),
        "equal": len(same),
        "embedded_only": len(one) - len(same),
        "partitioned_only": len(split) - len(same),
        "reports_per_partition": offsets,
    }


@bench_app.command("partitions")
def bench_partitions(
    incidents: Annotated[int, typer.Option(min=1, help="incidents in the scenario")] = 3_000,
    partitions: Annotated[int, typer.Option(min=1, help="partitions of lz.reports.v1")] = 6,
    seed: Annotated[int, typer.Option(help="scenario seed")] = 5,
    hours: Annotated[float, typer.Option(min=1, help="scenario length")] = 48,
) -> None:
    """Embedded against partitioned picture of one scenario: incidents that differ."""
    typer.echo(json.dumps(compare(incidents, partitions, seed, hours)))
