"""The correlation engine in Rust (``correlation.native._core``), behind the Python engine's
interface: :class:`NativeEngine` is a drop-in replacement of :class:`correlation.engine.Engine`
that gives the same changes, picture, snapshots and errors for the same input, byte for byte.

What stays in Python: the configuration (built from the same Rules and Districts,
:mod:`correlation.native.config`), the rare geometry paths in shapely
(:mod:`correlation.native.geometry`), validation of operator actions, and the snapshot codec
(the Python engine's own, so a snapshot of either engine restores in the other).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from correlation import changes as _changes
from correlation import overrides
from correlation.actions import (
    Acknowledge,
    AnyAction,
    DeclareLevel,
    Merge,
    Note,
    SetStatus,
    Split,
)
from correlation.capacity import Entry
from correlation.changes import Change, EncodedChange
from correlation.clock import from_us, rfc3339
from correlation.errors import ActionInvalid, CorrelationError, SnapshotInvalid, UnknownIncident
from correlation.incident_state import Incident, Link
from correlation.native._core import Core
from correlation.native.config import config
from correlation.native.geometry import Helper
from correlation.picture import Picture
from correlation.rules import Rules
from correlation.state import FORMAT, EngineState, ThreadState, decode_state, encode_state
from correlation.warnings import WarningState
from ingest.districts import Districts, rlp_districts
from ingest.report import Report, Status

__all__ = ["NativeEngine"]


class NativeEngine:
    """See :class:`correlation.engine.Engine`; every method behaves the same."""

    process: Callable[[Report], list[Change]]
    """Apply one report (in log order); the changes it caused, possibly none."""

    process_encoded: Callable[[Report], list[EncodedChange]]
    """:meth:`process`, the changes already encoded (``EncodedChange.of`` of each, payload
    written in Rust without building the Change objects): what the live path sends."""

    process_entry: Callable[[Report], list[EncodedChange]]
    """One log entry (see :meth:`Engine.process_entry`)."""

    process_line: Callable[[bytes], list[EncodedChange]]
    """One log entry as a canonical JSON line (see :meth:`Engine.process_line`), read by the
    engine's own reader in Rust: it vouches for a line only when ``decode_report`` would accept
    it as the same report, and hands every other line to ``decode_report``."""

    def __init__(
        self,
        rules: Rules | None = None,
        districts: Districts | None = None,
        *,
        status: Status = "actual",
    ) -> None:
        self.rules = rules if rules is not None else Rules.default()
        self.districts = districts if districts is not None else rlp_districts()
        self.status = status
        self._core = Core(
            config(self.rules, self.districts, status), Helper(self.districts), _changes
        )
        self.process = self._core.process  # the hot path, without a Python frame around it
        self.process_encoded = self._core.process_encoded
        self.process_entry = self._core.process_entry
        self.process_line = self._core.process_line

    # -- clock ----------------------------------------------------------------------------------

    @property
    def seq(self) -> int:
        """``seq`` of the last emitted change (0 at start)."""
        return self._core.seq()

    @property
    def as_of(self) -> str | None:
        clock = self._core.clock_us()
        return None if clock is None else rfc3339(clock)

    @property
    def watermark(self) -> datetime | None:
        clock = self._core.clock_us()
        return None if clock is None else from_us(clock - self.rules.allowed_lateness_us)

    # -- input ----------------------------------------------------------------------------------

    def advance(self, now: datetime) -> list[Change]:
        return self._core.advance(now)

    def advance_encoded(self, now: datetime) -> list[EncodedChange]:
        """:meth:`advance`, the changes already encoded (see :attr:`process_encoded`)."""
        return self._core.advance_encoded(now)

    def resolve(self, incident_id: str, at: datetime) -> list[Change]:
        return self._core.resolve(incident_id, at)

    def reopen(self, incident_id: str, at: datetime) -> list[Change]:
        return self._core.reopen(incident_id, at)

    def check(self, action: AnyAction) -> None:
        core = self._core
        if isinstance(action, DeclareLevel):
            if not core.has_district(action.district):
                raise ActionInvalid(f"no district {action.district!r}")
            if action.level is not None and not 0 <= action.level <= 3:
                raise ActionInvalid(f"level {action.level} is not 0..3")
            return
        threads = core.threads_of(action.incident)
        if threads is None:
            raise UnknownIncident(action.incident)
        if isinstance(action, Merge):
            if action.other == action.incident:
                raise ActionInvalid("an incident cannot be merged with itself")
            if not core.is_live(action.other):
                raise UnknownIncident(action.other)
        elif isinstance(action, Split):
            if action.thread not in threads:
                raise ActionInvalid(f"thread {action.thread!r} is not in {action.incident}")
            if len(threads) == 1:
                raise ActionInvalid(f"{action.thread!r} is the only thread of {action.incident}")
        elif isinstance(action, Note) and (
            not action.text.strip() or len(action.text) > overrides.MAX_NOTE_CHARS
        ):
            raise ActionInvalid(f"a note has 1 to {overrides.MAX_NOTE_CHARS} characters")

    def act(self, action: AnyAction) -> list[Change]:
        self.check(action)
        core = self._core
        core.begin_action(action.at)
        try:
            self.check(action)
        except CorrelationError:
            return core.take()  # made moot by the timers of its own time
        if isinstance(action, Acknowledge):
            core.acknowledge(action.incident, action.actor)
        elif isinstance(action, Note):
            if not core.note(action.incident, action.actor, action.text.strip()):
                core.discard()
                raise ActionInvalid(
                    f"incident {action.incident} already has {overrides.MAX_NOTES} notes"
                )
        elif isinstance(action, SetStatus):
            core.set_status(action.incident, action.status)
        elif isinstance(action, Merge):
            core.merge(action.incident, action.other)
        elif isinstance(action, Split):
            core.split(action.incident, action.thread)
        else:
            reason = f"declared by {action.actor}" + (f": {action.reason}" if action.reason else "")
            core.declare(action.district, action.level, reason)
        return core.end_action()

    # -- output ---------------------------------------------------------------------------------

    def picture(self) -> Picture:
        seq, as_of, incidents, warnings, districts, capacity = self._core.picture()
        return Picture(
            seq=seq,
            as_of=as_of,
            incidents={v["id"]: v for v in incidents},
            warnings={v["id"]: v for v in warnings},
            districts={v["ags"]: v for v in districts},
            capacity={v["id"]: v for v in capacity},
        )

    # -- persistence ----------------------------------------------------------------------------

    def snapshot(self) -> bytes:
        """The full state as msgpack, the very bytes the Python engine writes."""
        core = self._core
        seqs, canon, alias, threads, incidents, warnings, capacity, declared = core.export(
            Incident, Link, WarningState, Entry, ThreadState
        )
        return encode_state(
            EngineState(
                format=FORMAT,
                status=self.status,
                rules=self.rules.digest,
                seq=core.seq(),
                clock_us=core.clock_us(),
                seqs=seqs,
                canon=canon,
                alias=alias,
                threads=threads,
                incidents=incidents,
                warnings=warnings,
                capacity=capacity,
                declared=declared,
            )
        )

    @classmethod
    def restore(
        cls, data: bytes, rules: Rules | None = None, districts: Districts | None = None
    ) -> NativeEngine:
        """An engine that continues exactly like the one (of either kind) that made the
        snapshot."""
        state = decode_state(data)
        engine = cls(rules, districts, status=state.status)  # type: ignore[arg-type]
        try:
            engine._core.load(state)
        except (TypeError, ValueError) as error:  # decodable, but names what these rules lack
            raise SnapshotInvalid(str(error)) from None
        return engine
