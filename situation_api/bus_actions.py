"""Operator actions in the distributed mode.

An API instance there holds no engine, only the picture rebuilt from the situation topic
(:class:`~situation_api.bus_source.BusPicture`). An action is

1. checked against that picture (the checks of ``Engine.check``: 404/422, nothing journaled) and
   routed: an incident's action to the partition whose engine holds the incident (the one that
   published it), a district's to the partition its AGS hashes to. A merge of two incidents held
   by different partitions can be done by neither engine: 409, nothing journaled;
2. journaled in PostgreSQL (every instance appends to the one hash chain there);
3. published to that partition of the report topic with header ``lz-kind: action`` (value: the
   action and its journal seq). The correlation worker applies it in log order with the reports
   (:mod:`ops.workers.partition`), so a worker that crashed or a replay applies it at the same
   place, like the embedded runtime re-applies a journaled action after its log offset;
4. awaited: the worker reports the outcome with the journal seq in its clock record, after the
   changes the action caused. Once this instance's picture has it the answer is final; a worker
   that is down or behind leaves it pending (202) after :data:`SETTLE_SECONDS`.

The picture may be behind the engine, so the engine can find an action moot (the incident was
closed or merged meanwhile). It then changes nothing; the caller, if still waiting, gets 409
and the journal an ``action_failed`` entry naming the refused entry. So does a record the bus did
not confirm (503). The journal's order is the order actions were accepted; the order in which
the engine applies them is the report topic's (both agree unless two instances act at once).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from correlation.actions import AnyAction, DeclareLevel, Merge, Note, Split, encode_action_record
from correlation.errors import ActionInvalid, UnknownIncident
from correlation.overrides import MAX_NOTE_CHARS
from correlation.picture import Picture
from ingest.bus.errors import BusUnavailable
from ingest.bus.publisher import KafkaReportLog
from ingest.bus.wire import ACTION_KIND, KIND_HEADER, partition_for
from ingest.store.errors import StoreError
from situation_api.bus_source import NOT_SEEN, BusPicture
from situation_api.journal.chain import JournalEntry
from situation_api.journal.service import Journal

log = logging.getLogger(__name__)

SETTLE_SECONDS: Final = 5.0
NO_DATABASE: Final = (
    "operator actions and the journal need PostgreSQL in the distributed mode: "
    "set LAGEZENTRUM_DATABASE_URL (--database-url) for this API instance"
)


class ActionConflict(Exception):
    """The action cannot take effect (409); ``entry`` is its journal entry if it has one."""

    def __init__(self, reason: str, entry: JournalEntry | None = None) -> None:
        self.reason = reason
        self.entry = entry
        super().__init__(reason)


class ActionUndelivered(Exception):
    """Journaled, but the bus did not confirm the record (503)."""

    def __init__(self, reason: str, entry: JournalEntry) -> None:
        self.reason = reason
        self.entry = entry
        super().__init__(reason)


@dataclass(frozen=True, slots=True)
class Performed:
    entry: JournalEntry
    visible: bool  # this instance's picture shows the action's changes


def check_on_picture(picture: Picture, action: AnyAction) -> None:
    """What ``Engine.check`` refuses, decided on a picture: :class:`UnknownIncident` or
    :class:`ActionInvalid`, same messages."""
    if isinstance(action, DeclareLevel):
        if action.district not in picture.districts:
            raise ActionInvalid(f"no district {action.district!r}")
        if action.level is not None and not 0 <= action.level <= 3:
            raise ActionInvalid(f"level {action.level} is not 0..3")
        return
    view = picture.incidents.get(action.incident)
    if view is None:
        raise UnknownIncident(action.incident)
    if isinstance(action, Merge):
        if action.other == action.incident:
            raise ActionInvalid("an incident cannot be merged with itself")
        if action.other not in picture.incidents:
            raise UnknownIncident(action.other)
    elif isinstance(action, Split):
        threads = view.get("threads") or ()
        if action.thread not in threads:
            raise ActionInvalid(f"thread {action.thread!r} is not in {action.incident}")
        if len(threads) == 1:
            raise ActionInvalid(f"{action.thread!r} is the only thread of {action.incident}")
    elif isinstance(action, Note) and (
        not action.text.strip() or len(action.text) > MAX_NOTE_CHARS
    ):
        raise ActionInvalid(f"a note has 1 to {MAX_NOTE_CHARS} characters")


class BusActions:
    """Checks, journals, publishes and awaits operator actions (see the module docstring)."""

    def __init__(
        self,
        source: BusPicture,
        publisher: KafkaReportLog,
        journal: Journal,
        *,
        settle_seconds: float = SETTLE_SECONDS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.source = source
        self.publisher = publisher
        self.journal = journal
        self.settle_seconds = settle_seconds
        self._clock = clock

    def route(self, action: AnyAction) -> int:
        """The partition whose engine must apply ``action``; raises what cannot apply."""
        source = self.source
        check_on_picture(source.current(), action)
        if isinstance(action, DeclareLevel):
            return partition_for(action.district.encode(), source.partitions)
        partition = source.owner_of(action.incident)
        if partition is None:  # every incident on the picture came from a partition
            raise ActionConflict(f"no partition is known to hold {action.incident}")
        if isinstance(action, Merge):
            other = source.owner_of(action.other)
            if other != partition:
                raise ActionConflict(
                    f"{action.incident} and {action.other} are held by different correlation "
                    f"partitions ({partition} and {other}); in the distributed mode only "
                    "incidents of the same partition can be merged"
                )
        return partition

    async def perform(self, action: AnyAction) -> Performed:
        partition = self.route(action)
        entry = await self.journal.record(action, None, partition=partition)
        try:
            await self.publisher.publish(
                encode_action_record(entry.seq, action),
                key=entry.subject.encode(),
                partition=partition,
                headers=[(KIND_HEADER, ACTION_KIND)],
            )
        except BusUnavailable as error:
            reason = f"the bus did not confirm it ({error})"
            await self._failed(entry, reason)
            raise ActionUndelivered(reason, entry) from None
        outcome = await self.source.outcome(entry.seq, self.settle_seconds)
        if outcome is NOT_SEEN:
            return Performed(entry, visible=False)
        if outcome is not None:
            reason = f"the engine refused it: {outcome}"
            await self._failed(entry, reason)
            raise ActionConflict(reason, entry)
        return Performed(entry, visible=True)

    async def _failed(self, entry: JournalEntry, reason: str) -> None:
        try:
            await self.journal.failed(entry, self._clock(), reason)
        except StoreError:
            log.exception("could not journal that entry %d failed: %s", entry.seq, reason)
