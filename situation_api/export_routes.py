"""Situation report exports: ``GET /api/v1/exports/situation-report`` renders a report on
demand from the history; ``GET /api/v1/exports`` lists the scheduled report files and
``GET /api/v1/exports/{name}`` downloads one.

Building and rendering run in worker threads so a heavy report never stalls the stream.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field

from situation_api.problems import FieldError, ProblemError, problem_responses
from situation_api.reports import FORMATS, ReportInvalid, filename, render
from situation_api.reports.model import window
from situation_api.reports.schedule import export_path, format_of, list_exports
from situation_api.reports.source import engine_time, report_from_services
from situation_api.services import Services


class ExportEntry(BaseModel):
    name: str
    format: str
    size: int = Field(description="bytes")
    modified: datetime
    url: str


class ExportList(BaseModel):
    folder_configured: bool = Field(description="whether scheduled reports are switched on")
    interval_seconds: float
    exports: list[ExportEntry]


def _invalid(error: ReportInvalid) -> ProblemError:
    return ProblemError(
        422,
        str(error),
        kind="request-invalid",
        errors=[FieldError(field=f"query.{error.option}", reason=error.reason)],
    )


def export_router(services_of: Callable[[Request], Services]) -> APIRouter:
    router = APIRouter(prefix="/api/v1/exports", tags=["exports"])

    @router.get(
        "/situation-report",
        response_class=Response,
        responses={
            200: {
                "content": {f.media_type.partition(";")[0]: {} for f in FORMATS.values()},
                "description": "the report file (Content-Disposition names it)",
            },
            **problem_responses(422, 503),
        },
        summary="A situation report (Lagebericht) for a time window and region",
    )
    async def situation_report(
        request: Request,
        format: Annotated[
            Literal["pdf", "html", "geojson", "csv", "sitrep", "cap"], Query()
        ] = "pdf",
        at: Annotated[
            datetime | None, Query(description="report time T; default: the engine clock")
        ] = None,
        from_: Annotated[
            datetime | None, Query(alias="from", description="window start; default T - 24 h")
        ] = None,
        to: Annotated[datetime | None, Query(description="window end = report time")] = None,
        district: Annotated[
            list[str] | None, Query(description="AGS keys (repeat or comma-separate)")
        ] = None,
        lang: Literal["de", "en"] = "de",
        classification: Annotated[str | None, Query(max_length=80)] = None,
        prepared_by: Annotated[str | None, Query(max_length=120)] = None,
    ) -> Response:
        services = services_of(request)
        for name, value in (("at", at), ("from", from_), ("to", to)):
            if value is not None and value.tzinfo is None:
                raise _invalid(ReportInvalid(name, "time needs a UTC offset (RFC 3339)"))
        districts = [d.strip() for v in district or () for d in v.split(",") if d.strip()]
        try:
            now = engine_time(services) or datetime.now(UTC)
            start, moment = window(at, from_, to, now=now)
            report = await report_from_services(
                services,
                start=start,
                at=moment,
                districts=districts,
                lang=lang,
                classification=classification,
                prepared_by=prepared_by,
                generated_at=datetime.now(UTC).replace(microsecond=0),
            )
        except ReportInvalid as error:
            raise _invalid(error) from None
        body = await asyncio.to_thread(render, report, format)
        return Response(
            body,
            media_type=FORMATS[format].media_type,
            headers={
                "Content-Disposition": f'attachment; filename="{filename(report, format)}"',
                "X-Report-Number": report.number,
            },
        )

    @router.get("", response_model=ExportList, summary="Scheduled report files")
    async def exports(request: Request) -> ExportList:
        settings = services_of(request).settings
        files = await asyncio.to_thread(list_exports, settings.exports_path)
        return ExportList(
            folder_configured=settings.report_interval > 0,
            interval_seconds=settings.report_interval,
            exports=[
                ExportEntry(
                    name=f.name,
                    format=f.format,
                    size=f.size,
                    modified=f.modified,
                    url=f"/api/v1/exports/{f.name}",
                )
                for f in files
            ],
        )

    @router.get(
        "/{name}",
        response_class=FileResponse,
        responses=problem_responses(404),
        summary="Download one scheduled report file",
    )
    async def export_file(
        request: Request, name: Annotated[str, Path(max_length=120)]
    ) -> FileResponse:
        settings = services_of(request).settings
        path = export_path(settings.exports_path, name)
        fmt = FORMATS.get(format_of(name) or "")
        if path is None or fmt is None:
            raise ProblemError(404, f"no export {name!r}", kind="not-found", title="Not found")
        return FileResponse(path, media_type=fmt.media_type, filename=name)

    return router
