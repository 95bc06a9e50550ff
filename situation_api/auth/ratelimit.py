"""Per-key token buckets: each key (a token id, or a client address for failed logins) may make
``burst`` requests at once and ``rate`` per second on average; beyond that it waits."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Final

_MAX_KEYS: Final = 50_000


class RateLimiter:
    __slots__ = ("_buckets", "_clock", "burst", "rate")

    def __init__(
        self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = max(burst, 1)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens left, when)

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def take(self, key: str, cost: float = 1.0) -> float:
        """Spend ``cost`` from ``key``'s bucket: 0.0 if allowed, else the seconds to wait."""
        if self.rate <= 0:
            return 0.0
        now = self._clock()
        tokens, when = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - when) * self.rate)
        if tokens >= cost:
            if len(self._buckets) >= _MAX_KEYS and key not in self._buckets:
                self._prune(now)
            self._buckets[key] = (tokens - cost, now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (cost - tokens) / self.rate

    def peek(self, key: str) -> float:
        """Seconds until ``key`` may make one request (0.0: now), without spending."""
        if self.rate <= 0 or key not in self._buckets:
            return 0.0
        tokens, when = self._buckets[key]
        tokens = min(float(self.burst), tokens + (self._clock() - when) * self.rate)
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate

    def _prune(self, now: float) -> None:
        # Buckets refilled to the brim carry no information; drop them (and, if every bucket is
        # busy, all of them: a brief over-allowance beats unbounded memory).
        full = [k for k, (t, w) in self._buckets.items() if t + (now - w) * self.rate >= self.burst]
        for key in full:
            del self._buckets[key]
        if len(self._buckets) >= _MAX_KEYS:
            self._buckets.clear()


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
