"""Every endpoint and the websocket check the token: 401 without, 403 for the wrong role or a
foreign source, 429 over the rate; revoked tokens stop working."""

from __future__ import annotations

from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Subprotocol

from situation_api.auth.tokens import TokenStore
from tests.situation_api.live_server import Live, live_server, receive, report

STREAM = "/api/v1/situation/stream"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def tokens(live: Live) -> dict[str, str]:
    store: TokenStore | None = live.services.tokens
    assert store is not None
    made = {}
    for role, sources in (
        ("viewer", []),
        ("operator", []),
        ("staff", []),
        ("admin", []),
        ("feed", ["police"]),
    ):
        _, made[role] = await store.create(role, sources, f"test {role}")
    return made


async def test_every_route_checks_the_token() -> None:
    async with live_server("memory://", auth=True) as live:
        made = await tokens(live)
        http = live.http
        for path in ("/api/v1/situation", "/api/v1/incidents", "/api/v1/districts", "/metrics"):
            missing = await http.get(path)
            assert missing.status_code == 401, path
            assert missing.headers["www-authenticate"].startswith("Bearer")
            assert missing.headers["content-type"] == "application/problem+json"
            wrong = await http.get(path, headers=bearer("lz_00000000_" + "A" * 43))
            assert wrong.status_code == 401
            assert 'error="invalid_token"' in wrong.headers["www-authenticate"]
            assert (await http.get(path, headers=bearer(made["viewer"]))).status_code == 200
            feed = await http.get(path, headers=bearer(made["feed"]))
            assert feed.status_code == 403, path  # a feed cannot watch the map
            assert 'error="insufficient_scope"' in feed.headers["www-authenticate"]
        exports = "/api/v1/exports"
        assert (await http.get(exports, headers=bearer(made["operator"]))).status_code == 403
        assert (await http.get(exports, headers=bearer(made["staff"]))).status_code == 200
        assert (await http.get(exports, headers=bearer(made["admin"]))).status_code == 200
        # the display itself, its files and the probes are public: the login needs them
        for path in ("/", "/api/v1/ui/config", "/healthz", "/readyz", "/api/v1/geo/districts"):
            assert (await http.get(path)).status_code == 200, path
        posted = await http.post(
            "/api/v1/reports", json=report("V-1", source="police"), headers=bearer(made["viewer"])
        )
        assert posted.status_code == 403


async def test_feed_tokens_submit_only_their_own_sources() -> None:
    async with live_server("memory://", auth=True) as live:
        made = await tokens(live)
        police = bearer(made["feed"])
        own = await live.http.post(
            "/api/v1/reports", json=report("P-1", source="police"), headers=police
        )
        assert own.status_code == 202, own.text
        single = await live.http.post(
            "/api/v1/reports", json=report("F-1", source="fire"), headers=police
        )
        assert single.status_code == 403
        body: dict[str, Any] = single.json()
        assert body["errors"][0]["field"] == "$.source"
        assert "'fire'" in body["errors"][0]["reason"]
        mixed = await live.http.post(
            "/api/v1/reports",
            json=[report("P-2", source="police"), report("F-2", source="fire")],
            headers=police,
        )
        assert mixed.status_code == 202
        answer = mixed.json()
        assert [a["id"] for a in answer["accepted"]] == ["police:P-2:1"]
        assert answer["rejected"] == [
            {"index": 1, "field": "$.source", "reason": body["errors"][0]["reason"]}
        ]
        # nothing of the refused report reached the log
        logged = await live.services.report_log.read(0, 100)
        assert {r.source_id for r in logged} == {"P-1", "P-2"}
        # admin may submit for anyone
        admin = await live.http.post(
            "/api/v1/reports", json=report("F-3", source="fire"), headers=bearer(made["admin"])
        )
        assert admin.status_code == 202


async def test_websocket_takes_the_token_as_subprotocol() -> None:
    async with live_server("memory://", auth=True) as live:
        made = await tokens(live)
        with pytest.raises(InvalidStatus) as refused:
            async with connect(live.ws_url + STREAM):
                pass
        assert refused.value.response.status_code == 403
        with pytest.raises(InvalidStatus):
            async with connect(
                live.ws_url + STREAM,
                subprotocols=[Subprotocol("lagezentrum"), Subprotocol(f"bearer.{made['feed']}")],
            ):
                pass
        async with connect(
            live.ws_url + STREAM,
            subprotocols=[Subprotocol("lagezentrum"), Subprotocol(f"bearer.{made['viewer']}")],
        ) as ws:
            assert ws.subprotocol == "lagezentrum"
            first = await receive(ws)
            assert first["type"] == "snapshot"
        async with connect(live.ws_url + STREAM, additional_headers=bearer(made["operator"])) as ws:
            assert (await receive(ws))["type"] == "snapshot"


async def test_revoked_tokens_and_rate_limits() -> None:
    async with live_server("memory://", auth=True, rate_limit=1.0, rate_burst=3) as live:
        made = await tokens(live)
        viewer = bearer(made["viewer"])
        codes = [(await live.http.get("/api/v1/districts", headers=viewer)) for _ in range(4)]
        assert [r.status_code for r in codes] == [200, 200, 200, 429]
        assert int(codes[-1].headers["retry-after"]) >= 1
        assert codes[-1].json()["type"].endswith("rate-limited")
        # another token has its own bucket
        other = await live.http.get("/api/v1/districts", headers=bearer(made["staff"]))
        assert other.status_code == 200
        store = live.services.tokens
        assert store is not None
        await store.revoke(made["staff"])
        live.app.state.auth.forget()  # as after the verification cache's few seconds
        revoked = await live.http.get("/api/v1/districts", headers=bearer(made["staff"]))
        assert revoked.status_code == 401
