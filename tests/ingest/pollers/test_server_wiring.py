"""Feeds configured for ``lagezentrum serve`` are polled by the running server."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from tests.ingest.pollers.conftest import FeedServer
from tests.situation_api.live_server import live_server


async def test_server_polls_its_configured_feeds_into_the_log(
    feed_server: FeedServer, shared_data: Path, tmp_path: Path
) -> None:
    config = feed_server.mowas_config(shared_data, tmp_path)
    async with live_server("memory://", feeds_config=config) as live:
        feeds: dict[str, Any] = {}
        for _ in range(200):
            # A fresh connection each time: this test is about the pollers, and a kept-alive
            # connection may be dropped by the server under a loaded CI machine.
            async with httpx.AsyncClient(base_url=live.url, timeout=20) as http:
                feeds = (await http.get("/api/v1/feeds")).json()
            if feeds.get("feeds") and feeds["feeds"][0].get("last_success"):
                break
            await asyncio.sleep(0.05)
        [feed] = feeds["feeds"]
        assert feed["feed"] == "mowas"
        assert feed["items"] == 36  # the 36 MoWaS alerts of that morning
        assert await live.services.report_log.last_offset() == 36
    assert feed_server.hits["/mowas.json"] >= 1
