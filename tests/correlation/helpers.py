"""Report builders and geometry helpers shared by the correlation tests."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from correlation.changes import Change
from correlation.engine import Engine
from correlation.picture import Picture, picture_json
from ingest.report import Report, report_from_mapping

T0 = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
KOBLENZ = (7.5886, 50.3569)  # Koblenz old town (AGS 07111)
MAINZ = (8.2711, 49.9990)  # Mainz (AGS 07315)
TRIER = (6.6415, 49.7560)  # Trier (AGS 07211)
_M_PER_DEG = 6_371_008.8 * math.pi / 180.0


def moved(
    point: tuple[float, float], east_m: float = 0.0, north_m: float = 0.0
) -> tuple[float, float]:
    lon, lat = point
    return (
        lon + east_m / (_M_PER_DEG * math.cos(math.radians(lat))),
        lat + north_m / _M_PER_DEG,
    )


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


def report(
    source: str = "fire",
    source_id: str = "f1",
    category: str = "fire.building",
    minutes: float = 0.0,
    point: tuple[float, float] | None = KOBLENZ,
    **fields: Any,
) -> Report:
    """A validated report (through the same path as decoded JSON)."""
    data: dict[str, Any] = {
        "source": source,
        "source_id": source_id,
        "category": category,
        "observed_at": at(minutes),
    }
    if point is not None:
        data["geometry"] = {"type": "Point", "coordinates": [point[0], point[1]]}
    data.update(fields)
    return report_from_mapping(data)


def feed(engine: Engine, reports: Iterable[Report]) -> list[Change]:
    out: list[Change] = []
    for item in reports:
        out.extend(engine.process(item))
    return out


def incidents(engine: Engine) -> list[dict[str, Any]]:
    return list(engine.picture().to_builtins()["incidents"])


def replayed(base: Picture, changes: Iterable[Change]) -> Picture:
    picture = base.copy()
    picture.apply_all(changes)
    return picture


def same_picture(a: Picture, b: Picture) -> bool:
    return picture_json(a) == picture_json(b)
