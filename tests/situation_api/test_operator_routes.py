"""Duty officer actions over the API: journaled, applied, and surviving a restart that replays
the whole log (no snapshot) together with the journal; ``journal verify`` finds tampering."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import asyncpg
import pytest

from ingest.store import Database
from situation_api.journal import PostgresJournal, entries, verify
from tests.situation_api.live_server import Live, live_server, post, report

CLI = [sys.executable, "-c", "from ops.cli import main; main()"]


async def token(live: Live, role: str) -> dict[str, str]:
    assert live.services.tokens is not None
    _, made = await live.services.tokens.create(role, [], f"Test {role}")
    return {"Authorization": f"Bearer {made}"}


async def scenes(live: Live) -> dict[str, str]:
    """Koblenz (two threads, one scene) and Mainz; thread -> incident id."""
    await post(
        live,
        report("K-1", "koblenz"),
        report("K-2", "koblenz", source="police", category="accident.traffic", offset_m=40),
        report("M-1", "mainz"),
    )
    assert await live.services.runtime.wait_processed(1, 5)
    for _ in range(100):
        picture = (await live.http.get("/api/v1/situation")).json()
        found = {t: i["id"] for i in picture["incidents"] for t in i["threads"]}
        if len(found) == 3:
            return found
        await live.services.runtime.wait_processed(3, 0.05)
    raise AssertionError("reports not processed")


async def picture(live: Live) -> dict[str, Any]:
    body: dict[str, Any] = (await live.http.get("/api/v1/situation")).json()
    return body


async def test_actions_are_journaled_and_change_the_picture() -> None:
    async with live_server("memory://", auth=True) as live:
        http = live.http
        op = await token(live, "operator")
        viewer = await token(live, "viewer")
        live.http.headers.update(await token(live, "admin"))  # submits and watches
        found = await scenes(live)
        koblenz, mainz = found["fire:K-1"], found["fire:M-1"]
        path = f"/api/v1/incidents/{koblenz}/acknowledge"
        assert (await http.post(path, headers=viewer)).status_code == 403
        acked = await http.post(path, headers=op)
        assert acked.status_code == 200, acked.text
        entry = acked.json()["journal"]
        assert entry["action"] == "acknowledge"
        assert entry["actor"].startswith("Test operator (operator, token ")
        assert entry["subject"] == koblenz
        assert acked.json()["changes"][0]["reason"] == "acknowledged"
        note = await http.post(
            f"/api/v1/incidents/{koblenz}/notes", json={"text": "THW alarmiert"}, headers=op
        )
        assert note.status_code == 200
        merged = await http.post(
            "/api/v1/incidents/merge", json={"incident": koblenz, "other": mainz}, headers=op
        )
        assert merged.status_code == 200, merged.text
        split = await http.post(
            f"/api/v1/incidents/{koblenz}/split", json={"thread": "police:K-2"}, headers=op
        )
        assert split.status_code == 200, split.text
        level = await http.put(
            "/api/v1/districts/07111/level", json={"level": 2, "reason": "Hochwasser"}, headers=op
        )
        assert level.status_code == 200
        now = await picture(live)
        threads = {i["id"]: i["threads"] for i in now["incidents"]}
        assert threads[koblenz] == ["fire:K-1", "fire:M-1"]
        assert len(threads) == 2
        view = next(i for i in now["incidents"] if i["id"] == koblenz)
        assert view["acknowledged"]["by"] == entry["actor"]
        assert view["notes"][0]["text"] == "THW alarmiert"
        district = next(d for d in now["districts"] if d["ags"] == "07111")
        assert (district["level"], district["declared_level"]) == (2, 2)
        # refused actions: nothing journaled
        missing = await http.post("/api/v1/incidents/inc-000000000000/acknowledge", headers=op)
        assert missing.status_code == 404
        only = await http.post(
            f"/api/v1/incidents/{koblenz}/split", json={"thread": "fire:nope"}, headers=op
        )
        assert only.status_code == 422
        assert only.headers["content-type"] == "application/problem+json"
        bad_level = await http.put("/api/v1/districts/07111/level", json={"level": 7}, headers=op)
        assert bad_level.status_code == 422
        journal = live.services.extra["journal"]
        await journal.flush()
        listed = (await http.get("/api/v1/journal")).json()["entries"]
        actions = [e["action"] for e in listed]
        assert actions[:5] == ["acknowledge", "note", "merge", "split", "declare_level"]
        assert "level_changed" in actions  # the declared level changed the district's level
        changed = next(e for e in listed if e["action"] == "level_changed")
        assert changed["subject"] == "district:07111"
        assert changed["payload"]["new_level"] == 2
        assert verify(await journal.store.since(0, 100)).ok
        about = (await http.get("/api/v1/journal", params={"subject": koblenz})).json()
        assert {e["action"] for e in about["entries"]} == {"acknowledge", "note", "merge", "split"}
        # the situation report carries the journal (admin includes staff)
        exported = await http.get("/api/v1/exports/situation-report", params={"format": "html"})
        assert exported.status_code == 200, exported.text
        assert "THW alarmiert" in exported.text
        assert entry["actor"] in exported.text


async def test_overrides_survive_a_full_replay(pg_fresh_url: str) -> None:
    async with live_server(pg_fresh_url) as live:
        found = await scenes(live)
        koblenz, mainz = found["fire:K-1"], found["fire:M-1"]
        for method, path, body in (
            ("POST", "/api/v1/incidents/merge", {"incident": koblenz, "other": mainz}),
            ("POST", f"/api/v1/incidents/{koblenz}/split", {"thread": "police:K-2"}),
            ("PUT", "/api/v1/districts/07315/level", {"level": 3, "reason": "Katastrophe"}),
        ):
            answer = await live.http.request(method, path, json=body)
            assert answer.status_code == 200, answer.text
        # a report after the actions: a replay must put the actions before it, not after
        await post(live, report("M-2", "mainz", offset_m=20))
        assert await live.services.runtime.wait_processed(4, 5)
        before = await picture(live)
    # no snapshot: the restarted engine replays the whole log and the journal's actions
    conn = await asyncpg.connect(pg_fresh_url)
    try:
        await conn.execute("DELETE FROM snapshots")
    finally:
        await conn.close()
    async with live_server(pg_fresh_url) as live:
        assert live.services.runtime.offset == 4
        after = await picture(live)
    assert after["incidents"] == before["incidents"]
    assert after["districts"] == before["districts"]
    assert after["seq"] == before["seq"]
    merged = next(i for i in after["incidents"] if i["id"] == koblenz)
    assert merged["threads"] == ["fire:K-1", "fire:M-1"]
    district = next(d for d in after["districts"] if d["ags"] == "07315")
    assert district["declared_level"] == 3


async def test_journal_verify_detects_tampering(pg_fresh_url: str) -> None:
    async with live_server(pg_fresh_url) as live:
        found = await scenes(live)
        for thread in ("fire:K-1", "fire:M-1"):
            response = await live.http.post(
                f"/api/v1/incidents/{found[thread]}/notes", json={"text": f"note {thread}"}
            )
            assert response.status_code == 200
    ok = subprocess.run(
        [*CLI, "journal", "verify", "--database-url", pg_fresh_url],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert "journal intact: 2 entries" in ok.stdout
    conn = await asyncpg.connect(pg_fresh_url)
    try:
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute("DELETE FROM journal WHERE seq = 1")
        # someone with the rights to switch the guard off rewrites history
        await conn.execute("ALTER TABLE journal DISABLE TRIGGER journal_append_only")
        await conn.execute(
            "UPDATE journal SET payload = jsonb_set(payload, '{input,text}', '\"nichts\"') "
            "WHERE seq = 1"
        )
    finally:
        await conn.close()
    broken = subprocess.run(
        [*CLI, "journal", "verify", "--database-url", pg_fresh_url],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert broken.returncode == 1
    assert "journal broken at entry 1" in broken.stderr
    db = await Database.connect(pg_fresh_url)
    try:
        store = await PostgresJournal.open(db)
        verdict = verify([e async for e in entries(store)])
        assert verdict.broken_at == 1
    finally:
        await db.close()
