"""Where a report's picture and changes come from when an installation has a history.

:func:`history_window` reads the latest snapshot at or before the window start and every change
after it up to T (plus changes published but not yet written, for a live runtime): exactly the
input :func:`~situation_api.reports.model.build_report` needs, read in one query.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Final

import msgspec

from correlation.changes import Change, decode_change
from correlation.picture import Picture
from situation_api.history import HistoryStore, StoredChange

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
