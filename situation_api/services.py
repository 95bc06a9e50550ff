"""What the routes of one app share: stores, runtime, stream hub, settings; and the queries that
combine them (picture at a past time, one incident in depth, readiness)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import msgspec

from correlation.changes import decode_change
from correlation.clock import rfc3339, to_us
from correlation.picture import Picture, picture_json
from ingest.report import report_to_builtins
from ingest.store.port import FeedStatusStore, ReportLog
from situation_api.auth.tokens import TokenStore
from situation_api.history import HistoryStore, StoredChange
from situation_api.runtime import Runtime
from situation_api.settings import Settings
from situation_api.stream import StreamHub

_decoder: Final = msgspec.json.Decoder()
REPLAY_PAGE: Final = 10_000


@dataclass
class Services:
    settings: Settings
    report_log: ReportLog
    history: HistoryStore
    feeds: FeedStatusStore
    runtime: Runtime
    hub: StreamHub
    tokens: TokenStore | None = None
    migrated: bool = True
    closing: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def not_ready(self) -> str | None:
        """Why the instance should not take traffic yet, or None."""
        if self.closing:
            return "shutting down"
        if not self.migrated:
            return "database migrations not applied"
        if not self.runtime.ready:
            return (
                f"engine catching up with the report log "
                f"(offset {self.runtime.offset} of {self.runtime.log_offset})"
            )
        return None

    async def picture_at(self, at: datetime) -> bytes:
        """The picture as of event time ``at``: the latest snapshot at or before ``at`` plus the
        changes after it whose time is not later than ``at``, applied in seq order."""
        snapshot = await self.history.latest_snapshot(at_or_before=at)
        if snapshot is None:
            picture = self.runtime.initial_picture()  # districts are listed from the start
            after = 0
        else:
            picture = Picture.from_builtins(_decoder.decode(snapshot.picture))
            after = snapshot.seq
        while True:
            page = await self.history.since(after, REPLAY_PAGE)
            if not page:
                break
            for stored in page:
                if stored.at <= at:
                    picture.apply(decode_change(stored.payload))
            after = page[-1].seq
            if len(page) < REPLAY_PAGE:
                break
        for stored in self.runtime.unwritten():
            if stored.seq > after and stored.at <= at:
                picture.apply(decode_change(stored.payload))
        picture.as_of = rfc3339(to_us(at))
        return picture_json(picture)

    async def _timeline_changes(self, entity: str, entity_id: str) -> list[StoredChange]:
        stored = await self.history.for_entity(entity, entity_id)
        head = stored[-1].seq if stored else 0
        tail = [
            c
            for c in self.runtime.unwritten()
            if c.seq > head and c.entity == entity and c.entity_id == entity_id
        ]
        return stored + tail

    async def incident_detail(self, incident_id: str) -> dict[str, Any] | None:
        history = await self._timeline_changes("incident", incident_id)
        live = _decoder.decode(self.runtime.picture_json())
        view: dict[str, Any] | None = next(
            (i for i in live["incidents"] if i.get("id") == incident_id), None
        )
        is_live = view is not None
        timeline: list[dict[str, Any]] = []
        for stored in history:
            change = _decoder.decode(stored.payload)
            change_view = change.get("view")
            if change_view is not None and not is_live:
                view = change_view
            timeline.append(
                {
                    "seq": stored.seq,
                    "at": change.get("at"),
                    "type": change.get("type", stored.kind),
                    "reason": change.get("reason"),
                    "thread": change.get("thread"),
                    "late": change.get("late", False),
                    "status": change_view.get("status") if change_view else None,
                    "severity": change_view.get("severity") if change_view else None,
                }
            )
        if view is None and not timeline:
            return None
        reports = []
        links = {link.get("thread"): link for link in (view or {}).get("links") or ()}
        for thread in (view or {}).get("threads", []):
            offset = self.runtime.thread_offset(thread)
            report: dict[str, Any] | None = None
            if offset is not None:
                found = await self.report_log.read(offset - 1, 1)
                if found and found[0].offset == offset:
                    report = report_to_builtins(found[0])
            reports.append(
                {"thread": thread, "offset": offset, "link": links.get(thread), "report": report}
            )
        return {
            "id": incident_id,
            "live": is_live,
            "incident": view,
            "reports": reports,
            "timeline": timeline,
        }
