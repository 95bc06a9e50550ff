"""Every class of hostile input over HTTP (real uvicorn, real PostgreSQL): a clear 4xx problem
document naming the field, and the report log unchanged afterwards."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from tests.situation_api.live_server import live_server, report

BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&lol3;</identifier></alert>"""
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE alert [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&xxe;</identifier></alert>"""


def _ring(vertices: int) -> list[list[float]]:
    ring = [
        [round(7.5 + 0.3 * math.cos(2 * math.pi * i / vertices), 6),
         round(50.0 + 0.2 * math.sin(2 * math.pi * i / vertices), 6)]
        for i in range(vertices)
    ]  # fmt: skip
    return [*ring, ring[0]]


def _json(doc: Any) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


# (name, path, content type, body, expected status, expected field or None)
CASES: list[tuple[str, str, str, bytes, int, str | None]] = [
    ("not JSON", "", "application/json", b'{"source": ', 400, "$"),
    ("lone surrogate", "", "application/json", b'{"source_id": "\\ud800"}', 400, "$"),
    ("10^5-deep JSON", "", "application/json", b"[" * 100_000 + b"]" * 100_000, 400, "$"),
    ("NUL in headline", "", "application/json",
     _json(report("nul", headline="a\x00b")), 422, "$.headline"),
    ("RTL override in source_id", "", "application/json",
     _json(report("\u202eevil")), 422, "$.source_id"),
    ("year 1", "", "application/json",
     _json(report("y1") | {"observed_at": "0001-01-01T00:00:00Z"}), 422, "$.observed_at"),
    ("year 9999", "", "application/json",
     _json(report("y9") | {"expires_at": "9999-12-31T23:59:59Z"}), 422, "$.expires_at"),
    ("latitude 91", "", "application/json",
     _json(report("lat") | {"geometry": {"type": "Point", "coordinates": [7, 91]}}), 422,
     "$.geometry.coordinates"),
    ("bow-tie polygon without area", "", "application/json",
     _json(report("bow") | {"geometry": {"type": "Polygon", "coordinates": [
         [[7, 50], [7.1, 50], [7.1, 50], [7, 50]]]}}), 422, "$.geometry.coordinates"),
    ("300k-vertex polygon", "", "application/json",
     _json(report("giant") | {"geometry": {"type": "Polygon", "coordinates": [_ring(300_000)]}}),
     422, "$.geometry.coordinates"),
    ("17 MB body", "", "application/json", b"[" + b" " * (17 * 1024 * 1024) + b"]", 413, None),
    ("wrong media type", "", "text/plain", b"{}", 415, None),
    ("billion laughs", "/cap", "application/cap+xml", BOMB, 400, "$"),
    ("external entity", "/cap", "application/cap+xml", XXE, 400, "$"),
    ("10^5-deep XML", "/cap", "application/cap+xml", b"<a>" * 100_000 + b"</a>" * 100_000,
     400, "$"),
    ("foreign CRS", "/geojson", "application/geo+json", _json(
        {"type": "FeatureCollection", "crs": {"type": "name", "properties": {
            "name": "urn:ogc:def:crs:EPSG::25832"}}, "features": []}), 415, "$"),
    ("NUL in CSV cell", "/csv", "text/csv",
     b"source,source_id,category,observed_at,lon,lat,agency\n"
     b"fire,c1,fire.building,2024-05-01T10:00:00Z,7.5,50.1,PP\x00K\n", 422, "$[0].agency"),
]  # fmt: skip


@pytest.mark.timeout(180)
async def test_each_bad_input_gets_a_clear_4xx_and_stores_nothing(pg_fresh_url: str) -> None:
    async with live_server(pg_fresh_url) as live:
        log = live.services.report_log
        before = await log.last_offset()
        for name, path, media, body, status, field in CASES:
            response = await live.http.post(
                "/api/v1/reports" + path, content=body, headers={"content-type": media}
            )
            assert response.status_code == status, (name, response.text[:300])
            assert response.headers["content-type"] == "application/problem+json", name
            problem = response.json()
            assert problem["status"] == status
            assert problem["detail"], name
            if field is not None:
                assert problem["errors"][0]["field"] == field, (name, problem)
        for params in ({"at": "0796-10-21T07:05:22Z"}, {"at": "9999-01-01T00:00:00+14:00"}):
            answer = await live.http.get("/api/v1/situation", params=params)
            assert answer.status_code == 422, answer.text
            assert answer.json()["errors"][0]["field"] == "query.at"
        assert await log.last_offset() == before == 0, "nothing of a rejected report is stored"
        # the server is unharmed: a good report goes through at the first offset
        ok = await live.http.post("/api/v1/reports", json=report("fine"))
        assert ok.status_code == 202, ok.text
        assert ok.json()["accepted"][0]["offset"] == 1
