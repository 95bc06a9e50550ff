"""``lagezentrum bench decode``: msgspec against pydantic for the canonical report.

The issue asked to choose the decoder by the numbers. The pydantic model below carries the same
contract-1 constraints as :class:`ingest.report.Report` so that the comparison is fair; both
decode the same JSONL bytes of a generated scenario.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Annotated, Literal

import msgspec
import pydantic
import typer

from ingest.report import (
    AREA_CODE_PATTERN,
    CATEGORY_PATTERN,
    EARLIEST,
    LATEST,
    METRIC_PATTERN,
    decode_report,
    encode_report,
)
from ops.cli import bench_app

Str128 = Annotated[str, pydantic.StringConstraints(min_length=1, max_length=128)]


class _PydanticPoint(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")
    type: Literal["Point"]
    coordinates: Annotated[list[float], pydantic.Field(min_length=2, max_length=3)]


class _PydanticPolygon(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")
    type: Literal["Polygon"]
    coordinates: list[Annotated[list[list[float]], pydantic.Field(min_length=4)]]


class _PydanticMultiPolygon(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")
    type: Literal["MultiPolygon"]
    coordinates: list[list[Annotated[list[list[float]], pydantic.Field(min_length=4)]]]


class PydanticReport(pydantic.BaseModel):
    """Contract 1 as a pydantic v2 model, for the comparison only."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")
    source: Literal["police", "fire", "health", "weather", "civil_protection", "other"]
    source_id: Str128
    category: Annotated[str, pydantic.StringConstraints(pattern=CATEGORY_PATTERN)]
    observed_at: pydantic.AwareDatetime
    sequence: Annotated[int, pydantic.Field(ge=1)] = 1
    msg_type: Literal["alert", "update", "cancel"] = "alert"
    status: Literal["actual", "exercise", "test"] = "actual"
    severity: Literal["extreme", "severe", "moderate", "minor", "unknown"] = "unknown"
    urgency: str | None = None
    certainty: str | None = None
    onset_at: pydantic.AwareDatetime | None = None
    expires_at: pydantic.AwareDatetime | None = None
    geometry: (
        Annotated[
            _PydanticPoint | _PydanticPolygon | _PydanticMultiPolygon,
            pydantic.Field(discriminator="type"),
        ]
        | None
    ) = None
    area_codes: tuple[
        Annotated[str, pydantic.StringConstraints(pattern=AREA_CODE_PATTERN)], ...
    ] = ()
    headline: Annotated[str, pydantic.StringConstraints(max_length=200)] | None = None
    description: Annotated[str, pydantic.StringConstraints(max_length=5000)] | None = None
    metrics: dict[
        Annotated[str, pydantic.StringConstraints(pattern=METRIC_PATTERN)],
        Annotated[int, pydantic.Field(ge=0)],
    ] = {}
    agency: str | None = None
    message_id: str | None = None
    references: tuple[str, ...] = ()
    language: str | None = None
    event: str | None = None
    feed_format: str = "canonical"
    received_at: datetime | None = None
    offset: int | None = None

    @pydantic.model_validator(mode="after")
    def _cross_field_rules(self) -> PydanticReport:
        # The same cross-field rules Report.__post_init__ applies, so both do equal work.
        if not EARLIEST <= self.observed_at < LATEST:
            raise ValueError("observed_at out of range")
        if self.expires_at is not None and self.expires_at < self.observed_at:
            raise ValueError("expires_at before observed_at")
        if self.geometry is None and not self.area_codes and self.msg_type != "cancel":
            raise ValueError("geometry required")
        if isinstance(self.geometry, _PydanticPoint):
            lon, lat = self.geometry.coordinates[:2]
            if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                raise ValueError("coordinates out of range")
        return self


def _rate(count: int, seconds: float) -> float:
    return round(count / seconds) if seconds > 0 else 0.0


def measure(lines: list[bytes], repeat: int = 3) -> dict[str, object]:
    """Best-of-``repeat`` decode rate of both libraries over the same lines."""
    adapter = pydantic.TypeAdapter(PydanticReport)
    timings: dict[str, float] = {"msgspec": float("inf"), "pydantic": float("inf")}
    for _ in range(repeat):
        started = time.perf_counter()
        for line in lines:
            decode_report(line)
        timings["msgspec"] = min(timings["msgspec"], time.perf_counter() - started)
        started = time.perf_counter()
        for line in lines:
            adapter.validate_json(line)
        timings["pydantic"] = min(timings["pydantic"], time.perf_counter() - started)
    return {
        "benchmark": "decode",
        "reports": len(lines),
        "msgspec_reports_per_s": _rate(len(lines), timings["msgspec"]),
        "pydantic_reports_per_s": _rate(len(lines), timings["pydantic"]),
        "msgspec_speedup": round(timings["pydantic"] / timings["msgspec"], 2),
        "msgspec_version": msgspec.__version__,
        "pydantic_version": pydantic.VERSION,
    }


@bench_app.command("decode")
def bench_decode(
    reports: int = typer.Option(50_000, help="How many generated reports to decode."),
    seed: int = typer.Option(1, help="Scenario seed."),
) -> None:
    """Decode rate of the canonical report: msgspec (used) against pydantic (not used)."""
    from ops.scenario import generate_reports

    lines = [encode_report(r) for r in generate_reports(reports, seed=seed).reports]
    typer.echo(json.dumps(measure(lines)))
