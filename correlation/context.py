"""What the layers of the engine share: rules, districts, the clock, the timers and the emitter.

A *step* is one thing happening at one event time: a report applied, a timer fired, an operator
action. Every change a step emits carries the step's time and lateness and the next ``seq``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from correlation.changes import Change
from correlation.clock import EPOCH, Timers, from_us
from correlation.rules import Rules
from ingest.districts import Districts


class Context:
    __slots__ = ("_at", "at_us", "clock_us", "districts", "late", "out", "rules", "seq", "timers")

    def __init__(self, rules: Rules, districts: Districts) -> None:
        self.rules = rules
        self.districts = districts
        self.seq = 0
        self.clock_us: int | None = None  # latest event time seen or advanced to
        self.timers = Timers()
        self.out: list[Change] = []
        self._at: datetime | None = EPOCH
        self.at_us = 0
        self.late = False

    @property
    def watermark_us(self) -> int | None:
        if self.clock_us is None:
            return None
        return self.clock_us - self.rules.allowed_lateness_us

    def step(self, at_us: int, *, at: datetime | None = None, late: bool = False) -> None:
        """Start a step at ``at_us`` (``at``: the same instant as a datetime, if at hand)."""
        self.at_us = at_us
        self._at = at
        self.late = late

    @property
    def at(self) -> datetime:
        if self._at is None:  # timers rarely emit; build their datetime only when they do
            self._at = from_us(self.at_us)
        return self._at

    def emit(self, kind: type[Change], **fields: Any) -> None:
        self.seq += 1
        self.out.append(kind(seq=self.seq, at=self.at, late=self.late, **fields))
