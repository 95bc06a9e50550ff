"""One partition's engine in the distributed mode: what a correlation worker holds per partition
of ``lz.reports.v1`` (pure: no Kafka; :mod:`ops.workers.correlate` moves the bytes).

Processing. A report record's value (the canonical report JSON) is applied with the engine's
``process_line``, which does what the embedded runtime does with a log entry (clock advanced to
``received_at``, then the report), so a partition's engine derives what the embedded engine
derives for those districts; the native engine reads the line in Rust, without building the
report in Python. The changes stay in their wire form
(:class:`~correlation.changes.EncodedChange`), whose payload is the situation topic's value.
Records at or below the applied offset are skipped: after a crash the source is re-read from the
last committed offset, which may be older than the state.

Operator actions. The API writes an accepted action (after journaling it) to the partition that
owns its target, as a record with header ``lz-kind: action`` (see ``situation_api.bus_actions``).
It is applied in log order with the reports, as the embedded runtime applies a journaled action
after the log offset it was recorded at, so it survives crashes and replays exactly. An action
the engine cannot apply any more (the API checked it against a picture that was behind: the
incident was closed meanwhile) changes nothing and is listed in :attr:`PartitionEngine.rejected`
(the dead-letter topic). Either outcome is reported with the journal seq in the next clock record,
which is how the API learns that its picture shows the action.

State. The worker keeps, in a table backed by a compacted changelog topic, a snapshot of the
engine with the offset it covers (every ``snapshot_every`` reports, split into records under
Kafka's size limit: see snapshots.py) and a journal: one entry per
record applied since (the record value, keyed by offset; actions under their own prefix).
Recovery restores the snapshot and re-applies the journal, giving exactly the state after the
last journalled record. A journal
entry is written only after the changes the report caused were acknowledged by the broker, so
whatever the state contains has been published (a crash in between re-derives and re-publishes
the same views, which a compacted topic and the API absorb).

Ownership. Every engine lists every district and learns every broadcast warning, but only one
partition publishes a given entity: a district by the partition its AGS hashes to, warnings and
state-wide capacity by partition 0, incidents by the partition that made them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Final

import msgspec

from correlation.actions import decode_action_record
from correlation.changes import PARTIAL_REMOVAL_KINDS, REMOVAL_KINDS, EncodedChange
from correlation.engines import DEFAULT_ENGINE, EngineKind, SituationEngine, engine_type
from correlation.errors import CorrelationError
from correlation.rules import Rules
from ingest.bus.wire import partition_for
from ingest.errors import ReportInvalid

log = logging.getLogger(__name__)

STATE_FORMAT: Final = 1


class PartitionState(msgspec.Struct, frozen=True):
    """The snapshot entry of the state table."""

    partition: int
    offset: int  # the last Kafka offset the engine state covers (-1: none)
    engine: bytes
    format: int = STATE_FORMAT


class ClockRecord(msgspec.Struct, frozen=True):
    """Value of the ``clock:<partition>`` key on the situation topic."""

    partition: int
    offset: int
    as_of: str | None
    seq: int
    # operator actions handled since the previous clock record: [journal seq, None | why not]
    actions: list[tuple[int, str | None]] = []


_state_encoder: Final = msgspec.msgpack.Encoder()
_state_decoder: Final = msgspec.msgpack.Decoder(PartitionState)
_json: Final = msgspec.json.Encoder()


def journal_key(partition: int, offset: int) -> bytes:
    return f"j:{partition}:{offset:015d}".encode()


def journal_prefix(partition: int) -> bytes:
    return f"j:{partition}:".encode()


def action_key(partition: int, offset: int) -> bytes:
    return f"a:{partition}:{offset:015d}".encode()


def action_prefix(partition: int) -> bytes:
    return f"a:{partition}:".encode()


def table_key(partition: int, offset: int, *, action: bool) -> bytes:
    """The state-table key of a journalled record."""
    return action_key(partition, offset) if action else journal_key(partition, offset)


def situation_key(change: EncodedChange) -> bytes:
    return f"{change.entity}:{change.entity_id}".encode()


def clock_key(partition: int) -> bytes:
    return f"clock:{partition}".encode()


class Rejected(msgspec.Struct, frozen=True):
    offset: int
    field: str
    reason: str


class PartitionEngine:
    """The engine of partition ``partition`` of ``partitions``."""

    def __init__(
        self,
        partition: int,
        partitions: int,
        engine: SituationEngine | None = None,
        *,
        offset: int = -1,
        rules: Rules | None = None,
        kind: EngineKind = DEFAULT_ENGINE,
    ) -> None:
        self.partition = partition
        self.partitions = partitions
        self.rules = rules
        self.engine = engine if engine is not None else engine_type(kind)(rules)
        self.offset = offset
        self.journal: list[bytes] = []  # state-table keys journalled since the snapshot
        self.rejected: list[Rejected] = []
        self.outcomes: list[tuple[int, str | None]] = []  # for the next clock record

    # -- processing -------------------------------------------------------------------------------

    def handle(
        self, offset: int, value: bytes | None, *, action: bool = False
    ) -> list[EncodedChange] | None:
        """Apply the record at ``offset`` (an operator action if ``action``); its changes, or None
        if it was applied before. A record that is not a valid report (or action) changes
        nothing and is listed in :attr:`rejected`."""
        if offset <= self.offset:
            return None
        self.offset = offset
        if action:
            return self._act(offset, value)
        # The report's ``offset`` (Kafka's + 1, as the log numbers entries) is left unset: the
        # engine never reads it.
        try:
            if value is None:
                raise ReportInvalid("$", "empty record (tombstone) on the report topic")
            return self.engine.process_line(value)
        except ReportInvalid as error:
            self.rejected.append(Rejected(offset, error.field, error.reason))
            return []

    def _act(self, offset: int, value: bytes | None) -> list[EncodedChange]:
        try:
            record = decode_action_record(value or b"")
        except msgspec.MsgspecError as error:
            self.rejected.append(Rejected(offset, "$", f"not an operator action record: {error}"))
            return []
        try:
            changes = self.engine.act(record.action)
        except CorrelationError as error:
            why = str(error)
        except Exception:
            # as in the embedded runtime: the same failure recurs on replay, so skipping keeps
            # replays identical; the engine's state is as the embedded one's would be
            log.exception("engine failed on operator action at offset %d", offset)
            why = "the engine failed on it (see the correlation worker's log)"
        else:
            self.outcomes.append((record.journal, None))
            return [EncodedChange.of(change) for change in changes]
        self.outcomes.append((record.journal, why))
        self.rejected.append(
            Rejected(
                offset, "$", f"operator action of journal entry {record.journal} not applied: {why}"
            )
        )
        return []

    def tick(self, now: datetime) -> list[EncodedChange]:
        return self.engine.advance_encoded(now)

    def owns(self, change: EncodedChange) -> bool:
        entity = change.entity
        if entity == "incident":
            return True
        if entity == "district":
            return partition_for(change.entity_id.encode(), self.partitions) == self.partition
        return self.partition == 0  # warnings and state-wide capacity

    def owned(self, changes: Iterable[EncodedChange]) -> list[EncodedChange]:
        return [change for change in changes if self.owns(change)]

    def clock(self) -> ClockRecord:
        return ClockRecord(
            self.partition, self.offset, self.engine.as_of, self.engine.seq, list(self.outcomes)
        )

    # -- state ------------------------------------------------------------------------------------

    def snapshot(self) -> bytes:
        return _state_encoder.encode(
            PartitionState(self.partition, self.offset, self.engine.snapshot())
        )

    @classmethod
    def recover(
        cls,
        partition: int,
        partitions: int,
        snapshot: bytes | None,
        journal: Iterable[tuple[int, bytes]],
        *,
        actions: Iterable[tuple[int, bytes]] = (),
        rules: Rules | None = None,
        kind: EngineKind = DEFAULT_ENGINE,
    ) -> PartitionEngine:
        """The engine as it was after the last journalled record (reports in ``journal``,
        operator actions in ``actions``, both by offset)."""
        if snapshot is None:
            restored = cls(partition, partitions, rules=rules, kind=kind)
        else:
            state = _state_decoder.decode(snapshot)
            engine = engine_type(kind).restore(state.engine, rules=rules)
            restored = cls(partition, partitions, engine, offset=state.offset, rules=rules)
        records = [(offset, False, value) for offset, value in journal]
        records += [(offset, True, value) for offset, value in actions]
        for offset, action, value in sorted(records):
            if restored.handle(offset, value, action=action) is not None:
                restored.journal.append(table_key(partition, offset, action=action))
        # what the journalled records rejected or reported was published before they were
        restored.rejected.clear()
        restored.outcomes.clear()
        return restored


class _View(msgspec.Struct):
    view: msgspec.Raw  # the view's JSON, not decoded


_view_of: Final = msgspec.json.Decoder(_View)


def removes(change: EncodedChange) -> bool:
    """Whether ``change`` takes its entity out of the picture (its view is None): known from
    the kind, except for a kind that removes only sometimes, whose payload is looked at."""
    kind = change.kind
    if kind in REMOVAL_KINDS:
        return True
    return kind in PARTIAL_REMOVAL_KINDS and bytes(_view_of.decode(change.payload).view) == b"null"


def encode_situation(change: EncodedChange) -> list[tuple[bytes, bytes | None]]:
    """The situation-topic records of one change: its JSON under ``<entity>:<id>``, and for a
    change that removes its entity a tombstone after it (so compaction forgets the key)."""
    key = situation_key(change)
    records: list[tuple[bytes, bytes | None]] = [(key, change.payload)]
    if removes(change):
        records.append((key, None))
    return records


def encode_clock(record: ClockRecord) -> bytes:
    return _json.encode(record)
