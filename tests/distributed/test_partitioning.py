"""Pure parts of the distributed mode: Kafka's partitioner, region keys, partition recovery."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
from aiokafka.partitioner import murmur2 as kafka_murmur2  # type: ignore[import-untyped]
from hypothesis import given
from hypothesis import strategies as st

from correlation.changes import Change, DistrictUpdated, EncodedChange, WarningExpired
from correlation.engine import Engine
from correlation.picture import picture_json
from correlation.rules import Rules
from ingest.bus.regions import OUTSIDE, RegionOf
from ingest.bus.wire import encode_for_bus, murmur2, partition_for
from ingest.report import report_from_mapping
from ops.workers.partition import PartitionEngine
from tests.distributed.conftest import scenario


@given(st.binary(max_size=64))
def test_murmur2_is_kafkas(data: bytes) -> None:
    # Java's murmur2 is a signed int, aiokafka's the same bits unsigned.
    assert murmur2(data) & 0xFFFFFFFF == kafka_murmur2(data)
    assert partition_for(data, 6) == (kafka_murmur2(data) & 0x7FFFFFFF) % 6


def test_regions_follow_the_engine_routing() -> None:
    region = RegionOf(Rules.default())
    base = {"source": "police", "source_id": "x", "observed_at": "2026-11-29T10:00:00Z"}
    mainz = {"type": "Point", "coordinates": [8.2473, 49.9929]}
    accident = report_from_mapping({**base, "category": "accident.traffic", "geometry": mainz})
    assert region(accident) == "07315"  # Mainz
    warning = report_from_mapping({**base, "category": "weather.storm", "area_codes": ["07315"]})
    assert region(warning) is None  # broadcast to every partition
    state = report_from_mapping(
        {**base, "category": "capacity.hospital", "area_codes": ["07"], "metrics": {"beds_free": 1}}
    )
    assert region(state) is None
    berlin = {"type": "Point", "coordinates": [13.4, 52.5]}
    assert (
        region(report_from_mapping({**base, "category": "fire.x", "geometry": berlin})) == OUTSIDE
    )


def test_recovery_from_snapshot_and_journal_equals_uninterrupted() -> None:
    """A partition engine rebuilt from a snapshot plus its journal continues exactly like the
    one that never stopped, and skips records it already applied."""
    reports = scenario(seed=5, incidents=20).reports
    values = [
        encode_for_bus(msgspec.structs.replace(r, received_at=r.observed_at)) for r in reports
    ]
    steady = PartitionEngine(0, 1)
    for offset, value in enumerate(values):
        steady.handle(offset, value)
    crashed = PartitionEngine(0, 1)
    cut, journal_from = len(values) // 2, len(values) // 3
    for offset, value in enumerate(values[:journal_from]):
        crashed.handle(offset, value)
    snapshot = crashed.snapshot()
    journal = list(enumerate(values))[journal_from:cut]
    restored = PartitionEngine.recover(0, 1, snapshot, journal)
    assert restored.offset == cut - 1
    assert restored.handle(cut - 1, values[cut - 1]) is None  # re-delivered: skipped
    for offset in range(cut, len(values)):
        restored.handle(offset, values[offset])
    assert picture_json(restored.engine.picture()) == picture_json(steady.engine.picture())
    reference = Engine()
    for report in reports:
        reference.advance(report.observed_at)
        reference.process(report)
    assert picture_json(reference.picture()) == picture_json(steady.engine.picture())


def test_every_entity_is_published_by_exactly_one_partition() -> None:
    engines = [PartitionEngine(p, 4) for p in range(4)]
    at = datetime(2026, 11, 29, tzinfo=UTC)
    made: list[Change] = [
        DistrictUpdated(seq=1, at=at, entity="district", id=ags, view=None, reason="x")
        for ags in Engine().picture().districts
    ]
    made.append(WarningExpired(seq=1, at=at, entity="warning", id="wrn-1", view=None))
    changes = [EncodedChange.of(change) for change in made]
    owners = [[e.partition for e in engines if e.owns(c)] for c in changes]
    assert all(len(found) == 1 for found in owners)
    assert len({found[0] for found in owners}) == 4  # the districts spread over all partitions
