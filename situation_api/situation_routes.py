"""The situation REST API (``/api/v1``): the picture, its layers, one incident in depth, feeds,
health and metrics.

The live picture is served as the runtime's cached canonical JSON (encoded once per change), so
``GET /situation`` costs no serialisation; the response models below document the shape for
OpenAPI and validate nothing on the hot path. Filtered lists decode that JSON once per seq.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, Final, Literal

import msgspec
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from ingest.report import EARLIEST, LATEST
from situation_api import metrics
from situation_api.auth.guard import require
from situation_api.problems import FieldError, ProblemError, problem_for, problem_responses
from situation_api.services import Services

# -- response models ------------------------------------------------------------------------------


class _Open(BaseModel):
    # The engine may add fields beyond contract 3; clients must ignore what they do not know.
    model_config = ConfigDict(extra="allow")


class IncidentView(_Open):
    id: str
    status: str = Field(description="open | resolved (closed and cancelled leave the picture)")
    category: str
    severity: str
    title: str
    centroid: list[float] = Field(description="[lon, lat]")
    district: str | None = Field(description="AGS of the district holding the centroid")
    first_seen: datetime
    last_seen: datetime
    agencies: list[str]
    metrics: dict[str, int] = Field(description="summed over the live threads")
    warnings: list[str] = Field(description="ids of linked warnings")
    threads: list[str] = Field(description='"source:source_id" keys of contributing threads')


class WarningView(_Open):
    id: str
    category: str
    severity: str
    headline: str | None
    onset: datetime | None
    expires: datetime | None
    districts: list[str] = Field(description="AGS keys of districts the warning covers")
    threads: list[str]


class DistrictView(_Open):
    ags: str
    name: str
    level: int = Field(description="0 normal, 1 elevated, 2 major incident, 3 disaster")
    open_incidents: dict[str, int] = Field(description="open incidents by severity")
    warnings: list[str]
    icu_beds_free: int | None


class SituationPicture(BaseModel):
    """Contract 3: the live situation picture."""

    seq: int = Field(description="seq of the last change the picture includes")
    as_of: datetime | None = Field(description="engine clock (event time) of the picture")
    incidents: list[IncidentView]
    warnings: list[WarningView]
    districts: list[DistrictView]


class IncidentList(BaseModel):
    seq: int
    as_of: datetime | None
    count: int
    incidents: list[IncidentView]


class WarningList(BaseModel):
    seq: int
    as_of: datetime | None
    count: int
    warnings: list[WarningView]


class DistrictList(BaseModel):
    seq: int
    as_of: datetime | None
    districts: list[DistrictView]


class ContributingReport(BaseModel):
    thread: str = Field(description='"source:source_id"')
    offset: int | None = Field(description="log offset of the thread's latest version")
    link: dict[str, Any] | None = Field(
        description="why the thread was linked to the incident (distance, time gap, families)"
    )
    report: dict[str, Any] | None = Field(
        description="the latest version of the thread as logged (contract 1 + server fields)"
    )


class TimelineEntry(BaseModel):
    seq: int
    at: datetime
    type: str = Field(description="change kind, e.g. IncidentOpened")
    reason: str | None = None
    thread: str | None = None
    late: bool = False
    status: str | None = Field(default=None, description="incident status after the change")
    severity: str | None = None


class IncidentDetail(BaseModel):
    id: str
    live: bool = Field(description="false when the incident has left the live picture")
    incident: IncidentView | None = Field(description="current view, or the last one it had")
    reports: list[ContributingReport]
    timeline: list[TimelineEntry]


class FeedState(BaseModel):
    feed: str
    updated_at: datetime
    last_success: datetime | None = None
    last_error: datetime | None = None
    error: str | None = None
    items: int = 0
    lag_seconds: float | None = None


class FeedList(BaseModel):
    feeds: list[FeedState]


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready"]
    seq: int
    offset: int = Field(description="highest log offset the engine has processed")
    log_offset: int = Field(description="highest log offset known")


# -- helpers --------------------------------------------------------------------------------------

_decoder: Final = msgspec.json.Decoder()
_encoder: Final = msgspec.json.Encoder()
_JSON: Final = "application/json"
SEVERITIES: Final = ("extreme", "severe", "moderate", "minor", "unknown")


def json_response(body: bytes) -> Response:
    return Response(body, media_type=_JSON)


def _aware(value: datetime | None, name: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ProblemError(
            422,
            f"{name} must carry a UTC offset (RFC 3339), e.g. 2024-06-01T12:00:00Z",
            kind="request-invalid",
            errors=[FieldError(field=f"query.{name}", reason="time zone offset required")],
        )
    if value is not None and not EARLIEST <= value < LATEST:
        # found by schemathesis: year 796 gave a 200 whose as_of was not RFC 3339
        raise ProblemError(
            422,
            f"{name} must lie between 1990 and 2100, got {value.isoformat()}",
            kind="request-invalid",
            errors=[FieldError(field=f"query.{name}", reason="must lie between 1990 and 2100")],
        )
    return value


def parse_bbox(text: str | None) -> tuple[float, float, float, float] | None:
    if text is None:
        return None
    parts = text.split(",")

    def bad(reason: str) -> ProblemError:
        return ProblemError(
            422,
            f"bbox {reason}",
            kind="request-invalid",
            errors=[FieldError(field="query.bbox", reason=reason)],
        )

    if len(parts) != 4:
        raise bad("must be minlon,minlat,maxlon,maxlat")
    try:
        minlon, minlat, maxlon, maxlat = (float(p) for p in parts)
    except ValueError:
        raise bad("must be four numbers") from None
    if not (-180 <= minlon <= maxlon <= 180 and -90 <= minlat <= maxlat <= 90):
        raise bad("must satisfy -180 <= minlon <= maxlon <= 180 and -90 <= minlat <= maxlat <= 90")
    return minlon, minlat, maxlon, maxlat


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def filter_incidents(
    incidents: Sequence[dict[str, Any]],
    *,
    status: Sequence[str] | None = None,
    severity: Sequence[str] | None = None,
    district: Sequence[str] | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    since: datetime | None = None,
) -> list[dict[str, Any]]:
    def keep(incident: dict[str, Any]) -> bool:
        if status and incident.get("status") not in status:
            return False
        if severity and incident.get("severity") not in severity:
            return False
        if district and incident.get("district") not in district:
            return False
        if bbox is not None:
            centroid: list[float] = incident.get("centroid") or []
            if len(centroid) < 2:
                return False
            lon, lat = centroid[0], centroid[1]
            if not (bbox[0] <= lon <= bbox[2] and bbox[1] <= lat <= bbox[3]):
                return False
        if since is not None:
            last = _parse_time(incident.get("last_seen"))
            if last is None or last < since:
                return False
        return True

    return [incident for incident in incidents if keep(incident)]


def _split(values: list[str] | None) -> list[str] | None:
    # Accept both ?severity=a&severity=b and ?severity=a,b
    if not values:
        return None
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


class _DecodedPicture:
    """The live picture decoded once per seq, for the filtering routes."""

    def __init__(self) -> None:
        self._key: tuple[int, int] | None = None
        self._value: dict[str, Any] = {}

    def get(self, services: Services) -> dict[str, Any]:
        body = services.runtime.picture_json()
        key = (services.runtime.seq, hash(body))
        if key != self._key:
            self._value = _decoder.decode(body)
            self._key = key
        return self._value


# -- routes ---------------------------------------------------------------------------------------


def situation_router(services_of: Callable[[Request], Services]) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["situation"])
    decoded = _DecodedPicture()

    @router.get(
        "/situation",
        response_model=SituationPicture,
        responses=problem_responses(422, 503),
        summary="The situation picture, live or at a past time",
    )
    async def get_situation(
        request: Request,
        at: Annotated[
            datetime | None,
            Query(description="RFC 3339 time; the picture as it was then, from history"),
        ] = None,
    ) -> Response:
        services = services_of(request)
        if at is None:
            return json_response(services.runtime.picture_json())
        moment = _aware(at, "at")
        assert moment is not None
        return json_response(await services.picture_at(moment))

    @router.get(
        "/incidents",
        response_model=IncidentList,
        responses=problem_responses(422),
        summary="Incidents of the live picture, filtered",
    )
    async def get_incidents(
        request: Request,
        status: Annotated[list[str] | None, Query(description="open, resolved")] = None,
        severity: Annotated[list[str] | None, Query(description="CAP severities")] = None,
        district: Annotated[list[str] | None, Query(description="AGS keys")] = None,
        bbox: Annotated[
            str | None, Query(description="minlon,minlat,maxlon,maxlat (WGS84)")
        ] = None,
        since: Annotated[
            datetime | None, Query(description="only incidents active (last_seen) since then")
        ] = None,
    ) -> Response:
        picture = decoded.get(services_of(request))
        incidents = filter_incidents(
            picture["incidents"],
            status=_split(status),
            severity=_split(severity),
            district=_split(district),
            bbox=parse_bbox(bbox),
            since=_aware(since, "since"),
        )
        return json_response(
            _encoder.encode(
                {
                    "seq": picture["seq"],
                    "as_of": picture.get("as_of"),
                    "count": len(incidents),
                    "incidents": incidents,
                }
            )
        )

    @router.get(
        "/incidents/{incident_id}",
        response_model=IncidentDetail,
        responses=problem_responses(404),
        summary="One incident with its contributing reports and its timeline",
    )
    async def get_incident(
        request: Request,
        incident_id: Annotated[str, Path(max_length=200)],
    ) -> Response:
        detail = await services_of(request).incident_detail(incident_id)
        if detail is None:
            raise ProblemError(
                404, f"no incident {incident_id!r}", kind="not-found", title="Incident not found"
            )
        return json_response(_encoder.encode(detail))

    @router.get("/warnings", response_model=WarningList, summary="Active and pending warnings")
    async def get_warnings(
        request: Request,
        severity: Annotated[list[str] | None, Query()] = None,
        district: Annotated[list[str] | None, Query(description="AGS keys")] = None,
    ) -> Response:
        picture = decoded.get(services_of(request))
        severities, districts = _split(severity), _split(district)
        warnings = [
            w
            for w in picture["warnings"]
            if (not severities or w.get("severity") in severities)
            and (not districts or set(districts) & set(w.get("districts") or ()))
        ]
        body = {
            "seq": picture["seq"],
            "as_of": picture.get("as_of"),
            "count": len(warnings),
            "warnings": warnings,
        }
        return json_response(_encoder.encode(body))

    @router.get("/districts", response_model=DistrictList, summary="Status of every district")
    async def get_districts(
        request: Request,
        min_level: Annotated[int | None, Query(ge=0, le=3)] = None,
    ) -> Response:
        picture = decoded.get(services_of(request))
        districts = [
            d for d in picture["districts"] if min_level is None or d.get("level", 0) >= min_level
        ]
        body = {"seq": picture["seq"], "as_of": picture.get("as_of"), "districts": districts}
        return json_response(_encoder.encode(body))

    @router.get("/feeds", response_model=FeedList, summary="Health of the polled and pushed feeds")
    async def get_feeds(request: Request) -> FeedList:
        statuses = await services_of(request).feeds.list()
        return FeedList(
            feeds=[
                FeedState(
                    feed=s.feed,
                    updated_at=s.updated_at,
                    last_success=s.last_success,
                    last_error=s.last_error,
                    error=s.error,
                    items=s.items,
                    lag_seconds=s.lag_seconds,
                )
                for s in statuses
            ]
        )

    return router


def health_router(services_of: Callable[[Request], Services | None]) -> APIRouter:
    router = APIRouter(tags=["operations"])

    async def healthz() -> Health:
        return Health(status="ok")

    async def readyz(request: Request) -> Response:
        services = services_of(request)
        reason = "starting" if services is None else services.not_ready()
        if reason is not None:
            return problem_for(
                503, reason, kind="not-ready", title="Not ready", instance=request.url.path
            )
        assert services is not None
        runtime = services.runtime
        body = Readiness(
            status="ready", seq=runtime.seq, offset=runtime.offset, log_offset=runtime.log_offset
        )
        return Response(body.model_dump_json(), media_type=_JSON)

    async def metrics_endpoint() -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    for prefix, in_schema in (("/api/v1", True), ("", False)):
        router.add_api_route(
            f"{prefix}/healthz",
            healthz,
            methods=["GET"],
            response_model=Health,
            summary="The process is alive",
            include_in_schema=in_schema,
        )
        router.add_api_route(
            f"{prefix}/readyz",
            readyz,
            methods=["GET"],
            response_model=Readiness,
            responses=problem_responses(503),
            summary="Log open, migrations applied, engine caught up with the log",
            include_in_schema=in_schema,
        )
        router.add_api_route(
            f"{prefix}/metrics",
            metrics_endpoint,
            methods=["GET"],
            response_class=Response,
            responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text"}},
            summary="Prometheus metrics (any viewer token)",
            dependencies=[Depends(require("viewer"))],
            include_in_schema=in_schema,
        )
    return router
