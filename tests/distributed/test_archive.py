"""``lagezentrum archive`` on a real Kafka broker and a real PostgreSQL.

Reports published to ``lz.reports.v1`` become report-log rows (a broadcast warning once, the raw
payload as submitted), the changes on ``lz.situation.v1`` become history rows; a restarted
archive, and even a second archive that reads both topics again from the start, adds no row
twice; and a ``lagezentrum api`` process on the same database serves past pictures from that
history (``GET /api/v1/situation?at=…``) that equal the embedded mode's picture at those times.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from correlation.rules import Rules
from ingest.bus.publisher import KafkaReportLog
from ingest.bus.regions import RegionOf
from ingest.report import Report, decode_report
from ingest.store import Database
from ops.archive import Archive
from ops.kafka.topics import REPORTS_TOPIC, SITUATION_TOPIC
from situation_api.history import PostgresHistoryStore
from tests.distributed.conftest import PARTITIONS, essence, services
from tests.distributed.processes import Child, child_env

KOBLENZ = (7.5886, 50.3569)
MAINZ = (8.2473, 49.9929)
TRIER = (6.6414, 49.7596)
SPEYER = (8.4312, 49.3173)


def canonical(t0: datetime, minutes: float, **fields: Any) -> tuple[Report, bytes]:
    """A report as an agency submits it: the JSON bytes and the report they decode to."""
    body: dict[str, Any] = {
        "observed_at": (t0 + timedelta(minutes=minutes)).isoformat(),
        **fields,
    }
    raw = json.dumps(body, separators=(", ", ": ")).encode()
    return decode_report(raw), raw


def point(position: tuple[float, float]) -> dict[str, Any]:
    return {"type": "Point", "coordinates": list(position)}


def first_reports(t0: datetime) -> list[tuple[Report, bytes]]:
    """Three scenes in three districts, a state weather warning, an update raising a severity."""
    return [
        canonical(t0, 0, source="police", source_id="PP-KO-1", category="accident.traffic",
                  severity="severe", geometry=point(KOBLENZ), headline="Unfall B9"),
        canonical(t0, 5, source="weather", source_id="DWD-RLP-1",
                  category="weather.thunderstorm", severity="moderate",
                  expires_at=(t0 + timedelta(hours=8)).isoformat(),
                  area_codes=["07315", "07111"], headline="Gewitter"),
        canonical(t0, 10, source="fire", source_id="BF-MZ-1", category="fire.building",
                  severity="moderate", geometry=point(MAINZ), headline="Brand Altstadt"),
        canonical(t0, 20, source="police", source_id="PP-TR-1", category="accident.traffic",
                  severity="minor", geometry=point(TRIER), headline="Auffahrunfall"),
        canonical(t0, 25, source="police", source_id="PP-KO-1", sequence=2, msg_type="update",
                  category="accident.traffic", severity="extreme", geometry=point(KOBLENZ),
                  headline="Unfall B9, Bus beteiligt"),
    ]  # fmt: skip


def later_report(t0: datetime) -> tuple[Report, bytes]:
    return canonical(t0, 40, source="fire", source_id="BF-SP-1", category="fire.building",
                     severity="severe", geometry=point(SPEYER), headline="Brand Hafen")  # fmt: skip


async def publish(bootstrap: str, items: list[tuple[Report, bytes]]) -> None:
    """Publish like an ingest process (its own producer, so nothing is deduplicated in memory)."""
    publisher = KafkaReportLog(bootstrap, topic=REPORTS_TOPIC, region=RegionOf(Rules.default()))
    await publisher.start()
    try:
        await publisher.append(items)
    finally:
        await publisher.close()


async def until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


async def situation_records(bootstrap: str) -> int:
    """Records on the situation topic that carry a change (not clock records, not tombstones),
    counted with a plain consumer: what the archive must hold exactly once each."""
    from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(SITUATION_TOPIC, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        count = 0
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                count += sum(
                    1
                    for r in records
                    if r.value is not None and not (r.key or b"").startswith(b"clock:")
                )
        return count
    finally:
        await consumer.stop()


class Tables:
    """The archive's rows, read straight from PostgreSQL."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def reports(self) -> list[tuple[str, str, int, bytes]]:
        rows = await self.db.pool.fetch(
            "SELECT source, source_id, sequence, raw FROM reports ORDER BY log_offset"
        )
        return [(r[0], r[1], r[2], bytes(r[3])) for r in rows]

    async def keys(self) -> int:
        count: int = await self.db.pool.fetchval("SELECT count(*) FROM report_keys")
        return count

    async def changes(self) -> list[tuple[int, str, str, bytes]]:
        stored = await PostgresHistoryStore(self.db).since(0, 1_000_000)
        return [(c.seq, c.entity, c.entity_id, c.payload) for c in stored]

    async def has_tables(self) -> bool:
        found = await self.db.pool.fetchval(
            "SELECT to_regclass('situation_change_blocks') IS NOT NULL"
        )
        return bool(found)


def summary(picture: dict[str, Any]) -> dict[str, Any]:
    """Incidents as (threads → severity) and warnings as thread lists: what the reports say."""
    return {
        "incidents": {",".join(sorted(i["threads"])): i["severity"] for i in picture["incidents"]},
        "warnings": sorted(",".join(sorted(w["threads"])) for w in picture["warnings"]),
    }


async def embedded_at(items: list[tuple[Report, bytes]], moments: list[datetime]) -> list[Any]:
    """The embedded mode's pictures at ``moments`` after the same reports."""
    async with services("memory://") as embedded:
        await embedded.report_log.append(items)
        assert await embedded.runtime.wait_processed(len(items), timeout=30)
        await asyncio.sleep(0.5)  # a tick: the timers the clock passed have fired
        return [json.loads(await embedded.picture_at(moment)) for moment in moments]


async def test_archive_keeps_reports_and_history_once_and_serves_past_pictures(
    bus_url: str,
    workers: Callable[[], subprocess.Popen[bytes]],
    pg_fresh_url: str,
    tmp_path: Path,
) -> None:
    bootstrap = bus_url.removeprefix("kafka://")
    t0 = (datetime.now(UTC) - timedelta(minutes=60)).replace(second=0, microsecond=0)
    items = first_reports(t0)
    env = child_env()
    common = ["--bus", bus_url, "--database-url", pg_fresh_url, "--partitions", str(PARTITIONS)]
    workers()
    await publish(bootstrap, items)
    # A second ingest process that re-publishes an accepted report: a re-delivery.
    await publish(bootstrap, items[2:3])

    archive = Child(["archive", *common], log=tmp_path / "archive.log", env=env)
    db = await Database.connect(pg_fresh_url)
    tables = Tables(db)
    api: Child | None = None
    try:
        # The API migrates the same schema; start it once the archive has (both would wait on
        # the migration lock, but a quiet start keeps the logs readable).
        await until(tables.has_tables, "the archive's migrations")
        api = Child(["api", *common, "--port", "0"], log=tmp_path / "api.log", env=env)
        url = await asyncio.to_thread(api.wait_announced)
        async with httpx.AsyncClient(base_url=url, timeout=20) as http:

            async def situation(at: datetime | None = None) -> dict[str, Any]:
                params = {} if at is None else {"at": at.isoformat()}
                response = await http.get("/api/v1/situation", params=params)
                assert response.status_code == 200, response.text
                picture: dict[str, Any] = response.json()
                return picture

            want_live = {
                "incidents": {
                    "police:PP-KO-1": "extreme",
                    "fire:BF-MZ-1": "moderate",
                    "police:PP-TR-1": "minor",
                },
                "warnings": ["weather:DWD-RLP-1"],
            }

            async def live_complete() -> bool:
                return summary(await situation()) == want_live

            await until(live_complete, "the live picture on the situation topic")

            async def history_complete() -> bool:
                now = datetime.now(UTC)
                return essence(await situation(now)) == essence(await situation())

            await until(history_complete, "the archived history to reach the live picture")

            # Report log: every report once (the broadcast warning too), raw bytes as submitted.
            rows = await tables.reports()
            assert sorted(rows) == sorted(
                (r.source, r.source_id, r.sequence, raw) for r, raw in items
            )
            assert await tables.keys() == len(items)
            changes = await tables.changes()
            assert len(changes) == await situation_records(bootstrap)
            assert {(entity, ident) for _, entity, ident, _ in changes} >= {
                ("incident", i["id"]) for i in (await situation())["incidents"]
            }

            # Past pictures from the history: before everything, between the reports, after.
            before, between, after = (t0 - timedelta(minutes=1), t0 + timedelta(minutes=12),
                                      t0 + timedelta(minutes=30))  # fmt: skip
            assert summary(await situation(before)) == {"incidents": {}, "warnings": []}
            assert summary(await situation(between)) == {
                "incidents": {"police:PP-KO-1": "severe", "fire:BF-MZ-1": "moderate"},
                "warnings": ["weather:DWD-RLP-1"],
            }
            assert summary(await situation(after)) == want_live
            served = [essence(await situation(moment)) for moment in (between, after)]
            reference = await embedded_at(items, [between, after])
            assert served == [essence(picture) for picture in reference]
            assert (await situation(between))["as_of"].startswith(
                between.strftime("%Y-%m-%dT%H:%M")
            )

            # A restart resumes at the committed offsets: the old rows stay as they are, the new
            # report and its changes are added once.
            assert archive.terminate() == 0
            kept_reports, kept_changes = await tables.reports(), await tables.changes()
            late = later_report(t0)
            await publish(bootstrap, [late, items[0]])  # items[0] again: another re-delivery
            archive = Child(["archive", *common], log=tmp_path / "archive-2.log", env=env)

            async def late_archived() -> bool:
                picture = await situation(datetime.now(UTC))
                return "fire:BF-SP-1" in summary(picture)["incidents"]

            async def all_changes_archived() -> bool:
                return len(await tables.changes()) == await situation_records(bootstrap)

            await until(late_archived, "the restarted archive to store the new incident")
            await until(all_changes_archived, "every change record archived")
            rows, changes = await tables.reports(), await tables.changes()
            assert rows[: len(kept_reports)] == kept_reports
            assert rows[len(kept_reports) :] == [("fire", "BF-SP-1", 1, late[1])]
            assert changes[: len(kept_changes)] == kept_changes
            assert len(changes) > len(kept_changes)
            assert await tables.keys() == len(rows)
    except BaseException:
        await db.close()
        raise
    finally:
        if api is not None:
            api.kill()
        archive.kill()

    # Offsets never committed (a crash between the rows and the commit) mean everything is read
    # again: a second archive in another consumer group rereads both topics from the start, and
    # the stores ignore what they already hold.
    again = Archive(bootstrap, pg_fresh_url, group="lagezentrum-archive-replayed")
    await again.start()
    try:

        async def reread() -> bool:
            return again.reports >= len(rows) and again.changes >= len(changes)

        await until(reread, "the second archive to reread both topics")
        assert await tables.reports() == rows
        assert await tables.changes() == changes
    finally:
        await again.stop()
        await db.close()


async def test_archive_exits_with_the_reason_when_its_database_fails(
    bus_url: str, pg_fresh_url: str, tmp_path: Path
) -> None:
    """An archive that cannot write does not live on without archiving: it exits non-zero with a
    one-line reason, and its supervisor restarts it (the offsets are not committed)."""
    bootstrap = bus_url.removeprefix("kafka://")
    common = ["--bus", bus_url, "--database-url", pg_fresh_url, "--partitions", str(PARTITIONS)]
    archive = Child(["archive", *common], log=tmp_path / "archive.log", env=child_env())
    db = await Database.connect(pg_fresh_url)
    try:
        await until(Tables(db).has_tables, "the archive's migrations")
        schema = pg_fresh_url.rpartition("search_path=")[2]
        await db.pool.execute(f'DROP SCHEMA "{schema}" CASCADE')
        t0 = datetime.now(UTC) - timedelta(minutes=30)
        await publish(bootstrap, [later_report(t0)])
        code = await asyncio.to_thread(archive.process.wait, 60)
    finally:
        archive.kill()
        await db.close()
    assert code == 1
    reason = archive.log_text().strip().splitlines()[-1]
    assert reason.startswith("lagezentrum: error: StoreUnavailable:"), reason
