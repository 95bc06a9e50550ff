"""The correlation engine: reports in log order in, situation changes out (contract 2).

Pure and deterministic: no I/O, no wall clock, no randomness; ids derive from content; the same
reports in the same order give the same changes and the same picture, byte for byte.

Threads. ``(source, source_id)`` names a thread; its ``sequence`` orders versions: higher
replaces, equal is a duplicate, lower is stale (both change nothing and consume no ``seq``). A
report whose ``references`` name a known ``message_id`` (CAP Update/Cancel under a new
identifier) joins that message's thread; the first report of a source_id decides this once.
Within such a chain, where sequences of different source_ids cannot be compared, a version older
(by ``observed_at``) than the thread's current one is stale.

Status. An engine builds the picture of ONE status ("actual" by default); reports of any other
status are ignored, so exercise and test traffic never mix into the actual picture. Run one
engine per status (``Engine(status="exercise")``) for an exercise picture.

Event time. Reports are applied as they come, never buffered. The clock is the latest
``observed_at`` seen (or ``now`` given to :meth:`advance`); the watermark is the clock minus
``allowed_lateness``. Timers (incident resolve/close, warning onset/expiry) fire when the
watermark reaches them, in (time, id) order, before the report that moved the clock is applied
and again after it (for deadlines the report itself put behind the watermark). A report older
than the watermark is still applied; its changes say ``late=True``. District figures are
re-evaluated once per :meth:`process` call (after the report and its timers), so a district
changes at most once per report, stamped with the report's time; :meth:`advance` evaluates them
after each timer, so a long jump of the clock keeps every level change at its own time.

Picture time: ``as_of`` is the clock. Operator actions (:meth:`resolve`, :meth:`reopen`) are
events too and move the clock to their time if it is later.

Memory: the sequence, alias and thread tables keep one entry per thread and message id ever
seen (so a duplicate is recognised however late); everything else is bounded by the live picture.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from heapq import heappop
from typing import Final

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
from correlation.capacity import Capacity
from correlation.changes import Change, EncodedChange
from correlation.clock import EPOCH, US, from_us, rfc3339, to_us
from correlation.context import Context
from correlation.errors import (
    ActionInvalid,
    CorrelationError,
    UnknownIncident,
)
from correlation.escalation import Board
from correlation.incident_state import Obs
from correlation.incidents import Incidents
from correlation.picture import Picture, picture_json
from correlation.rules import Rules
from correlation.state import FORMAT, EngineState, ThreadState, decode_state, encode_state
from correlation.warnings import Warnings
from ingest.districts import Districts, rlp_districts
from ingest.geometry import representative_point
from ingest.report import SEVERITY_RANK, Point, Report, Status, decode_report

__all__ = ["Engine", "Picture", "picture_json"]

INCIDENT: Final = "incident"
WARNING: Final = "warning"
CAPACITY: Final = "capacity"


class Engine:
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
        ctx = self._ctx = Context(self.rules, self.districts)
        self._board = Board(ctx)
        self._incidents = Incidents(ctx, self._board)
        self._warnings = Warnings(ctx, self._board, self._incidents)
        self._capacity = Capacity(ctx, self._board)
        self._seqs: dict[str, int] = {}
        self._canon: dict[str, str] = {}  # source_id thread -> the thread it chained onto
        self._alias: dict[str, str] = {}  # message_id -> thread
        self._threads: dict[str, ThreadState] = {}

    # -- clock ----------------------------------------------------------------------------------

    @property
    def seq(self) -> int:
        """``seq`` of the last emitted change (0 at start)."""
        return self._ctx.seq

    @property
    def as_of(self) -> str | None:
        """The engine clock (latest event time seen or advanced to), RFC 3339."""
        clock = self._ctx.clock_us
        return None if clock is None else rfc3339(clock)

    @property
    def watermark(self) -> datetime | None:
        mark = self._ctx.watermark_us
        return None if mark is None else from_us(mark)

    # -- input ----------------------------------------------------------------------------------

    def process(self, report: Report) -> list[Change]:
        """Apply one report (in log order); the changes it caused, possibly none."""
        if report.status != self.status:
            return []
        own = f"{report.source}:{report.source_id}"
        last = self._seqs.get(own)
        if last is not None and report.sequence <= last:
            return []
        self._seqs[own] = report.sequence
        if report.references or report.message_id is not None:
            thread = self._chain(own, report, first=last is None)
        else:
            thread = own if last is None else self._canon.get(own, own)
        ctx = self._ctx
        out: list[Change] = []
        ctx.out = out
        t_us = (report.observed_at - EPOCH) // US
        if ctx.clock_us is None or t_us > ctx.clock_us:
            ctx.clock_us = t_us
        watermark = ctx.clock_us - self.rules.allowed_lateness_us
        heap = ctx.timers.heap
        if heap and heap[0][0] <= watermark:
            self._fire(watermark, flush=False)
        known = self._threads.get(thread)
        if known is None or known.own == own or t_us >= known.t_us:
            at = report.observed_at
            if at.tzinfo is not UTC:
                at = at.astimezone(UTC)
            late = t_us < watermark
            ctx.step(t_us, at=at, late=late)
            self._apply(thread, own, report, t_us, known)
            if heap and heap[0][0] <= watermark:
                self._fire(watermark, flush=False)
                ctx.step(t_us, at=at, late=late)
        # District figures are evaluated once per report, after its timers: a district changes
        # at most once per call, stamped with the report's time.
        self._board.flush()
        return out

    def process_encoded(self, report: Report) -> list[EncodedChange]:
        """:meth:`process` with the changes in their wire form (what the live path sends)."""
        return [EncodedChange.of(change) for change in self.process(report)]

    def process_entry(self, report: Report) -> list[EncodedChange]:
        """One log entry, the way the runtime and the workers apply it: the clock advances to
        its receipt time (``received_at``, if set), then the report applies; the changes of
        both, encoded."""
        changes = [] if report.received_at is None else self.advance_encoded(report.received_at)
        changes.extend(self.process_encoded(report))
        return changes

    def process_line(self, line: bytes) -> list[EncodedChange]:
        """:meth:`process_entry` of a canonical JSON line. A bad line raises
        :class:`~ingest.errors.ReportInvalid` and changes nothing."""
        return self.process_entry(decode_report(line))

    def advance_encoded(self, now: datetime) -> list[EncodedChange]:
        """:meth:`advance` with the changes in their wire form."""
        return [EncodedChange.of(change) for change in self.advance(now)]

    def advance(self, now: datetime) -> list[Change]:
        """Move the clock to ``now`` (if later) and fire every timer the watermark passed."""
        ctx = self._ctx
        out: list[Change] = []
        ctx.out = out
        now_us = to_us(now)
        if ctx.clock_us is None or now_us > ctx.clock_us:
            ctx.clock_us = now_us
        self._fire(ctx.clock_us - self.rules.allowed_lateness_us)
        return out

    def resolve(self, incident_id: str, at: datetime) -> list[Change]:
        """An operator resolves an open incident (no change if already resolved); raises
        :class:`~correlation.errors.UnknownIncident` if it is not live. Like a report, the
        action moves the clock to ``at`` if that is later."""
        return self._operator(incident_id, at, self._incidents.resolve)

    def reopen(self, incident_id: str, at: datetime) -> list[Change]:
        """An operator reopens a resolved incident; its quiet time restarts at ``at``."""
        return self._operator(incident_id, at, self._incidents.reopen)

    def _operator(
        self, ident: str, at: datetime, action: Callable[[str, int], None]
    ) -> list[Change]:
        if ident not in self._incidents.live:
            raise UnknownIncident(ident)
        ctx = self._ctx
        out: list[Change] = []
        ctx.out = out
        at_us = to_us(at)
        if ctx.clock_us is None or at_us > ctx.clock_us:
            ctx.clock_us = at_us  # an operator's action is an event like a report
        watermark = ctx.clock_us - self.rules.allowed_lateness_us
        self._fire(watermark)
        if ident not in self._incidents.live:
            return out  # closed by a timer the action's own time fired: nothing left to do
        ctx.step(at_us, at=at.astimezone(UTC))
        action(ident, at_us)
        self._board.flush()
        self._fire(watermark)
        return out

    def check(self, action: AnyAction) -> None:
        """Raise :class:`~correlation.errors.CorrelationError` if ``action`` cannot apply to
        the current state; changes nothing (the runtime journals only actions that pass)."""
        if isinstance(action, DeclareLevel):
            if self.districts.get(action.district) is None:
                raise ActionInvalid(f"no district {action.district!r}")
            if action.level is not None and not 0 <= action.level <= 3:
                raise ActionInvalid(f"level {action.level} is not 0..3")
            return
        incident = self._incidents.live.get(action.incident)
        if incident is None:
            raise UnknownIncident(action.incident)
        if isinstance(action, Merge):
            if action.other == action.incident:
                raise ActionInvalid("an incident cannot be merged with itself")
            if action.other not in self._incidents.live:
                raise UnknownIncident(action.other)
        elif isinstance(action, Split):
            if action.thread not in incident.links:
                raise ActionInvalid(f"thread {action.thread!r} is not in {action.incident}")
            if len(incident.links) == 1:
                raise ActionInvalid(f"{action.thread!r} is the only thread of {action.incident}")
        elif isinstance(action, Note) and (
            not action.text.strip() or len(action.text) > overrides.MAX_NOTE_CHARS
        ):
            raise ActionInvalid(f"a note has 1 to {overrides.MAX_NOTE_CHARS} characters")

    def act(self, action: AnyAction) -> list[Change]:
        """Apply an operator action at its time ``action.at`` (which, like a report's, moves
        the clock if later). Raises what :meth:`check` raises, before changing anything; if
        timers that the action's own time fired made it moot (the incident closed meanwhile),
        only their changes are returned."""
        self.check(action)
        ctx = self._ctx
        out: list[Change] = []
        ctx.out = out
        at_us = to_us(action.at)
        if ctx.clock_us is None or at_us > ctx.clock_us:
            ctx.clock_us = at_us
        watermark = ctx.clock_us - self.rules.allowed_lateness_us
        self._fire(watermark)
        try:
            self.check(action)
        except CorrelationError:
            return out
        ctx.step(at_us, at=action.at.astimezone(UTC))
        incidents = self._incidents
        if isinstance(action, Acknowledge):
            overrides.acknowledge(incidents, action.incident, at_us, action.actor)
        elif isinstance(action, Note):
            overrides.note(incidents, action.incident, at_us, action.actor, action.text)
        elif isinstance(action, SetStatus):
            if action.status == "resolved":
                incidents.resolve(action.incident, at_us)
            elif action.status == "open":
                incidents.reopen(action.incident, at_us)
            else:
                overrides.close(incidents, action.incident)
        elif isinstance(action, Merge):
            overrides.merge(incidents, action.incident, action.other)
        elif isinstance(action, Split):
            overrides.split(incidents, action.incident, action.thread, at_us)
        else:
            reason = f"declared by {action.actor}" + (f": {action.reason}" if action.reason else "")
            self._board.declare(action.district, action.level, reason)
        self._board.flush()
        self._fire(watermark)
        return out

    def _chain(self, own: str, report: Report, *, first: bool) -> str:
        """The thread of a report; only the first report of a source_id may chain it onto
        another thread (see the module docstring). Message ids are registered always."""
        alias = self._alias
        thread = None
        if not first:
            thread = self._canon.get(own, own)
        else:
            for ref in report.references:
                thread = alias.get(ref)
                if thread is not None:
                    break
            if thread is None and report.message_id is not None:
                thread = alias.get(report.message_id)  # a later message referenced this one
            if thread is None:
                thread = own
            elif thread != own:
                self._canon[own] = thread
        if report.message_id is not None:
            alias.setdefault(report.message_id, thread)
        for ref in report.references:
            alias.setdefault(ref, thread)
        return thread

    def _route(self, report: Report, family: str) -> str:
        rules = self.rules
        if family in rules.warning_families or (
            report.source in rules.warning_sources and report.feed_format in rules.warning_formats
        ):
            return WARNING
        if family in rules.capacity_families:
            return CAPACITY
        return INCIDENT

    def _apply(
        self, thread: str, own: str, report: Report, t_us: int, known: ThreadState | None
    ) -> None:
        family = report.category.partition(".")[0]
        cancel = report.msg_type == "cancel"
        layer = known.layer if cancel and known is not None else self._route(report, family)
        if known is None:
            self._threads[thread] = ThreadState(layer, t_us, own)
        else:
            if known.layer != layer:
                self._leave(known.layer, thread)
                known.layer = layer
            known.t_us, known.own = t_us, own
        if layer == INCIDENT:
            self._incidents.apply(self._obs(thread, own, report, family, t_us, cancel))
        elif layer == WARNING:
            self._warnings.apply(thread, report)
        else:
            self._capacity.apply(thread, report, t_us, rfc3339(t_us))

    def _leave(self, layer: str, thread: str) -> None:
        if layer == INCIDENT:
            self._incidents.remove_thread(thread, "thread_rerouted")
        elif layer == WARNING:
            self._warnings.remove_thread(thread)
        else:
            self._capacity.remove_thread(thread)

    def _obs(
        self, thread: str, own: str, report: Report, family: str, t_us: int, cancel: bool
    ) -> Obs:
        lon: float | None = None
        lat: float | None = None
        geometry = report.geometry
        if cancel:
            pass
        elif type(geometry) is Point:
            lon, lat = geometry.coordinates[0], geometry.coordinates[1]
        elif geometry is not None:
            lon, lat = representative_point(geometry)
        elif report.area_codes:
            area = self.districts.geometry_for_codes(report.area_codes)
            if area is not None:
                point = area.representative_point()
                lon, lat = point.x, point.y
        severity = report.severity
        return Obs(
            thread,
            f"{own}:{report.sequence}",
            report.source,
            report.agency or report.source,
            family,
            report.category,
            severity,
            SEVERITY_RANK[severity],
            lon,
            lat,
            t_us,
            rfc3339(t_us),
            report.sequence,
            report.metrics,
            report.headline,
            cancel,
        )

    def _fire(self, until_us: int, *, flush: bool = True) -> None:
        ctx = self._ctx
        heap = ctx.timers.heap
        incidents = self._incidents.fire
        while heap and heap[0][0] <= until_us:
            due_us, ident, kind = heappop(heap)
            ctx.step(due_us)
            if ident.startswith("inc-"):
                incidents(due_us, ident, kind)
            else:
                self._warnings.fire(due_us, ident, kind)
            if flush:
                self._board.flush()

    # -- output ---------------------------------------------------------------------------------

    def picture(self) -> Picture:
        """The current live picture (contract 3), built from the state."""
        return Picture(
            seq=self._ctx.seq,
            as_of=self.as_of,
            incidents={v["id"]: v for v in self._incidents.views()},
            warnings={v["id"]: v for v in self._warnings.views()},
            districts={v["ags"]: v for v in self._board.views()},
            capacity={v["id"]: v for v in self._capacity.views()},
        )

    # -- persistence ----------------------------------------------------------------------------

    def snapshot(self) -> bytes:
        """The full state as msgpack; equal histories give equal bytes."""
        ctx = self._ctx
        return encode_state(
            EngineState(
                format=FORMAT,
                status=self.status,
                rules=self.rules.digest,
                seq=ctx.seq,
                clock_us=ctx.clock_us,
                seqs=self._seqs,
                canon=self._canon,
                alias=self._alias,
                threads=self._threads,
                incidents=list(self._incidents.live.values()),
                warnings=list(self._warnings.live.values()),
                capacity=list(self._capacity.threads.values()),
                declared=self._board.declared,
            )
        )

    @classmethod
    def restore(
        cls, data: bytes, rules: Rules | None = None, districts: Districts | None = None
    ) -> Engine:
        """An engine that continues exactly like the one that made the snapshot (given the
        same rules and districts; other rules apply from now on)."""
        state = decode_state(data)
        engine = cls(rules, districts, status=state.status)  # type: ignore[arg-type]
        ctx = engine._ctx
        ctx.seq = state.seq
        ctx.clock_us = state.clock_us
        engine._seqs = state.seqs
        engine._canon = state.canon
        engine._alias = state.alias
        engine._threads = state.threads
        engine._incidents.restore(state.incidents)
        engine._warnings.restore(state.warnings)
        engine._capacity.restore(state.capacity)
        for ags, (level, reason) in state.declared.items():
            engine._board.declare(ags, level, reason)  # marks the district for the flush
        engine._board.flush(emit=False)
        return engine
