"""Operator actions and the journal in the distributed mode, on a real broker with a real
correlation worker: actions taken through one API instance show on another instance's picture;
the shared PostgreSQL journal holds them (and, written by the archive, the level changes) in one
chain that ``lagezentrum journal verify`` accepts; what cannot be done is refused with a problem
document; without a database the routes say which setting is missing."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from ops.archive import Archive
from tests.distributed.conftest import converge, services
from tests.distributed.test_pipeline import bus_picture
from tests.situation_api.live_server import live_server, post, report

CLI = [sys.executable, "-c", "from ops.cli import main; main()"]
KAISERSLAUTERN = (7.7689, 49.4447)  # 07312: the same partition as Koblenz (07111) of three


def incidents_by_thread(picture: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t: i for i in picture["incidents"] for t in i["threads"]}


async def json_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_actions_reach_every_instance_and_one_journal(
    bus_url: str, workers: Callable[[], subprocess.Popen[bytes]], pg_fresh_url: str
) -> None:
    workers()
    archive = Archive(
        bus_url.removeprefix("kafka://"), pg_fresh_url, group=f"archive-{uuid.uuid4().hex[:8]}"
    )
    await archive.start()
    try:
        async with (
            live_server(pg_fresh_url, bus=bus_url) as first,
            services(pg_fresh_url, bus=bus_url) as second,
        ):
            http = first.http
            lautern = report("L-1", "koblenz")
            lautern["geometry"]["coordinates"] = list(KAISERSLAUTERN)
            await post(
                first,
                report("K-1", "koblenz"),
                report("K-2", "koblenz", source="police", category="accident.traffic", offset_m=40),
                report("M-1", "mainz"),
                lautern,
            )

            async def picture() -> dict[str, Any]:
                return await json_of(await http.get("/api/v1/situation"), 200)

            for _ in range(200):
                found = incidents_by_thread(await picture())
                if len(found) == 4:
                    break
                await asyncio.sleep(0.1)
            assert len(found) == 4, found
            koblenz, mainz, kl = (found[t]["id"] for t in ("fire:K-1", "fire:M-1", "fire:L-1"))
            assert found["police:K-2"]["id"] == koblenz

            base = f"/api/v1/incidents/{koblenz}"
            acked = await json_of(await http.post(f"{base}/acknowledge"), 200)
            entry = acked["journal"]
            assert (entry["action"], entry["subject"]) == ("acknowledge", koblenz)
            assert entry["payload"]["partition"] == 0
            assert acked["changes"] == []  # they come on the stream in this mode
            # 200 means this instance's picture shows it already
            view = incidents_by_thread(await picture())["fire:K-1"]
            assert view["acknowledged"]["by"] == entry["actor"]
            await json_of(await http.post(f"{base}/notes", json={"text": "THW alarmiert"}), 200)
            await json_of(
                await http.post(f"/api/v1/incidents/{mainz}/status", json={"status": "resolved"}),
                200,
            )
            await json_of(await http.post(f"{base}/split", json={"thread": "police:K-2"}), 200)
            across = await http.post(
                "/api/v1/incidents/merge", json={"incident": koblenz, "other": mainz}
            )
            assert across.status_code == 409
            assert across.headers["content-type"] == "application/problem+json"
            assert "different correlation partitions (0 and 1)" in across.json()["detail"]
            await json_of(
                await http.post("/api/v1/incidents/merge", json={"incident": koblenz, "other": kl}),
                200,
            )
            await json_of(
                await http.put(
                    "/api/v1/districts/07111/level", json={"level": 2, "reason": "Hochwasser"}
                ),
                200,
            )
            missing = await http.post("/api/v1/incidents/inc-000000000000/acknowledge")
            assert missing.status_code == 404
            lonely = await http.post(
                f"/api/v1/incidents/{mainz}/split", json={"thread": "fire:M-1"}
            )
            assert lonely.status_code == 422
            assert "only thread" in lonely.json()["detail"]

            # the other instance shows the same, however it interleaved the partitions
            mine = await picture()

            def theirs() -> dict[str, object]:
                now = bus_picture(second)
                return {"incidents": now["incidents"], "districts": now["districts"]}

            want = {"incidents": mine["incidents"], "districts": mine["districts"]}
            assert await converge(theirs, want, timeout=20) == want
            now = incidents_by_thread(mine)
            assert now["fire:K-1"]["threads"] == ["fire:K-1", "fire:L-1"]
            assert now["fire:K-1"]["notes"][0]["text"] == "THW alarmiert"
            assert now["police:K-2"]["id"] not in (koblenz, kl)  # split out: its own incident
            assert now["fire:M-1"]["status"] == "resolved"
            district = next(d for d in mine["districts"] if d["ags"] == "07111")
            assert (district["level"], district["declared_level"]) == (2, 2)

            # one journal: every accepted action once, in order; the archive adds the level
            # change the declaration caused
            listed: list[dict[str, Any]] = []
            for _ in range(100):
                listed = (await json_of(await http.get("/api/v1/journal"), 200))["entries"]
                if any(e["action"] == "level_changed" for e in listed):
                    break
                await asyncio.sleep(0.1)
            actions = [e["action"] for e in listed if e["action"] != "level_changed"]
            assert actions == [
                "acknowledge", "note", "set_status", "split", "merge", "declare_level"
            ]  # fmt: skip
            changed = [e for e in listed if e["action"] == "level_changed"]
            assert [(e["subject"], e["payload"]["new_level"]) for e in changed] == [
                ("district:07111", 2)
            ]
            assert changed[0]["payload"]["partition"] == 0
            journal = second.extra["journal"]  # the second instance reads the same journal
            assert [e.seq for e in await journal.store.since(0, 100)] == [e["seq"] for e in listed]
    finally:
        await archive.stop()
    verified = subprocess.run(
        [*CLI, "journal", "verify", "--database-url", pg_fresh_url],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stderr
    assert f"journal intact: {len(listed)} entries" in verified.stdout


async def test_without_a_database_the_routes_name_the_missing_setting(bus_url: str) -> None:
    async with live_server("memory://", bus=bus_url) as api:
        acting = await api.http.post("/api/v1/incidents/inc-000000000000/acknowledge")
        reading = await api.http.get("/api/v1/journal")
        for answer in (acting, reading):
            assert answer.status_code == 503
            assert answer.headers["content-type"] == "application/problem+json"
            problem = answer.json()
            assert problem["type"] == "urn:lagezentrum:problem:journal-unavailable"
            assert "LAGEZENTRUM_DATABASE_URL" in problem["detail"]
        # the picture itself is served as always
        assert (await api.http.get("/api/v1/situation")).status_code == 200
