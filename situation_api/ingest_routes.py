"""The ingest HTTP API: ``POST /api/v1/reports[/cap|/geojson|/csv]``.

A request is answered ``202`` only after every accepted report is durable in the report log
(``await ReportLog.append``); the body lists per item what was accepted (with its log offset,
``duplicate: true`` for a report already logged) and what was rejected and why. A payload of
which nothing is usable is a problem document (RFC 9457): ``400`` unreadable, ``422`` every item
invalid, ``413`` too large, ``415`` wrong media type. Nothing of a rejected item is stored.

Size limits are enforced before the body is held in memory: the declared ``Content-Length`` is
checked first, and a chunked body is counted while it streams in.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import msgspec
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from ingest.errors import IngestError, ReportInvalid
from ingest.formats import parse
from ingest.formats.common import strip_bom
from ingest.formats.result import ParseResult
from ingest.formats.table import CsvMapping, MappingInvalid, load_mapping
from ingest.report import Report, encode_report
from ingest.store.errors import StoreClosed, StoreUnavailable
from ingest.store.port import Appended, ReportLog
from situation_api import metrics
from situation_api.auth.guard import principal_of
from situation_api.auth.roles import Principal
from situation_api.problems import (
    FieldError,
    ProblemError,
    from_ingest_error,
    problem_responses,
)

DEFAULT_MAX_BODY_BYTES: Final = 16 * 1024 * 1024
DEFAULT_MAX_ITEMS: Final = 10_000

_CANONICAL_TYPES: Final = ("application/json", "application/x-ndjson", "application/jsonl")
_CAP_TYPES: Final = ("application/cap+xml", "application/xml", "text/xml")
_GEOJSON_TYPES: Final = ("application/geo+json", "application/json")
_CSV_TYPES: Final = ("text/csv", "application/csv")


# -- response models (OpenAPI) ------------------------------------------------------------------


class AcceptedItem(BaseModel):
    index: int = Field(description="position of the report in the payload")
    id: str = Field(description='the report\'s name, "source:source_id:sequence"')
    offset: int = Field(description="log offset (the original's, for a duplicate)")
    duplicate: bool = Field(description="already logged earlier; acknowledged, not stored again")


class RejectedItem(BaseModel):
    index: int | None = Field(description="position of the item in the payload")
    field: str = Field(description="JSON path of the offending field, e.g. `$.geometry`")
    reason: str


class IngestAccepted(BaseModel):
    """The reports of the payload that are now durable in the log, and the items refused."""

    accepted: list[AcceptedItem]
    rejected: list[RejectedItem]
    warnings: list[str]


# -- body reading --------------------------------------------------------------------------------


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _check_media_type(request: Request, allowed: Sequence[str]) -> str:
    media = _media_type(request)
    if media not in allowed:
        got = f"{media!r}" if media else "no Content-Type"
        raise ProblemError(
            415,
            f"{got} not accepted here; send one of {', '.join(allowed)}",
            kind="unsupported-media-type",
            headers={"Accept-Post": ", ".join(allowed)},
        )
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise ProblemError(
            415, f"Content-Encoding {encoding!r} not supported", kind="unsupported-media-type"
        )
    return media


def _too_large(limit: int) -> ProblemError:
    return ProblemError(
        413, f"request body exceeds {limit} bytes; split the batch", kind="payload-too-large"
    )


async def read_limited(request: Request, limit: int) -> bytes:
    """The request body, refusing (413) as soon as it is known to exceed ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise ProblemError(400, f"invalid Content-Length {declared!r}", kind="bad-request")
        if int(declared) > limit:
            raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


# -- raw bytes per item --------------------------------------------------------------------------

_RAW_ARRAY: Final = msgspec.json.Decoder(list[msgspec.Raw])
_RAW_ONE: Final = msgspec.json.Decoder(msgspec.Raw)


class _RawFeatures(msgspec.Struct):
    features: list[msgspec.Raw] = []
    type: str = ""


_RAW_GEOJSON: Final = msgspec.json.Decoder(_RawFeatures)


def canonical_items(body: bytes) -> dict[int, bytes]:
    """Each item's own bytes by its index, split exactly as the canonical parser counts items
    (array element, or 0-based line for JSON Lines)."""
    data = strip_bom(body)
    stripped = data.strip()
    if stripped[:1] == b"[":
        return {i: bytes(raw) for i, raw in enumerate(_RAW_ARRAY.decode(stripped))}
    try:
        _RAW_ONE.decode(stripped)
    except msgspec.DecodeError:
        return {i: line.rstrip(b"\r") for i, line in enumerate(data.split(b"\n")) if line.strip()}
    return {0: stripped}


def geojson_items(body: bytes) -> dict[int, bytes]:
    doc = _RAW_GEOJSON.decode(strip_bom(body))
    if doc.type == "Feature":
        return {0: strip_bom(body).strip()}
    return {i: bytes(raw) for i, raw in enumerate(doc.features)}


def csv_items(mapping: CsvMapping) -> Callable[[bytes], dict[int, bytes]]:
    """Splits a CSV body into its data records (0-based, header excluded, as the CSV parser
    counts them), each re-encoded together with the header line so it stays readable alone."""

    def split(body: bytes) -> dict[int, bytes]:
        encoding = (
            "utf-8-sig" if mapping.encoding.lower() in ("utf-8", "utf8") else mapping.encoding
        )
        text = body.decode(encoding)
        records = [
            r for r in csv.reader(io.StringIO(text, newline=""), delimiter=mapping.delimiter) if r
        ]
        if not records:
            return {}
        out: dict[int, bytes] = {}
        for index, record in enumerate(records[1:]):
            buffer = io.StringIO()
            writer = csv.writer(buffer, delimiter=mapping.delimiter, lineterminator="\n")
            writer.writerow(records[0])
            writer.writerow(record)
            out[index] = buffer.getvalue().encode(mapping.encoding)
        return out

    return split


def pair_raw(
    result: ParseResult, body: bytes, split: Callable[[bytes], dict[int, bytes]] | None
) -> list[tuple[int, Report, bytes]]:
    """``(index, report, raw)`` for every accepted report.

    Reports come back in payload order and every rejection names its index, so the accepted
    indices are the item indices minus the rejected ones. A format without separable items (CAP)
    keeps the whole document as each report's raw bytes.
    """
    whole = [(i, report, body) for i, report in enumerate(result.reports)]
    if split is None:
        return whole
    try:
        items = split(body)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeError, LookupError, csv.Error):
        items = {}
    rejected = {r.index for r in result.rejected}
    indices = [i for i in sorted(items) if i not in rejected]
    if len(indices) == len(result.reports):
        return [(i, r, items[i]) for i, r in zip(indices, result.reports, strict=True)]
    if len(result.reports) == 1:
        return whole
    # Copying a large batch body into every entry would multiply its size by its item count;
    # the report's own canonical encoding is the faithful per-item record left.
    return [(i, report, encode_report(report)) for i, report in enumerate(result.reports)]


# -- the routes ----------------------------------------------------------------------------------

_encoder: Final = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class _Intake:
    log: ReportLog
    max_body_bytes: int
    max_items: int

    async def ingest(
        self,
        request: Request,
        fmt: str,
        allowed: Sequence[str],
        split: Callable[[bytes], dict[int, bytes]] | None,
        options: Mapping[str, Any],
    ) -> Response:
        started = time.perf_counter()
        _check_media_type(request, allowed)
        body = await read_limited(request, self.max_body_bytes)
        try:
            result = parse(body, fmt, **options)
        except IngestError as error:
            metrics.REPORTS_REJECTED.labels(fmt).inc()
            raise from_ingest_error(error) from None
        count = len(result.reports) + len(result.rejected)
        if count > self.max_items:
            metrics.REPORTS_REJECTED.labels(fmt).inc(count)
            raise ProblemError(
                413,
                f"{count} items in one request; at most {self.max_items}",
                kind="too-many-items",
            )
        if result.rejected:
            metrics.REPORTS_REJECTED.labels(fmt).inc(len(result.rejected))
        if not result.reports:
            raise _all_rejected(result)
        paired = pair_raw(result, body, split)
        paired, result = _in_scope(paired, result, principal_of(request))
        try:
            appended = await self.log.append([(report, raw) for _, report, raw in paired])
        except (StoreUnavailable, StoreClosed) as error:
            raise ProblemError(
                503,
                f"the report log cannot take writes now; nothing was stored: {error}",
                kind="store-unavailable",
                headers={"Retry-After": "5"},
            ) from None
        duplicates = sum(1 for a in appended if a.duplicate)
        metrics.REPORTS_ACCEPTED.labels(fmt).inc(len(appended) - duplicates)
        if duplicates:
            metrics.REPORTS_DUPLICATE.labels(fmt).inc(duplicates)
        metrics.ACCEPT_LATENCY.labels(fmt).observe(time.perf_counter() - started)
        return Response(
            _encoder.encode(_answer(paired, appended, result)),
            status_code=202,
            media_type="application/json",
        )


def _in_scope(
    paired: list[tuple[int, Report, bytes]], result: ParseResult, principal: Principal
) -> tuple[list[tuple[int, Report, bytes]], ParseResult]:
    """Only the sources of the caller's token: a police token cannot submit as fire. Reports of
    other sources are rejected at ``$.source``; if none is left, the request is refused (403)."""
    if principal.sources is None:
        return paired, result
    kept = [item for item in paired if principal.may_submit(item[1].source)]
    if len(kept) == len(paired):
        return paired, result
    refused = [
        ReportInvalid(
            "$.source",
            f"token {principal.id} may submit for {', '.join(sorted(principal.sources))} only, "
            f"not {report.source!r}",
            index=index,
        )
        for index, report, _ in paired
        if not principal.may_submit(report.source)
    ]
    metrics.REPORTS_REJECTED.labels("scope").inc(len(refused))
    rejected = tuple(sorted((*result.rejected, *refused), key=lambda r: r.index or 0))
    if not kept:
        errors = [FieldError(field=r.field, reason=r.reason, index=r.index) for r in rejected]
        raise ProblemError(
            403,
            refused[0].reason,
            kind="source-not-allowed",
            title="Source not allowed for this token",
            errors=errors,
        )
    scoped = ParseResult(
        reports=tuple(report for _, report, _ in kept), rejected=rejected, warnings=result.warnings
    )
    return kept, scoped


def _item_id(report: Report) -> str:
    return f"{report.source}:{report.source_id}:{report.sequence}"


def _rejections(rejected: Sequence[ReportInvalid]) -> list[dict[str, Any]]:
    return [{"index": r.index, "field": r.field, "reason": r.reason} for r in rejected]


def _answer(
    paired: Sequence[tuple[int, Report, bytes]],
    appended: Sequence[Appended],
    result: ParseResult,
) -> dict[str, Any]:
    return {
        "accepted": [
            {
                "index": index,
                "id": _item_id(report),
                "offset": outcome.offset,
                "duplicate": outcome.duplicate,
            }
            for (index, report, _), outcome in zip(paired, appended, strict=True)
        ],
        "rejected": _rejections(result.rejected),
        "warnings": list(result.warnings),
    }


def _all_rejected(result: ParseResult) -> ProblemError:
    if not result.rejected:
        return ProblemError(
            422, "the payload contains no reports", kind="no-reports", title="No reports"
        )
    errors = [FieldError(field=r.field, reason=r.reason, index=r.index) for r in result.rejected]
    if len(errors) == 1:
        detail = f"{errors[0].field}: {errors[0].reason}"
    else:
        detail = f"all {len(errors)} items rejected; first: {errors[0].field}: {errors[0].reason}"
    return ProblemError(422, detail, kind="report-invalid", title="Report invalid", errors=errors)


def _body_doc(types: Sequence[str], schema: Mapping[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {t: {"schema": schema} for t in types}}}


_CANONICAL_SCHEMA: Final = {
    "description": "one canonical report (contract 1), a JSON array of them, or JSON Lines",
    "oneOf": [{"type": "object"}, {"type": "array", "items": {"type": "object"}}],
}
_PROBLEMS: Final = problem_responses(400, 401, 403, 413, 415, 422, 429, 503)
_ACCEPTED: Final[dict[int | str, dict[str, Any]]] = {
    202: {"model": IngestAccepted, "description": "the accepted reports are durable in the log"}
}


def ingest_router(
    log: ReportLog,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_items: int = DEFAULT_MAX_ITEMS,
) -> APIRouter:
    """The ingest routes, publishing into ``log``."""
    intake = _Intake(log, max_body_bytes, max_items)
    router = APIRouter(prefix="/api/v1/reports", tags=["ingest"])
    responses = {**_ACCEPTED, **_PROBLEMS}

    @router.post(
        "",
        status_code=202,
        response_model=None,
        responses=responses,
        summary="Submit canonical reports",
        description=(
            "One report (JSON object), a batch (JSON array) or JSON Lines "
            "(`application/x-ndjson`, `application/jsonl`). Answered after the accepted reports "
            "are durable; per-item rejections name the field and the reason."
        ),
        openapi_extra=_body_doc(_CANONICAL_TYPES, _CANONICAL_SCHEMA),
    )
    async def post_reports(request: Request) -> Response:
        return await intake.ingest(request, "canonical", _CANONICAL_TYPES, canonical_items, {})

    @router.post(
        "/cap",
        status_code=202,
        response_model=None,
        responses=responses,
        summary="Submit a CAP 1.x alert",
        description=(
            "A CAP 1.0–1.2 `<alert>`, an EDXL-DE envelope of alerts or an `<alerts>` list. "
            "DTDs and entities are refused. Each report keeps the whole document as raw payload."
        ),
        openapi_extra=_body_doc(_CAP_TYPES, {"type": "string", "format": "xml"}),
    )
    async def post_cap(request: Request) -> Response:
        return await intake.ingest(request, "cap", _CAP_TYPES, None, {})

    @router.post(
        "/geojson",
        status_code=202,
        response_model=None,
        responses=responses,
        summary="Submit GeoJSON features",
        description="A FeatureCollection (or one Feature) whose properties are contract-1 fields.",
        openapi_extra=_body_doc(_GEOJSON_TYPES, {"type": "object"}),
    )
    async def post_geojson(request: Request) -> Response:
        return await intake.ingest(request, "geojson", _GEOJSON_TYPES, geojson_items, {})

    @router.post(
        "/csv",
        status_code=202,
        response_model=None,
        responses=responses,
        summary="Submit a CSV table of reports",
        description="UTF-8 CSV with a header row; `mapping` names a shipped column mapping.",
        openapi_extra=_body_doc(_CSV_TYPES, {"type": "string", "format": "csv"}),
    )
    async def post_csv(
        request: Request,
        mapping: str = Query(
            "canonical",
            description="name of a shipped CSV mapping",
            pattern=r"^[a-z0-9_]{1,64}$",
        ),
    ) -> Response:
        table = _mapping(mapping)
        return await intake.ingest(request, "csv", _CSV_TYPES, csv_items(table), {"mapping": table})

    return router


def _mapping(name: str) -> CsvMapping:
    try:
        return load_mapping(name)
    except MappingInvalid as error:
        raise ProblemError(
            422,
            str(error),
            kind="request-invalid",
            title="Request invalid",
            errors=[FieldError(field="query.mapping", reason=str(error))],
        ) from None
