"""Where a report's picture and changes come from when an installation has a history.

(Imported by the API and the CLI; the report model and renderers themselves do no I/O.)

:func:`history_window` reads the latest snapshot at or before the window start and every change
after it up to T (plus changes published but not yet written, for a live runtime): exactly the
input :func:`~situation_api.reports.model.build_report` needs, read in one query.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

import msgspec

from correlation.changes import Change, decode_change
from correlation.picture import Picture
from situation_api.history import HistoryStore, StoredChange
from situation_api.reports.i18n import Lang
from situation_api.reports.model import (
    JournalEntry,
    ReportOptions,
    SituationReport,
    build_report,
)

if TYPE_CHECKING:
    from situation_api.services import Services

_decoder: Final = msgspec.json.Decoder()


async def history_window(
    history: HistoryStore,
    initial: Picture,
    start: datetime,
    at: datetime,
    *,
    unwritten: Iterable[StoredChange] = (),
) -> tuple[Picture, list[Change]]:
    """``(base, changes)``: the snapshot picture at or before ``start`` (else ``initial``, the
    picture of a fresh engine) and the changes after it whose time is not later than ``at``."""
    snapshot = await history.latest_snapshot(at_or_before=start)
    base = initial if snapshot is None else Picture.from_builtins(_decoder.decode(snapshot.picture))
    # Read the head first: a change written while we query is then either in the store's
    # answer or still among the unwritten ones (duplicates are dropped by seq).
    head = await history.head()
    stored = await history.until(at, after=base.seq)
    seen = {c.seq for c in stored}
    pending = [
        c for c in unwritten if c.seq > max(head, base.seq) and c.seq not in seen and c.at <= at
    ]
    changes: list[Change] = [decode_change(c.payload) for c in (*stored, *pending)]
    return base, changes


async def report_from_services(
    services: Services,
    *,
    start: datetime,
    at: datetime,
    districts: Sequence[str] = (),
    lang: Lang = "de",
    classification: str | None = None,
    prepared_by: str | None = None,
    generated_at: datetime | None = None,
) -> SituationReport:
    """The report of a running installation: its history read once, the snapshot built in a
    worker thread (half a second of CPU for a heavy day must not stall the event loop)."""
    runtime = services.runtime
    base, changes = await history_window(
        services.history, runtime.initial_picture(), start, at, unwritten=runtime.unwritten()
    )
    settings = services.settings
    options = ReportOptions(
        at=at,
        start=start,
        districts=tuple(districts),
        lang=lang,
        classification=classification or settings.report_classification,
        prepared_by=prepared_by or settings.report_prepared_by,
        generated_at=generated_at,
    )
    journal = await operator_journal(services.extra.get("journal"), start, at)
    return await asyncio.to_thread(build_report, base, changes, options, journal=journal)


async def operator_journal(journal: Any, start: datetime, at: datetime) -> list[JournalEntry]:
    """The operator actions of the window from the hash-chained journal (``Journal`` of
    :mod:`situation_api.journal.service`), as report journal entries. Resolve/reopen and level
    changes are left out: the report derives those from the changes already."""
    if journal is None:
        return []
    # report times are whole seconds (the engine clock's resolution): so are the entries here
    found = await journal.store.until(at + timedelta(seconds=1), since=start)
    out: list[JournalEntry] = []
    for entry in found:
        moment = entry.at.replace(microsecond=0)
        if moment > at:
            continue
        data = entry.payload.get("input", {})
        if entry.action == "set_status" and data.get("status") != "closed":
            continue
        detail = {
            "note": data.get("text", ""),
            "merge": f"<- {data.get('other', '')}",
            "split": data.get("thread", ""),
            "set_status": data.get("status", ""),
            "declare_level": f"{data.get('level')} {data.get('reason', '')}".strip(),
        }.get(entry.action)
        if detail is None and entry.action != "acknowledge":
            continue  # level changes and anything unknown
        text = f"[{entry.seq}] {entry.action} {entry.subject}" + (f": {detail}" if detail else "")
        out.append(JournalEntry(moment, entry.actor, text))
    return out


def engine_time(services: Services) -> datetime | None:
    """The live engine clock (event time), the default report time of an installation."""
    as_of = services.runtime.engine.as_of
    return None if as_of is None else datetime.fromisoformat(as_of.replace("Z", "+00:00"))
