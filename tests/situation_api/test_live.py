"""The live system end to end: real uvicorn, real PostgreSQL, real HTTP and websocket clients."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from websockets.asyncio.client import connect

from correlation.changes import decode_change
from correlation.picture import Picture, picture_json
from tests.situation_api.live_server import (
    live_server,
    next_delta,
    now_minus,
    post,
    receive,
    report,
    threads_in,
)

STREAM = "/api/v1/situation/stream"


def _strip_as_of(body: bytes) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(body)
    data.pop("as_of", None)
    return data


async def test_post_reaches_every_client_as_a_delta(pg_fresh_url: str) -> None:
    async with (
        live_server(pg_fresh_url) as live,
        connect(live.ws_url + STREAM) as first,
        connect(live.ws_url + STREAM) as second,
    ):
        snapshots = [await receive(first), await receive(second)]
        assert [s["type"] for s in snapshots] == ["snapshot", "snapshot"]
        start = snapshots[0]["seq"]
        # every RLP district is in the picture from the start, at level 0
        assert len(snapshots[0]["picture"]["districts"]) == 36
        assert all(d["level"] == 0 for d in snapshots[0]["picture"]["districts"])

        answer = await post(live, report("delta-1", "mainz", severity="severe"))
        assert answer["accepted"][0]["duplicate"] is False
        for ws in (first, second):
            delta = await next_delta(ws)
            assert delta["seq"] > start
            seqs = [c["seq"] for c in delta["changes"]]
            assert seqs == list(range(start + 1, start + 1 + len(seqs)))
            assert delta["seq"] == seqs[-1]
            assert "fire:delta-1" in threads_in(delta)
            opened = next(c for c in delta["changes"] if c["type"] == "IncidentOpened")
            assert opened["view"]["district"] == "07315"  # Mainz
            assert opened["view"]["severity"] == "severe"

        picture = (await live.http.get("/api/v1/situation")).json()
        assert picture["seq"] == delta["seq"]
        assert [i["threads"] for i in picture["incidents"]] == [["fire:delta-1"]]
        mainz = next(d for d in picture["districts"] if d["ags"] == "07315")
        assert mainz["open_incidents"]["severe"] == 1


async def test_reconnect_with_since_misses_nothing(pg_fresh_url: str) -> None:
    async with live_server(pg_fresh_url) as live:
        async with connect(live.ws_url + STREAM) as ws:
            snapshot = await receive(ws)
            picture = Picture.from_builtins(snapshot["picture"])
            await post(live, report("rc-1", "koblenz"))
            delta = await next_delta(ws)
            for change in delta["changes"]:
                assert picture.apply(decode_change(json.dumps(change)))
            last = delta["seq"]
        # while disconnected: a new incident, a second agency joining it, and an update
        await post(live, report("rc-2", "trier"))
        await post(live, report("rc-3", "trier", source="police", category="accident.traffic"))
        await post(live, report("rc-2", "trier", sequence=2, severity="extreme"))
        await live.services.runtime.wait_processed(4, 5)

        async with connect(f"{live.ws_url}{STREAM}?since={last}") as ws:
            first = await receive(ws)
            assert first["type"] == "delta"  # only what was missed, no snapshot
            seqs = [c["seq"] for c in first["changes"]]
            assert seqs == list(range(last + 1, last + 1 + len(seqs)))
            for change in first["changes"]:
                assert picture.apply(decode_change(json.dumps(change)))
            live_picture = (await live.http.get("/api/v1/situation")).content
            assert first["seq"] == json.loads(live_picture)["seq"]
            # the client's picture, built from snapshot + deltas, is the server's picture
            assert _strip_as_of(picture_json(picture)) == _strip_as_of(live_picture)
            trier = [
                i for i in json.loads(live_picture)["incidents"] if "fire:rc-2" in i["threads"]
            ]
            assert trier[0]["threads"] == ["fire:rc-2", "police:rc-3"]
            assert trier[0]["severity"] == "extreme"

        # a since from the future (e.g. another database) gets a snapshot, never garbage
        async with connect(f"{live.ws_url}{STREAM}?since={10**9}") as ws:
            assert (await receive(ws))["type"] == "snapshot"


async def test_reconnect_beyond_the_ring_is_served_from_history(pg_fresh_url: str) -> None:
    async with live_server(pg_fresh_url, stream_ring=16) as live:
        await post(live, report("h-0", "koblenz"))
        await live.services.runtime.wait_processed(1, 5)
        since = live.services.runtime.seq
        for index in range(1, 30):
            await post(live, report(f"h-{index}", "koblenz", offset_m=400.0 * index))
        await live.services.runtime.wait_processed(30, 10)
        await asyncio.sleep(0.3)  # history append follows publication
        async with connect(f"{live.ws_url}{STREAM}?since={since}") as ws:
            message = await receive(ws)
            assert message["type"] == "delta"
            seqs = [c["seq"] for c in message["changes"]]
            assert seqs == list(range(since + 1, live.services.runtime.seq + 1))


async def test_duplicate_resubmission_changes_nothing(pg_fresh_url: str) -> None:
    async with live_server(pg_fresh_url, heartbeat_seconds=0.3) as live:
        body = report("dup-1", "mainz")
        async with connect(live.ws_url + STREAM) as ws:
            await receive(ws)
            await post(live, body)
            delta = await next_delta(ws)
            again = await post(live, body)
            assert again["accepted"][0]["duplicate"] is True
            assert again["accepted"][0]["offset"] == 1
            # the next message is a heartbeat at the same seq: no delta was caused
            message = await receive(ws, timeout=3)
            assert message == {"type": "heartbeat", "seq": delta["seq"], "as_of": message["as_of"]}
        assert (await live.http.get("/api/v1/readyz")).json()["log_offset"] == 1


async def test_picture_at_a_past_time(pg_fresh_url: str) -> None:
    async with live_server(pg_fresh_url, snapshot_changes=1) as live:
        early, late = now_minus(30), now_minus(10)
        await post(live, report("past-1", "koblenz", observed_at=early))
        await post(live, report("past-2", "trier", observed_at=late))
        await live.services.runtime.wait_processed(2, 5)
        await asyncio.sleep(0.3)

        async def threads_at(moment: datetime) -> list[list[str]]:
            response = await live.http.get("/api/v1/situation", params={"at": moment.isoformat()})
            assert response.status_code == 200, response.text
            picture = response.json()
            assert picture["as_of"].startswith(moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M"))
            return [i["threads"] for i in picture["incidents"]]

        assert await threads_at(early - timedelta(minutes=1)) == []
        assert await threads_at(early + timedelta(minutes=5)) == [["fire:past-1"]]
        assert await threads_at(datetime.now(UTC)) == [["fire:past-1"], ["fire:past-2"]]

        naive = await live.http.get("/api/v1/situation", params={"at": "2024-01-01T12:00:00"})
        assert naive.status_code == 422
        assert naive.headers["content-type"] == "application/problem+json"
        assert naive.json()["errors"][0]["field"] == "query.at"


async def test_incident_details_and_filters(pg_fresh_url: str) -> None:
    async with live_server(pg_fresh_url) as live:
        await post(live, report("d-1", "koblenz", severity="minor"))
        await post(
            live,
            report("d-2", "koblenz", source="police", category="accident.traffic", offset_m=50),
        )
        await post(live, report("d-3", "mainz", severity="severe"))
        await live.services.runtime.wait_processed(3, 5)

        incidents = (await live.http.get("/api/v1/incidents")).json()
        assert incidents["count"] == 2
        koblenz = next(i for i in incidents["incidents"] if i["district"] == "07111")

        detail = (await live.http.get(f"/api/v1/incidents/{koblenz['id']}")).json()
        assert detail["live"] is True
        assert [r["thread"] for r in detail["reports"]] == ["fire:d-1", "police:d-2"]
        second = detail["reports"][1]
        assert second["report"]["source_id"] == "d-2"
        assert second["report"]["offset"] == second["offset"] == 2
        assert second["link"]["reason"] != "opened"
        assert 30 < second["link"]["distance_m"] < 80
        kinds = [entry["type"] for entry in detail["timeline"]]
        assert kinds[0] == "IncidentOpened"
        assert "IncidentUpdated" in kinds

        def ids(response: Any) -> set[str]:
            assert response.status_code == 200, response.text
            return {i["id"] for i in response.json()["incidents"]}

        mainz_box = {"bbox": "8.1,49.9,8.4,50.1"}
        assert ids(await live.http.get("/api/v1/incidents", params=mainz_box)) != {koblenz["id"]}
        assert len(ids(await live.http.get("/api/v1/incidents", params=mainz_box))) == 1
        assert ids(await live.http.get("/api/v1/incidents?severity=severe,extreme")) == ids(
            await live.http.get("/api/v1/incidents", params={"district": "07315"})
        )
        assert ids(await live.http.get("/api/v1/incidents?status=resolved")) == set()
        future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        assert ids(await live.http.get("/api/v1/incidents", params={"since": future})) == set()

        missing = await live.http.get("/api/v1/incidents/inc-000000000000")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"
        problem = missing.json()
        assert problem["status"] == 404
        assert problem["instance"] == "/api/v1/incidents/inc-000000000000"

        bad = await live.http.get("/api/v1/incidents", params={"bbox": "8,50,7,49"})
        assert bad.status_code == 422
        assert bad.json()["errors"][0]["field"] == "query.bbox"

        districts = (await live.http.get("/api/v1/districts?min_level=0")).json()["districts"]
        assert len(districts) == 36
        assert (await live.http.get("/api/v1/warnings")).json()["count"] == 0
        assert (await live.http.get("/api/v1/feeds")).json() == {"feeds": []}


async def test_readiness_metrics_and_openapi(pg_fresh_url: str) -> None:
    async with live_server(pg_fresh_url) as live:
        assert (await live.http.get("/api/v1/healthz")).json() == {"status": "ok"}
        assert (await live.http.get("/healthz")).status_code == 200
        await post(live, report("m-1", "mainz"))
        await live.services.runtime.wait_processed(1, 5)
        ready = (await live.http.get("/api/v1/readyz")).json()
        assert ready["status"] == "ready"
        assert ready["offset"] == ready["log_offset"] == 1

        text = (await live.http.get("/metrics")).text
        assert 'lz_reports_accepted_total{format="canonical"}' in text
        assert "lz_engine_lag_reports 0.0" in text
        assert "lz_post_to_delta_seconds_bucket" in text
        assert "lz_change_processing_seconds_count" in text
        assert "lz_stream_clients" in text

        live.services.closing = True  # what shutdown sets first
        not_ready = await live.http.get("/api/v1/readyz")
        assert not_ready.status_code == 503
        assert not_ready.headers["content-type"] == "application/problem+json"
        live.services.closing = False

        schema = (await live.http.get("/openapi.json")).json()
        paths = schema["paths"]
        for path in (
            "/api/v1/situation",
            "/api/v1/incidents",
            "/api/v1/incidents/{incident_id}",
            "/api/v1/warnings",
            "/api/v1/districts",
            "/api/v1/feeds",
            "/api/v1/healthz",
            "/api/v1/readyz",
            "/api/v1/metrics",
            "/api/v1/reports",
            "/api/v1/reports/cap",
            "/api/v1/reports/geojson",
            "/api/v1/reports/csv",
        ):
            assert path in paths, path
            for operation in paths[path].values():
                ok = operation["responses"].get("200") or operation["responses"].get("202")
                assert ok is not None, path
                assert ok.get("content"), (path, operation["responses"])
        situation = paths["/api/v1/situation"]["get"]["responses"]
        ref = situation["200"]["content"]["application/json"]["schema"]["$ref"]
        model = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
        assert {"seq", "as_of", "incidents", "warnings", "districts"} <= set(model["properties"])
        assert "application/problem+json" in situation["422"]["content"]


async def test_restart_continues_seq_without_duplicating_history(pg_fresh_url: str) -> None:
    async with live_server(pg_fresh_url, snapshot_changes=3) as live:
        for index in range(6):
            await post(live, report(f"r-{index}", "koblenz", offset_m=600.0 * index))
        await live.services.runtime.wait_processed(6, 5)
        await asyncio.sleep(0.3)
        before = (await live.http.get("/api/v1/situation")).content
    async with live_server(pg_fresh_url, snapshot_changes=3) as live:
        after = (await live.http.get("/api/v1/situation")).content
        assert _strip_as_of(after) == _strip_as_of(before)
        seq = json.loads(before)["seq"]
        async with connect(f"{live.ws_url}{STREAM}?since={seq}") as ws:
            await post(live, report("r-new", "mainz"))
            delta = await next_delta(ws)
            assert delta["changes"][0]["seq"] == seq + 1
        for _ in range(100):  # history is appended right after publication
            if await live.services.history.head() == live.services.runtime.seq:
                break
            await asyncio.sleep(0.05)
        history = await live.services.history.since(0, 10_000)
        assert [c.seq for c in history] == list(range(1, live.services.runtime.seq + 1))


def test_problem_documents_name_the_field() -> None:
    # request validation outside any route logic: FastAPI's own errors become problems too
    from fastapi.testclient import TestClient

    from situation_api.app import create_app
    from situation_api.settings import Settings

    app = create_app(Settings(database_url="memory://", auth=False))
    with TestClient(app) as client:
        response = client.get("/api/v1/districts", params={"min_level": "nine"})
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert set(body) >= {"type", "title", "status", "detail", "instance", "errors"}
        assert body["errors"][0]["field"] == "query.min_level"
        unknown = client.get("/api/v1/nothing-here")
        assert unknown.status_code == 404
        assert unknown.headers["content-type"] == "application/problem+json"
        assert msgspec.json.decode(unknown.content)["type"] == "about:blank"
        invalid = client.post("/api/v1/reports", json={"source": "fire"})
        assert invalid.status_code == 422
        assert any(e["field"] == "$.source_id" for e in invalid.json()["errors"])
