"""The export API on a real server, and scheduled reports (injected clock and wired into the
app)."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from situation_api.reports import FORMATS, ReportOptions, SituationReport, build_report
from situation_api.reports.schedule import ReportScheduler, export_path, list_exports
from tests.situation_api.live_server import live_server, now_minus, post
from tests.situation_api.live_server import report as make_report
from tests.situation_api.reports.conftest import AT, START, Day


async def test_situation_report_endpoint(tmp_path: Path) -> None:
    async with live_server("memory://", data_dir=tmp_path) as live:
        await post(
            live,
            make_report("A-1", "koblenz", observed_at=now_minus(50), severity="severe",
                   metrics={"injured": 3}),
            make_report("A-2", "mainz", source="police", category="accident.traffic",
                   observed_at=now_minus(40), metrics={"injured": 2, "dead": 1}),
            make_report("A-3", "trier", category="rescue.technical", observed_at=now_minus(30)),
        )  # fmt: skip
        for _ in range(200):
            if len(live.services.runtime.engine.picture().incidents) == 3:
                break
            await asyncio.sleep(0.05)
        at = datetime.now(UTC).replace(microsecond=0)
        params = {"at": at.isoformat()}
        bodies = {}
        for name, fmt in FORMATS.items():
            response = await live.http.get(
                "/api/v1/exports/situation-report", params={**params, "format": name}
            )
            assert response.status_code == 200, response.text
            assert response.headers["content-type"].startswith(fmt.media_type.split(";")[0])
            disposition = response.headers["content-disposition"]
            assert disposition.startswith('attachment; filename="lagebericht-lb-')
            assert disposition.endswith(f'{fmt.suffix}"')
            bodies[name] = response.content
        assert bodies["pdf"].startswith(b"%PDF-")
        rows = list(csv.reader(io.StringIO(bodies["csv"].decode())))
        summary = dict(zip(rows[3], rows[4], strict=True))  # meta, blank, summary header, row
        assert summary["incidents"] == "3"
        assert summary["open"] == "3"
        assert summary["injured"] == "5"
        assert summary["dead"] == "1"
        totals = msgspec.json.decode(bodies["geojson"])["report"]["totals"]
        assert (totals["incidents"], totals["injured"]) == (3, 5)
        # region and language
        region = await live.http.get(
            "/api/v1/exports/situation-report",
            params={"format": "geojson", "district": "07111,07315", "lang": "en", **params},
        )
        features = msgspec.json.decode(region.content)["features"]
        assert {f["properties"]["layer"] for f in features} == {"district", "incident"}
        assert sorted(
            f["properties"]["district"] for f in features if f["properties"]["layer"] == "incident"
        ) == ["07111", "07315"]
        # errors name the query field
        for bad, field in (
            ({"district": "99999"}, "query.district"),
            ({"from": at.isoformat(), "to": (at - timedelta(hours=1)).isoformat()}, "query.from"),
            ({"at": "2024-06-01T12:00:00"}, "query.at"),
        ):
            response = await live.http.get("/api/v1/exports/situation-report", params=bad)
            assert response.status_code == 422, bad
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["errors"][0]["field"] == field
        response = await live.http.get(
            "/api/v1/exports/situation-report", params={"format": "docx"}
        )
        assert response.status_code == 422
        listing = (await live.http.get("/api/v1/exports")).json()
        assert listing == {"folder_configured": False, "interval_seconds": 0.0, "exports": []}
        missing = await live.http.get("/api/v1/exports/lagebericht-x.pdf")
        assert missing.status_code == 404
        traversal = await live.http.get("/api/v1/exports/..%2F..%2Fetc%2Fpasswd")
        assert traversal.status_code == 404


async def test_scheduled_reports_with_an_injected_clock(day: Day, tmp_path: Path) -> None:
    now = [AT - timedelta(minutes=10)]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += timedelta(seconds=seconds)
        await asyncio.sleep(0)

    produced: list[datetime] = []

    async def produce(at: datetime) -> SituationReport:
        produced.append(at)
        return build_report(day.base, day.changes, ReportOptions(at=at, start=START))

    scheduler = ReportScheduler(
        produce, folder=tmp_path / "exports", interval=4 * 3600, formats=("csv", "geojson"),
        clock=lambda: now[0], sleep=sleep,
    )  # fmt: skip
    assert scheduler.next_due(AT - timedelta(minutes=10)) == datetime(2024, 6, 2, 4, tzinfo=UTC)
    assert scheduler.next_due(datetime(2024, 6, 2, 4, tzinfo=UTC)) == datetime(
        2024, 6, 2, 8, tzinfo=UTC
    )
    scheduler.start()
    for _ in range(200):
        if scheduler.runs >= 2:
            break
        await asyncio.sleep(0.01)
    await scheduler.stop()
    assert produced[:2] == [
        datetime(2024, 6, 2, 4, tzinfo=UTC),
        datetime(2024, 6, 2, 8, tzinfo=UTC),
    ]
    assert slept[0] == pytest.approx(2 * 3600 + 600)
    files = list_exports(tmp_path / "exports")
    names = sorted(f.name for f in files)
    assert names[:2] == [
        "lagebericht-lb-20240602-0400z.csv",
        "lagebericht-lb-20240602-0400z.geojson",
    ]
    assert {f.format for f in files} == {"csv", "geojson"}
    assert not list((tmp_path / "exports").glob(".*.tmp"))
    assert export_path(tmp_path / "exports", names[0]) is not None
    assert export_path(tmp_path / "exports", "../" + names[0]) is None
    assert export_path(tmp_path / "exports", "lagebericht-lb-x.exe") is None


async def test_scheduled_reports_in_the_app(tmp_path: Path) -> None:
    async with live_server(
        "memory://", data_dir=tmp_path, report_interval=0.5, report_formats=("csv", "pdf")
    ) as live:
        await post(live, make_report("S-1", "koblenz", observed_at=now_minus(5)))
        listing: dict[str, object] = {}
        for _ in range(100):
            listing = (await live.http.get("/api/v1/exports")).json()
            exports = listing["exports"]
            assert isinstance(exports, list)
            if {e["format"] for e in exports} >= {"csv", "pdf"}:
                break
            await asyncio.sleep(0.1)
        assert listing["folder_configured"] is True
        exports = listing["exports"]
        assert isinstance(exports, list)
        entry = next(e for e in exports if e["format"] == "pdf")
        download = await live.http.get(entry["url"])
        assert download.status_code == 200
        assert download.headers["content-type"] == "application/pdf"
        assert download.content.startswith(b"%PDF-")
        assert (tmp_path / "exports" / entry["name"]).is_file()
