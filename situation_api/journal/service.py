"""The journal in the running system: operator actions (recorded before the engine applies them,
with the log offset they follow, so they are also the engine's replayable input) and automatic
escalation level changes (written by a background task from the runtime's changes).

In the distributed mode the journal lives in PostgreSQL, shared by every API instance (appends
are serialised there, one chain). An action's entry names the partition of the report topic it
was sent to instead of a log offset: the topic is the engine's input there (see
``situation_api.bus_actions``). Level changes are journaled by the archive, the one process that
reads every situation change (:class:`BusLevelJournal`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from correlation.actions import (
    Action,
    AnyAction,
    action_name,
    action_to_builtins,
    decode_action,
    subject_of,
)
from correlation.changes import DistrictLevelChanged, decode_change
from situation_api import metrics
from situation_api.journal.chain import JournalEntry
from situation_api.journal.store import PAGE, JournalStore
from situation_api.runtime import PendingAction

log = logging.getLogger(__name__)

LEVEL_CHANGED: Final = "level_changed"
ACTION_FAILED: Final = "action_failed"
ENGINE_ACTOR: Final = "engine (escalation rules)"
ACTION_NAMES: Final = frozenset(
    ("acknowledge", "note", "set_status", "merge", "split", "declare_level")
)


class Journal:
    def __init__(self, store: JournalStore, *, retry_seconds: float = 1.0) -> None:
        self.store = store
        self._queue: asyncio.Queue[DistrictLevelChanged] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._level_seq = 0  # change seq of the last level change journaled
        self._unwritten = 0
        self._retry = retry_seconds

    # -- operator actions ----------------------------------------------------------------------

    async def record(
        self, action: Action, offset: int | None, *, partition: int | None = None
    ) -> JournalEntry:
        """Journal ``action``: applied after log ``offset`` (embedded mode) or sent to report
        topic ``partition`` (distributed mode)."""
        payload: dict[str, Any] = {"input": action_to_builtins(action)}
        if offset is not None:
            payload["offset"] = offset
        if partition is not None:
            payload["partition"] = partition
        return await self.store.append(
            action.at, action.actor, action_name(action), subject_of(action), payload
        )

    async def failed(self, entry: JournalEntry, at: datetime, reason: str) -> JournalEntry:
        """Journal that the action of ``entry`` did not take effect (distributed mode: the bus
        did not take it, or the engine refused it)."""
        payload = {"entry": entry.seq, "reason": reason}
        return await self.store.append(at, entry.actor, ACTION_FAILED, entry.subject, payload)

    async def actions_after(self, seq: int) -> list[PendingAction]:
        """The journaled operator actions after journal ``seq``, as engine input (entries of
        the distributed mode, which carry no log offset, are not the embedded engine's)."""
        out: list[PendingAction] = []
        while page := await self.store.since(seq, PAGE):
            for entry in page:
                if entry.action in ACTION_NAMES and "offset" in entry.payload:
                    out.append(
                        PendingAction(
                            entry.seq, int(entry.payload["offset"]), _action(entry.payload)
                        )
                    )
            seq = page[-1].seq
        return out

    # -- automatic level changes ---------------------------------------------------------------

    async def start(self) -> None:
        last = await self.store.last_seq(LEVEL_CHANGED)
        if last:
            (entry,) = await self.store.since(last - 1, 1)
            self._level_seq = int(entry.payload.get("change_seq", 0))
        self._task = asyncio.create_task(self._write(), name="journal-levels")

    def publish(self, changes: Sequence[tuple[int, bytes]]) -> None:
        """Runtime subscriber: queue the level changes not journaled yet (a restarted runtime
        derives changes again; they keep their seq, so the seq tells which are new)."""
        for seq, payload in changes:
            if seq > self._level_seq and b"DistrictLevelChanged" in payload:
                change = decode_change(payload)
                if isinstance(change, DistrictLevelChanged):
                    self._level_seq = seq
                    self._unwritten += 1
                    self._queue.put_nowait(change)

    async def _write(self) -> None:
        while True:
            change = await self._queue.get()
            while True:
                try:
                    await append_level(self.store, change, change.seq)
                    self._unwritten -= 1
                    break
                except asyncio.CancelledError:
                    raise
                except Exception:
                    metrics.RUNTIME_ERRORS.labels("journal").inc()
                    log.exception("journal write failed; retrying")
                    await asyncio.sleep(self._retry)

    async def flush(self, timeout: float = 5.0) -> None:
        """Wait until the queued level changes are written (tests, shutdown)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._unwritten and loop.time() < deadline:
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        await self.flush()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


def _action(payload: dict[str, Any]) -> AnyAction:
    return decode_action(payload["input"])


async def append_level(
    store: JournalStore, change: DistrictLevelChanged, seq: int, **extra: int
) -> JournalEntry:
    """The entry of an automatic level change whose stream seq is ``seq``."""
    payload: dict[str, Any] = {
        "change_seq": seq,
        "old_level": change.old_level,
        "new_level": change.new_level,
        "reason": change.reason,
        **extra,
    }
    return await store.append(
        change.at, ENGINE_ACTOR, LEVEL_CHANGED, f"district:{change.id}", payload
    )


class BusLevelJournal:
    """Journals the level changes of the distributed mode; run by exactly one process (the
    archive), which reads every change on the situation topic.

    A correlation worker that crashed derives and publishes again what it had published since
    its last journalled record; those copies carry the same engine seq within their partition.
    So an entry names its partition and engine seq, and a change whose engine seq is not above
    the last one journaled for its partition is a copy (marks recovered from the journal at start).
    """

    def __init__(self, store: JournalStore) -> None:
        self.store = store
        self.marks: dict[int, int] = {}  # partition -> engine seq of the last level change

    async def start(self) -> None:
        after = 0
        while page := await self.store.since(after, PAGE, action=LEVEL_CHANGED):
            for entry in page:
                partition = entry.payload.get("partition")
                engine_seq = entry.payload.get("engine_seq")
                if isinstance(partition, int) and isinstance(engine_seq, int):
                    self.marks[partition] = max(self.marks.get(partition, 0), engine_seq)
            after = page[-1].seq

    async def record(self, partition: int, change: DistrictLevelChanged, seq: int) -> bool:
        """Journal ``change`` (``change.seq``: the engine seq in ``partition``; ``seq``: the
        stream seq the API and the history give it) unless it was journaled; whether it was
        new."""
        if change.seq <= self.marks.get(partition, 0):
            return False
        await append_level(self.store, change, seq, partition=partition, engine_seq=change.seq)
        self.marks[partition] = change.seq
        return True
