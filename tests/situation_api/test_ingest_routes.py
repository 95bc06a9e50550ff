"""The ingest API on a real PostgreSQL report log: acceptance only after durable append, per-item
rejections, idempotent duplicates, problem documents, size limits, raw payloads per item."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import pytest_asyncio
from fastapi import FastAPI

from ingest.errors import FeedInvalid, FeedUnsupported
from ingest.formats import parse
from ingest.store import PostgresReportLog
from ops.embedded_postgres import EmbeddedPostgres
from situation_api.ingest_routes import ingest_router
from situation_api.metrics import REGISTRY
from situation_api.problems import install_problem_handlers
from tests.situation_api.live_server import live_server

DWD = "cap/dwd"
MUL = "2.49.0.0.276.0.DWD.PVW.1687511640000.0d1a4fb5-251a-46fc-aae3-a688d2021e71.MUL.xml"
PROBLEM = "application/problem+json"
# Koblenz, Mainz, Trier.
PLACES = [(7.5886, 50.3569), (8.2473, 49.9929), (6.6414, 49.7596)]

pytestmark = pytest.mark.asyncio(loop_scope="module")


def report(n: int, tag: str = "E", **fields: Any) -> dict[str, Any]:
    lon, lat = PLACES[n % len(PLACES)]
    return {
        "source": "fire",
        "source_id": f"{tag}-{n:04d}",
        "category": "fire.building",
        "severity": "moderate",
        "observed_at": f"2025-11-29T08:{n % 60:02d}:00+01:00",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "headline": f"Gebäudebrand {n}",
        "metrics": {"injured": n % 3},
        **fields,
    }


def counter(name: str, fmt: str) -> float:
    return REGISTRY.get_sample_value(f"lz_reports_{name}_total", {"format": fmt}) or 0.0


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def report_log(pg_server: EmbeddedPostgres) -> AsyncIterator[PostgresReportLog]:
    """One private database for this module; tests compare offsets relative to ``base``."""
    url = pg_server.create_database(f"ingest_routes_{uuid.uuid4().hex[:12]}")
    log = await PostgresReportLog.open(url)
    yield log
    await log.close()


@pytest_asyncio.fixture(loop_scope="module")
async def base(report_log: PostgresReportLog) -> int:
    """The log's last offset before the test: what the test stores comes after it."""
    return await report_log.last_offset()


@pytest.fixture
def tag() -> str:
    """A per-test prefix for source ids, so tests sharing the log never see duplicates."""
    return uuid.uuid4().hex[:8]


def make_app(log: PostgresReportLog, **limits: int) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(ingest_router(log, **limits))
    return app


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(report_log: PostgresReportLog) -> AsyncIterator[httpx.AsyncClient]:
    app = make_app(report_log, max_body_bytes=1_000_000, max_items=50)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as http:
        yield http


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"]
    assert body["type"]
    assert body["detail"]
    return body


# -- canonical -------------------------------------------------------------------------------------

Log = PostgresReportLog


async def test_single_report_is_acknowledged_after_it_is_stored(
    client: httpx.AsyncClient, report_log: Log, base: int, tag: str
) -> None:
    body = json.dumps(report(1, tag), ensure_ascii=False).encode()
    before = counter("accepted", "canonical")
    response = await client.post(
        "/api/v1/reports", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 202, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "accepted": [
            {"index": 0, "id": f"fire:{tag}-0001:1", "offset": base + 1, "duplicate": False}
        ],
        "rejected": [],
        "warnings": [],
    }
    # The acknowledgement came after the append: the report is readable from the log now.
    [stored] = await report_log.read(base, 10)
    assert stored.key == ("fire", f"{tag}-0001", 1)
    assert stored.offset == base + 1
    assert stored.received_at is not None
    assert await report_log.read_raw(base + 1) == body
    assert counter("accepted", "canonical") == before + 1


async def test_batch_reports_each_item_and_stores_each_items_own_bytes(
    client: httpx.AsyncClient, report_log: Log, base: int, tag: str
) -> None:
    items = [
        report(1, tag),
        report(2, tag, category="explosion"),
        report(3, tag),
        report(4, tag, severity="huge"),
    ]
    body = b"[\n  " + b",\n  ".join(msgspec.json.encode(i) for i in items) + b"\n]"
    rejected_before = counter("rejected", "canonical")
    response = await client.post(
        "/api/v1/reports", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 202, response.text
    result = response.json()
    assert [(a["index"], a["id"], a["offset"]) for a in result["accepted"]] == [
        (0, f"fire:{tag}-0001:1", base + 1),
        (2, f"fire:{tag}-0003:1", base + 2),
    ]
    assert [(r["index"], r["field"]) for r in result["rejected"]] == [
        (1, "$.category"),
        (3, "$.severity"),
    ]
    assert "family" in result["rejected"][0]["reason"]
    assert counter("rejected", "canonical") == rejected_before + 2
    assert await report_log.last_offset() == base + 2  # nothing of the rejected items
    assert await report_log.read_raw(base + 1) == msgspec.json.encode(items[0])
    assert await report_log.read_raw(base + 2) == msgspec.json.encode(items[2])


async def test_jsonl_items_are_indexed_by_line(
    client: httpx.AsyncClient, report_log: Log, base: int, tag: str
) -> None:
    lines = [
        json.dumps(report(10, tag)),
        "",
        json.dumps(report(11, tag, observed_at="yesterday")),
        json.dumps(report(12, tag)),
        "{not json",
    ]
    body = "\n".join(lines).encode() + b"\n"
    for media in ("application/x-ndjson", "application/jsonl"):
        response = await client.post(
            "/api/v1/reports", content=body, headers={"content-type": media}
        )
        assert response.status_code == 202, response.text
        result = response.json()
        assert [a["index"] for a in result["accepted"]] == [0, 3]
        assert [(r["index"], r["field"]) for r in result["rejected"]] == [
            (2, "$.observed_at"),
            (4, "$"),
        ]
    # The second request only repeated the first: duplicates, nothing new.
    assert await report_log.last_offset() == base + 2
    assert await report_log.read_raw(base + 1) == lines[0].encode()
    assert await report_log.read_raw(base + 2) == lines[3].encode()


async def test_duplicates_are_acknowledged_with_the_original_offset(
    client: httpx.AsyncClient, report_log: Log, base: int, tag: str
) -> None:
    batch = [report(1, tag), report(2, tag)]
    first = await client.post("/api/v1/reports", json=batch)
    assert first.status_code == 202, first.text
    duplicates_before = counter("duplicate", "canonical")
    again = await client.post("/api/v1/reports", json=[report(3, tag), *batch])
    assert again.status_code == 202, again.text
    accepted = again.json()["accepted"]
    assert [(a["id"], a["offset"], a["duplicate"]) for a in accepted] == [
        (f"fire:{tag}-0003:1", base + 3, False),
        (f"fire:{tag}-0001:1", base + 1, True),
        (f"fire:{tag}-0002:1", base + 2, True),
    ]
    assert await report_log.last_offset() == base + 3
    assert counter("duplicate", "canonical") == duplicates_before + 2
    # The very same request again: nothing new at all, the stored original untouched.
    third = await client.post("/api/v1/reports", json=batch)
    assert [a["duplicate"] for a in third.json()["accepted"]] == [True, True]
    assert await report_log.last_offset() == base + 3
    assert await report_log.read_raw(base + 1) == msgspec.json.encode(batch[0])


async def test_all_rejected_batch_is_a_422_problem_naming_each_field(
    client: httpx.AsyncClient, report_log: Log, base: int, tag: str
) -> None:
    no_geometry = {k: v for k, v in report(2, tag).items() if k != "geometry"}
    batch = [report(1, tag, source="army"), no_geometry]
    body = problem(await client.post("/api/v1/reports", json=batch), 422)
    assert [(e["index"], e["field"]) for e in body["errors"]] == [
        (0, "$.source"),
        (1, "$.geometry"),
    ]
    assert all(e["reason"] for e in body["errors"])
    assert await report_log.last_offset() == base


async def test_single_invalid_report_is_a_422_naming_field_and_reason(
    client: httpx.AsyncClient, report_log: Log, base: int, tag: str
) -> None:
    invalid = report(1, tag, geometry={"type": "Point", "coordinates": [7.6, 95.0]})
    body = problem(await client.post("/api/v1/reports", json=invalid), 422)
    [error] = body["errors"]
    assert error["field"] == "$.geometry.coordinates"
    assert "latitude 95.0" in error["reason"]
    assert "$.geometry.coordinates" in body["detail"]
    missing = {k: v for k, v in report(2, tag).items() if k != "observed_at"}
    body = problem(await client.post("/api/v1/reports", json=missing), 422)
    assert body["errors"][0]["field"] == "$.observed_at"
    assert body["errors"][0]["reason"] == "is required"
    assert await report_log.last_offset() == base


@pytest.mark.parametrize(
    ("body", "status"),
    [(b"", 400), (b"hello", 400), (b'{"source": ', 400), (b"[]", 422), (b"42", 400)],
)
async def test_unreadable_or_empty_payload_is_a_problem(
    client: httpx.AsyncClient, report_log: Log, base: int, body: bytes, status: int
) -> None:
    response = await client.post(
        "/api/v1/reports", content=body, headers={"content-type": "application/json"}
    )
    problem(response, status)
    assert await report_log.last_offset() == base


async def test_too_many_items_is_refused(
    client: httpx.AsyncClient, report_log: Log, base: int, tag: str
) -> None:
    batch = [report(i, tag) for i in range(51)]
    body = problem(await client.post("/api/v1/reports", json=batch), 413)
    assert "at most 50" in body["detail"]
    assert await report_log.last_offset() == base


# -- media types and size limits -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "media"),
    [
        ("/api/v1/reports", "text/plain"),
        ("/api/v1/reports", None),
        ("/api/v1/reports", "application/x-www-form-urlencoded"),
        ("/api/v1/reports/cap", "application/json"),
        ("/api/v1/reports/geojson", "text/csv"),
        ("/api/v1/reports/csv", "application/json"),
    ],
)
async def test_unsupported_media_type_is_415(
    client: httpx.AsyncClient, report_log: Log, base: int, tag: str, path: str, media: str | None
) -> None:
    headers = {"content-type": media} if media else {}
    content = json.dumps(report(1, tag)).encode()
    body = problem(await client.post(path, content=content, headers=headers), 415)
    assert "not accepted here" in body["detail"]
    assert await report_log.last_offset() == base


async def test_compressed_body_is_415(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/reports",
        content=b"\x1f\x8b...",
        headers={"content-type": "application/json", "content-encoding": "gzip"},
    )
    assert "Content-Encoding" in problem(response, 415)["detail"]


async def test_declared_oversize_body_is_413(
    client: httpx.AsyncClient, report_log: Log, base: int, shared_data: Path
) -> None:
    body = (shared_data / DWD / "dwd_2019_alert_1.xml").read_bytes() * 5
    assert len(body) > 1_000_000
    response = await client.post(
        "/api/v1/reports/cap", content=body, headers={"content-type": "application/cap+xml"}
    )
    assert "exceeds 1000000 bytes" in problem(response, 413)["detail"]
    assert await report_log.last_offset() == base


async def test_chunked_oversize_body_is_refused_before_it_is_read(
    client: httpx.AsyncClient, report_log: Log, base: int
) -> None:
    pulled = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal pulled
        for _ in range(1000):  # 64 MB if it were all read
            pulled += 1
            yield b" " * 65_536

    response = await client.post(
        "/api/v1/reports", content=chunks(), headers={"content-type": "application/json"}
    )
    problem(response, 413)
    assert "content-length" not in {k.lower() for k in response.request.headers}
    assert pulled <= 20  # stopped right after the limit (1 MB = 16 chunks)
    assert await report_log.last_offset() == base


async def test_log_that_cannot_take_writes_is_a_503_with_retry_after(
    pg_fresh_url: str, tag: str
) -> None:
    closed = await PostgresReportLog.open(pg_fresh_url)
    await closed.close()
    app = make_app(closed)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        response = await http.post("/api/v1/reports", json=report(1, tag))
    body = problem(response, 503)
    assert "nothing was stored" in body["detail"]
    assert response.headers["retry-after"] == "5"


# -- CAP ------------------------------------------------------------------------------------------


async def test_real_dwd_cap_files_are_accepted_with_the_document_as_raw(
    client: httpx.AsyncClient, report_log: Log, base: int, shared_data: Path
) -> None:
    before = counter("accepted", "cap")
    offsets: list[int] = []
    paths = sorted((shared_data / DWD).glob("*.xml"))
    for path in paths:
        data = path.read_bytes()
        response = await client.post(
            "/api/v1/reports/cap", content=data, headers={"content-type": "application/cap+xml"}
        )
        assert response.status_code == 202, response.text
        [accepted] = response.json()["accepted"]
        expected = parse(data, "cap").reports[0]
        assert accepted["id"] == f"{expected.source}:{expected.source_id}:{expected.sequence}"
        assert accepted["id"].startswith("weather:2.49.0.")
        assert not accepted["duplicate"]
        assert await report_log.read_raw(accepted["offset"]) == data
        offsets.append(accepted["offset"])
    assert offsets == list(range(base + 1, base + len(paths) + 1))
    assert counter("accepted", "cap") == before + len(paths)
    # Re-sending one is idempotent, also as text/xml.
    again = await client.post(
        "/api/v1/reports/cap",
        content=paths[0].read_bytes(),
        headers={"content-type": "text/xml; charset=utf-8"},
    )
    [duplicate] = again.json()["accepted"]
    assert (duplicate["offset"], duplicate["duplicate"]) == (base + 1, True)
    assert await report_log.last_offset() == base + len(paths)


async def test_edxl_de_envelope_is_accepted(
    client: httpx.AsyncClient, report_log: Log, base: int, shared_data: Path
) -> None:
    data = (shared_data / "cap/international/au_bushfire_edxlde_wrapped.edxlde").read_bytes()
    response = await client.post(
        "/api/v1/reports/cap", content=data, headers={"content-type": "application/xml"}
    )
    assert response.status_code == 202, response.text
    accepted = response.json()["accepted"]
    assert len(accepted) == len(parse(data, "cap").reports) >= 1
    assert await report_log.read_raw(accepted[0]["offset"]) == data
    assert await report_log.last_offset() == base + len(accepted)


async def test_xxe_attack_is_refused_and_nothing_stored(
    client: httpx.AsyncClient, report_log: Log, base: int, shared_data: Path
) -> None:
    before = counter("rejected", "cap")
    data = (shared_data / "cap/negative/xxe_attack.cap").read_bytes()
    response = await client.post(
        "/api/v1/reports/cap", content=data, headers={"content-type": "application/cap+xml"}
    )
    body = problem(response, 400)
    assert "DTD" in body["detail"]
    assert "passwd" not in response.text
    assert await report_log.last_offset() == base
    assert counter("rejected", "cap") == before + 1


@pytest.mark.parametrize(
    "name", ["invalid_schema.cap", "invalid_xmlns.cap", "noaa_errors.cap", "canada_errors.cap"]
)
async def test_negative_cap_samples_store_nothing_they_reject(
    client: httpx.AsyncClient, report_log: Log, base: int, shared_data: Path, name: str
) -> None:
    data = (shared_data / "cap/negative" / name).read_bytes()
    response = await client.post(
        "/api/v1/reports/cap", content=data, headers={"content-type": "application/cap+xml"}
    )
    try:
        expected = parse(data, "cap")
    except FeedInvalid as error:
        body = problem(response, 415 if isinstance(error, FeedUnsupported) else 400)
        assert error.reason in body["detail"]
        assert await report_log.last_offset() == base
        return
    if expected.reports:
        assert response.status_code == 202, response.text
        assert len(response.json()["rejected"]) == len(expected.rejected)
    else:
        body = problem(response, 422)
        assert len(body["errors"]) == len(expected.rejected)
    assert await report_log.last_offset() == base + len(expected.reports)


# -- GeoJSON and CSV ------------------------------------------------------------------------------


async def test_geojson_features_keep_their_own_bytes(
    client: httpx.AsyncClient, report_log: Log, base: int, tag: str
) -> None:
    def feature(n: int, **props: Any) -> dict[str, Any]:
        fields = report(n, tag, **props)
        geometry = fields.pop("geometry")
        return {"type": "Feature", "geometry": geometry, "properties": fields}

    features = [feature(1), feature(2, category="nonsense"), feature(3)]
    encoded = [msgspec.json.encode(f) for f in features]
    body = b'{"type":"FeatureCollection","features":[' + b",".join(encoded) + b"]}"
    response = await client.post(
        "/api/v1/reports/geojson", content=body, headers={"content-type": "application/geo+json"}
    )
    assert response.status_code == 202, response.text
    result = response.json()
    assert [a["index"] for a in result["accepted"]] == [0, 2]
    assert result["rejected"][0]["index"] == 1
    assert result["rejected"][0]["field"].startswith("$.features[1]")
    assert await report_log.read_raw(base + 1) == encoded[0]
    assert await report_log.read_raw(base + 2) == encoded[2]
    assert await report_log.last_offset() == base + 2


async def test_real_seattle_csv_through_its_shipped_mapping(
    client: httpx.AsyncClient, report_log: Log, base: int, shared_data: Path
) -> None:
    path = shared_data / "incidents/us_seattle/seattle_fire_911_mva_subset_2014-01_to_2015-01.csv"
    lines = path.read_bytes().splitlines(keepends=True)
    data = b"".join(lines[:41])  # header + 40 dispatches
    expected = parse(data, "csv", mapping="seattle_fire_911")
    response = await client.post(
        "/api/v1/reports/csv?mapping=seattle_fire_911",
        content=data,
        headers={"content-type": "text/csv; charset=utf-8"},
    )
    assert response.status_code == 202, response.text
    accepted = response.json()["accepted"]
    assert len(accepted) == len(expected.reports) > 30
    assert {a["id"].split(":")[0] for a in accepted} == {"fire"}
    assert await report_log.last_offset() == base + len(accepted)
    raw = await report_log.read_raw(accepted[0]["offset"])
    assert raw is not None
    assert raw.startswith(lines[0].rstrip(b"\r\n"))  # the header travels with the row
    assert len(raw) < len(data)


async def test_canonical_csv_and_unknown_mapping(
    client: httpx.AsyncClient, report_log: Log, base: int, tag: str
) -> None:
    header = b"source,source_id,category,observed_at,lon,lat,severity"
    good = f"police,{tag}-1,security.public_order,2025-11-29T08:00:00+01:00,7.5886,50.3569,minor"
    bad = f"police,{tag}-2,security.public_order,2025-11-29T08:05:00+01:00,7.5886,500,minor"
    csv_body = b"\n".join([header, good.encode(), bad.encode()]) + b"\n"
    response = await client.post(
        "/api/v1/reports/csv", content=csv_body, headers={"content-type": "text/csv"}
    )
    assert response.status_code == 202, response.text
    result = response.json()
    assert [a["id"] for a in result["accepted"]] == [f"police:{tag}-1:1"]
    assert result["rejected"][0]["index"] == 1
    assert await report_log.read_raw(base + 1) == header + b"\n" + good.encode() + b"\n"
    unknown = await client.post(
        "/api/v1/reports/csv?mapping=nope", content=csv_body, headers={"content-type": "text/csv"}
    )
    body = problem(unknown, 422)
    assert body["errors"][0]["field"] == "query.mapping"
    assert "nope" in body["errors"][0]["reason"]
    assert await report_log.last_offset() == base + 1


# -- OpenAPI --------------------------------------------------------------------------------------


async def test_openapi_documents_bodies_and_responses(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    paths = schema["paths"]
    expected = {
        "/api/v1/reports": {"application/json", "application/x-ndjson", "application/jsonl"},
        "/api/v1/reports/cap": {"application/cap+xml", "application/xml", "text/xml"},
        "/api/v1/reports/geojson": {"application/geo+json", "application/json"},
        "/api/v1/reports/csv": {"text/csv", "application/csv"},
    }
    for path, media in expected.items():
        operation = paths[path]["post"]
        assert set(operation["requestBody"]["content"]) == media
        responses = operation["responses"]
        assert "IngestAccepted" in json.dumps(responses["202"])
        for status in ("400", "413", "415", "422"):
            assert "application/problem+json" in responses[status]["content"]
    assert {"accepted", "rejected", "warnings"} <= set(
        schema["components"]["schemas"]["IngestAccepted"]["properties"]
    )
    mapping = paths["/api/v1/reports/csv"]["post"]["parameters"][0]
    assert mapping["name"] == "mapping"
    assert mapping["schema"]["default"] == "canonical"


# -- over a real uvicorn server, through the product's create_app ----------------------------------


async def test_ingest_over_a_real_server_with_create_app(
    pg_fresh_url: str, shared_data: Path, tag: str
) -> None:
    data = (shared_data / DWD / MUL).read_bytes()
    async with live_server(pg_fresh_url, max_body_bytes=200_000) as live:
        response = await live.http.post(
            "/api/v1/reports/cap", content=data, headers={"content-type": "application/cap+xml"}
        )
        assert response.status_code == 202, response.text
        [accepted] = response.json()["accepted"]
        assert accepted["duplicate"] is False
        batch = [report(1, tag), report(2, tag, source="army")]
        mixed = await live.http.post("/api/v1/reports", json=batch)
        assert mixed.status_code == 202, mixed.text
        assert [r["field"] for r in mixed.json()["rejected"]] == ["$.source"]
        again = await live.http.post(
            "/api/v1/reports/cap", content=data, headers={"content-type": "application/xml"}
        )
        assert again.json()["accepted"][0] == {**accepted, "duplicate": True}

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(100):
                yield b" " * 65_536

        chunked = await live.http.post(
            "/api/v1/reports", content=chunks(), headers={"content-type": "application/json"}
        )
        problem(chunked, 413)
        declared = await live.http.post(
            "/api/v1/reports/cap",
            content=data * 8,
            headers={"content-type": "application/cap+xml"},
        )
        problem(declared, 413)
        xxe = (shared_data / "cap/negative/xxe_attack.cap").read_bytes()
        problem(
            await live.http.post(
                "/api/v1/reports/cap", content=xxe, headers={"content-type": "application/xml"}
            ),
            400,
        )
        problem(await live.http.post("/api/v1/reports", content=b"x"), 415)
        metrics = (await live.http.get("/metrics")).text
        assert 'lz_reports_accepted_total{format="cap"}' in metrics
    # Durable: a separate connection finds exactly the two accepted reports, CAP byte for byte.
    log = await PostgresReportLog.open(pg_fresh_url)
    try:
        assert await log.last_offset() == 2
        assert await log.read_raw(accepted["offset"]) == data
        keys = [r.key for r in await log.read(0, 10)]
        assert ("fire", f"{tag}-0001", 1) in keys
    finally:
        await log.close()
