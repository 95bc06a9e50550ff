"""RFC 9457 problem details: every 4xx/5xx of the API is ``application/problem+json``.

Routes raise :class:`ProblemError` (or let an :class:`ingest.errors.IngestError` escape); the
handlers installed by :func:`install_problem_handlers` turn it, FastAPI's request validation
errors, Starlette's HTTP errors and anything unexpected into one body shape: ``type``, ``title``,
``status``, ``detail``, ``instance`` and, for validation failures, ``errors`` naming each field.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any, Final

import msgspec
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from ingest.errors import FeedInvalid, FeedUnsupported, IngestError, ReportInvalid

PROBLEM_MEDIA_TYPE: Final = "application/problem+json"
TYPE_PREFIX: Final = "urn:lagezentrum:problem:"

log = logging.getLogger(__name__)


class FieldError(BaseModel):
    """One reason a request was rejected, located by a ``$.``-path (``index`` within a batch)."""

    field: str = Field(description="JSON path of the offending field, e.g. `$.geometry`")
    reason: str
    index: int | None = Field(default=None, description="position of the item within a batch")


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = Field(description="URI naming the kind of problem; `about:blank` = plain HTTP")
    title: str
    status: int
    detail: str | None = None
    instance: str | None = Field(default=None, description="path of the request that failed")
    errors: list[FieldError] | None = None


class ProblemError(Exception):
    """Raise from a route to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str | None = None,
        *,
        kind: str | None = None,
        title: str | None = None,
        errors: Sequence[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status = status
        self.detail = detail
        self.type = TYPE_PREFIX + kind if kind else "about:blank"
        self.title = title or _phrase(status)
        self.errors = list(errors) if errors is not None else None
        self.headers = headers
        super().__init__(f"{status} {self.title}: {detail}")

    def problem(self, instance: str | None) -> Problem:
        return Problem(
            type=self.type,
            title=self.title,
            status=self.status,
            detail=self.detail,
            instance=instance,
            errors=self.errors,
        )


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


_encoder: Final = msgspec.json.Encoder()


def problem_response(problem: Problem, headers: dict[str, str] | None = None) -> Response:
    body = _encoder.encode(problem.model_dump(exclude_none=True))
    return Response(
        body, status_code=problem.status, media_type=PROBLEM_MEDIA_TYPE, headers=headers
    )


def problem_for(
    status: int,
    detail: str | None = None,
    *,
    kind: str | None = None,
    title: str | None = None,
    errors: Sequence[FieldError] | None = None,
    instance: str | None = None,
) -> Response:
    """A ready problem response, for code paths outside exception handling (e.g. readyz)."""
    error = ProblemError(status, detail, kind=kind, title=title, errors=errors)
    return problem_response(error.problem(instance))


def from_ingest_error(error: IngestError, *, index: int | None = None) -> ProblemError:
    """Map an ingest failure to its problem: invalid report → 422, unusable feed → 400/415."""
    if isinstance(error, ReportInvalid):
        where = index if index is not None else error.index
        return ProblemError(
            422,
            str(error),
            kind="report-invalid",
            title="Report invalid",
            errors=[FieldError(field=error.field, reason=error.reason, index=where)],
        )
    if isinstance(error, FeedUnsupported):
        return ProblemError(
            415,
            str(error),
            kind="feed-unsupported",
            title="Feed format not supported",
            errors=[FieldError(field=error.field, reason=error.reason)],
        )
    if isinstance(error, FeedInvalid):
        return ProblemError(
            400,
            str(error),
            kind="feed-invalid",
            title="Feed invalid",
            errors=[FieldError(field=error.field, reason=error.reason)],
        )
    return ProblemError(400, str(error), kind="ingest-error", title="Ingest error")


def _loc_to_path(loc: Sequence[Any]) -> str:
    # FastAPI prefixes the location with where the value came from ("body", "query", ...).
    parts = list(loc)
    if parts and parts[0] in {"body", "query", "path", "header", "cookie"}:
        origin = parts.pop(0)
        if origin != "body":
            return f"{origin}.{'.'.join(str(p) for p in parts)}"
    path = "$"
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def validation_errors(error: RequestValidationError) -> list[FieldError]:
    return [
        FieldError(field=_loc_to_path(item.get("loc", ())), reason=str(item.get("msg", "invalid")))
        for item in error.errors()
    ]


# For ``responses=`` on routes, so the OpenAPI schema documents the problem bodies.
def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {
            "model": Problem,
            "description": _phrase(status),
            "content": {PROBLEM_MEDIA_TYPE: {}},
        }
        for status in statuses
    }


def install_problem_handlers(app: FastAPI) -> None:
    """Route every error the app can produce through :func:`problem_response`."""

    async def on_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ProblemError)
        return problem_response(exc.problem(request.url.path), exc.headers)

    async def on_ingest(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, IngestError)
        return problem_response(from_ingest_error(exc).problem(request.url.path))

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = validation_errors(exc)
        detail = "; ".join(f"{e.field}: {e.reason}" for e in errors[:5])
        error = ProblemError(
            422, detail, kind="request-invalid", title="Request invalid", errors=errors
        )
        return problem_response(error.problem(request.url.path))

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        error = ProblemError(exc.status_code, str(exc.detail), headers=dict(exc.headers or {}))
        return problem_response(error.problem(request.url.path), error.headers)

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        log.error("unhandled error on %s", request.url.path, exc_info=exc)
        error = ProblemError(500, "internal error; see the server log", kind="internal")
        return problem_response(error.problem(request.url.path))

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(IngestError, on_ingest)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)
