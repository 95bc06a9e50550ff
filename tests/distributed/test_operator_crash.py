"""Operator actions survive a correlation worker killed with SIGKILL (its own broker): reports,
then one action of every kind, the worker killed, more reports (updates of the incidents acted
on among them), a new worker: the picture shows the actions and equals the embedded mode fed
the same reports and the same actions at the same place."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec

from correlation.actions import (
    Acknowledge,
    AnyAction,
    DeclareLevel,
    IncidentStatus,
    Merge,
    Note,
    SetStatus,
    Split,
)
from correlation.rules import Rules
from ingest.bus.regions import RegionOf
from ingest.bus.wire import partition_for
from ingest.report import Report
from situation_api.journal import verify
from situation_api.operator_routes import perform
from tests.distributed.conftest import (
    PARTITIONS,
    converge,
    essence,
    feed,
    scenario,
    services,
)
from tests.distributed.test_pipeline import assert_same, bus_picture

_json = msgspec.json.Decoder()
ACTOR = "Lagedienst Koblenz (operator, token t7)"


async def embedded_run(
    parts: Sequence[tuple[Report, ...]], act: Callable[[dict[str, Any]], list[AnyAction]]
) -> tuple[dict[str, object], list[AnyAction], dict[str, object]]:
    """The embedded mode: the first reports, the actions ``act`` picks on that picture, the
    rest; the picture before the actions, the actions, the final picture."""
    async with services("memory://") as embedded:
        runtime = embedded.runtime
        await feed(embedded, parts[0])
        assert await runtime.wait_processed(len(parts[0]), timeout=30)
        await asyncio.sleep(0.5)  # a tick: the timers the clock passed have fired
        before: dict[str, Any] = _json.decode(runtime.picture_json())
        actions = act(before)
        for action in actions:
            _, changes, shown = await perform(embedded, action)
            assert changes, f"{type(action).__name__} changed nothing"
            assert shown
        await feed(embedded, parts[1])
        assert await runtime.wait_processed(len(parts[0]) + len(parts[1]), timeout=30)
        await asyncio.sleep(0.5)
        after: dict[str, Any] = _json.decode(runtime.picture_json())
        return essence(before), actions, essence(after)


def chooser(
    reports: Sequence[Report], later: Sequence[Report]
) -> Callable[[dict[str, Any]], list[AnyAction]]:
    """Picks targets for one action of every kind: incidents that get more reports after the
    actions (so a worker that forgot an action would publish them without it), a merge within
    one partition (the distributed mode refuses others)."""
    region = RegionOf(Rules.default())
    first_of: dict[str, Report] = {}
    for report in reports:
        first_of.setdefault(report.thread, report)
    again = {report.thread for report in later}

    def partition(view: dict[str, Any]) -> int:
        key = region(first_of[view["threads"][0]])
        assert key is not None
        return partition_for(key.encode(), PARTITIONS)

    def act(picture: dict[str, Any]) -> list[AnyAction]:
        at = datetime.now(UTC).replace(microsecond=0)
        views = sorted(picture["incidents"], key=lambda v: (not again & set(v["threads"]), v["id"]))
        several = next(v for v in views if len(v["threads"]) >= 2)
        rest = [v for v in views if v is not several]
        pair = next(
            (a, b)
            for i, a in enumerate(rest[3:], start=3)
            for b in rest[i + 1 :]
            if partition(a) == partition(b)
        )
        ack, note, status = rest[0], rest[1], rest[2]
        flip: IncidentStatus = "open" if status["status"] == "resolved" else "resolved"
        return [
            Acknowledge(at=at, actor=ACTOR, incident=ack["id"]),
            Note(at=at, actor=ACTOR, incident=note["id"], text="Einsatzabschnitt Nord gebildet"),
            SetStatus(at=at, actor=ACTOR, incident=status["id"], status=flip),
            Split(at=at, actor=ACTOR, incident=several["id"], thread=several["threads"][-1]),
            Merge(at=at, actor=ACTOR, incident=pair[0]["id"], other=pair[1]["id"]),
            DeclareLevel(
                at=at, actor=ACTOR, district=ack["district"], level=2, reason="Großschadenslage"
            ),
        ]

    return act


async def test_actions_survive_a_killed_worker_and_equal_the_embedded_mode(
    bus_url: str, workers: Callable[[], subprocess.Popen[bytes]], pg_fresh_url: str
) -> None:
    plan = scenario(seed=29, incidents=30)
    cut = len(plan.reports) * 2 // 3
    parts = (plan.reports[:cut], plan.reports[cut:])
    before, actions, reference = await embedded_run(parts, chooser(plan.reports, parts[1]))
    first = workers()
    async with services(pg_fresh_url, bus=bus_url) as api:
        await feed(api, parts[0])
        got = await converge(lambda: essence(bus_picture(api)), before, timeout=60)
        assert_same(got, before)
        for action in actions:
            entry, changes, shown = await perform(api, action)
            assert shown, f"{type(action).__name__} (journal entry {entry.seq}) not shown"
            assert changes == []  # they come through the situation topic
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        await feed(api, parts[1])
        workers()
        got = await converge(lambda: essence(bus_picture(api)), reference, timeout=90)
        assert_same(got, reference)
        # what the actions did is there, not just equal
        incidents = {v["id"]: v for v in got["incidents"]}  # type: ignore[attr-defined]
        ack, _, _, _, merge, level = actions
        assert isinstance(ack, Acknowledge)
        assert incidents[ack.incident]["acknowledged"]["by"] == ACTOR
        assert isinstance(merge, Merge)
        assert merge.other not in incidents
        assert isinstance(level, DeclareLevel)
        assert got["levels"][level.district] == 2  # type: ignore[index]
        # the journal: the actions in order, each naming the partition it went to
        journal = api.extra["journal"]
        entries = await journal.store.since(0, 100)
        assert [e.payload["input"] for e in entries] == [msgspec.to_builtins(a) for a in actions]
        assert verify(entries).ok
    # an instance started now rebuilds the same picture from the compacted topic
    async with services(pg_fresh_url, bus=bus_url) as late:
        again = await converge(lambda: essence(bus_picture(late)), reference, timeout=30)
        assert_same(again, reference)
