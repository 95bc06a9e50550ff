"""A real uvicorn server on a free port, in the test's event loop, for the live-system tests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection

from ops.serve import server_config
from situation_api.app import create_app
from situation_api.services import Services
from situation_api.settings import Settings

# Koblenz, Mainz, Trier: far enough apart never to share an incident.
PLACES = {"koblenz": (7.5886, 50.3569), "mainz": (8.2473, 49.9929), "trier": (6.6414, 49.7596)}


@dataclass
class Live:
    url: str
    ws_url: str
    services: Services
    http: httpx.AsyncClient
    app: FastAPI


@asynccontextmanager
async def live_server(database_url: str, **overrides: Any) -> AsyncIterator[Live]:
    values: dict[str, Any] = {
        "database_url": database_url,
        "port": 0,
        "heartbeat_seconds": 0.5,
        "tick_seconds": 0.2,
        "stream_flush_ms": 2.0,
        "auth": False,  # the access-control tests switch it on and bring their tokens
        **overrides,
    }
    settings = Settings(**values)
    app = create_app(settings)
    server = uvicorn.Server(server_config(settings, app))
    server.install_signal_handlers = False  # type: ignore[attr-defined]
    task = asyncio.create_task(server.serve())
    for _ in range(600):
        if server.started or task.done():
            break
        await asyncio.sleep(0.02)
    if not server.started:
        if task.done():
            task.result()
        raise RuntimeError("test server did not start")
    port = server.servers[0].sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url, timeout=20) as http:
            live = Live(url, f"ws://127.0.0.1:{port}", app.state.services, http, app)
            await wait_ready(live)
            yield live
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


async def wait_ready(live: Live, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if (await live.http.get("/api/v1/readyz")).status_code == 200:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("server never became ready")


def report(
    source_id: str,
    place: str = "koblenz",
    *,
    source: str = "fire",
    category: str = "fire.building",
    sequence: int = 1,
    observed_at: datetime | None = None,
    severity: str = "moderate",
    offset_m: float = 0.0,
    **extra: Any,
) -> dict[str, Any]:
    lon, lat = PLACES[place]
    return {
        "source": source,
        "source_id": source_id,
        "sequence": sequence,
        "category": category,
        "severity": severity,
        "observed_at": (observed_at or datetime.now(UTC)).isoformat(),
        "geometry": {"type": "Point", "coordinates": [lon + offset_m / 70_000, lat]},
        "headline": f"test {source_id}",
        **extra,
    }


def now_minus(minutes: float) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=minutes)


async def post(live: Live, *reports: dict[str, Any]) -> dict[str, Any]:
    body = reports[0] if len(reports) == 1 else list(reports)
    response = await live.http.post("/api/v1/reports", json=body)
    assert response.status_code == 202, response.text
    result: dict[str, Any] = response.json()
    return result


async def receive(ws: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    return message


async def next_delta(ws: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    """The next delta, skipping heartbeats."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        message = await receive(ws, max(deadline - loop.time(), 0.01))
        if message["type"] == "delta":
            return message
        assert message["type"] == "heartbeat", message


def threads_in(delta: dict[str, Any]) -> set[str]:
    return {
        thread
        for change in delta["changes"]
        if change.get("view")
        for thread in change["view"].get("threads", ())
    }
