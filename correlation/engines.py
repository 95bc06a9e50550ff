"""Which engine computes the picture: the native port (Rust, ``correlation/native``) or the
pure-Python reference (``correlation/engine.py``), chosen once at the edge by name.

Both are the same engine: for the same inputs they emit the same changes, build the same
picture and write the same snapshot bytes, so a snapshot of one restores in the other (the
correlation tests run against both, and ``tests/correlation/native`` compares them change by
change). The native one is the default because it is several times faster; the Python one is
the readable reference that defines the semantics, and the one to step through in a debugger.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Final, Literal, Protocol, TypeAlias, get_args

from correlation.actions import AnyAction
from correlation.changes import Change, EncodedChange
from correlation.picture import Picture
from correlation.rules import Rules
from ingest.districts import Districts
from ingest.report import Report, Status

EngineKind: TypeAlias = Literal["native", "python"]
ENGINE_KINDS: Final[tuple[str, ...]] = get_args(EngineKind)
DEFAULT_ENGINE: Final[EngineKind] = "native"


class SituationEngine(Protocol):
    """What the runtime, the workers and the tools use of an engine (see ``Engine``)."""

    rules: Rules
    districts: Districts
    status: Status

    @property
    def seq(self) -> int: ...

    @property
    def as_of(self) -> str | None: ...

    @property
    def watermark(self) -> datetime | None: ...

    def process(self, report: Report) -> list[Change]: ...

    def advance(self, now: datetime) -> list[Change]: ...

    def process_encoded(self, report: Report) -> list[EncodedChange]: ...

    def advance_encoded(self, now: datetime) -> list[EncodedChange]: ...

    def process_entry(self, report: Report) -> list[EncodedChange]: ...

    def process_line(self, line: bytes) -> list[EncodedChange]: ...

    def resolve(self, incident_id: str, at: datetime) -> list[Change]: ...

    def reopen(self, incident_id: str, at: datetime) -> list[Change]: ...

    def check(self, action: AnyAction) -> None: ...

    def act(self, action: AnyAction) -> list[Change]: ...

    def picture(self) -> Picture: ...

    def snapshot(self) -> bytes: ...


class EngineType(Protocol):
    """An engine class: builds a fresh engine, or one restored from a snapshot."""

    def __call__(
        self,
        rules: Rules | None = None,
        districts: Districts | None = None,
        *,
        status: Status = ...,
    ) -> SituationEngine: ...

    def restore(
        self, data: bytes, rules: Rules | None = None, districts: Districts | None = None
    ) -> SituationEngine: ...


def engine_type(kind: EngineKind = DEFAULT_ENGINE) -> EngineType:
    # Imported on demand: the reference runs (and its tests import) without the compiled module.
    if kind == "python":
        from correlation.engine import Engine

        return Engine
    from correlation.native import NativeEngine

    return NativeEngine


def factories(
    kind: EngineKind, rules: Rules | None = None
) -> tuple[Callable[[], SituationEngine], Callable[[bytes], SituationEngine]]:
    """``(new, restore)`` for one kind of engine with the given rules (default: shipped)."""
    cls = engine_type(kind)
    return (lambda: cls(rules)), (lambda data: cls.restore(data, rules))
