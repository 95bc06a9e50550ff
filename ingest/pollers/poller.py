"""Scheduling of the feed pollers: one loop per feed, publishing to the log, recording health.

A poll is: conditional GET (through the feed's source) → parse → ``ReportLog.append`` (durable)
→ only then remember validators and seen entries → write the feed's health. A poll that fails
anywhere leaves the remembered state as it was, so the next attempt redoes it; the log's
duplicate detection makes that redo harmless. Clock, sleep and RNG are injected: tests drive the
schedule without waiting, and production uses the event loop's.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx

from ingest.errors import IngestError
from ingest.pollers.config import FeedConfig, PollerConfig
from ingest.pollers.errors import FetchFailed
from ingest.pollers.fetcher import Backoff, Fetcher, Validators
from ingest.pollers.sources import FeedSource, source_for
from ingest.store.port import FeedStatus, FeedStatusStore, ReportLog

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[None]]
_MAX_ERROR_TEXT = 500


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class FeedPolled:
    """A poll that reached the feed and published what it found (possibly nothing new)."""

    feed: str
    at: datetime
    not_modified: bool
    accepted: int
    duplicates: int
    rejected: int
    failures: tuple[str, ...]
    lag_seconds: float | None
    next_poll_in: float


@dataclass(frozen=True, slots=True)
class FeedPollFailed:
    """A poll that failed as a whole; the feed is retried after ``next_poll_in`` seconds."""

    feed: str
    at: datetime
    error: str
    failures_in_row: int
    next_poll_in: float


PollOutcome = FeedPolled | FeedPollFailed


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_ERROR_TEXT else text[: _MAX_ERROR_TEXT - 1] + "…"


class FeedPoller:
    """Polls one feed. ``poll_once`` is one attempt; ``run`` repeats it forever."""

    def __init__(
        self,
        feed: FeedConfig,
        *,
        log: ReportLog,
        status: FeedStatusStore,
        fetcher: Fetcher,
        source: FeedSource | None = None,
        clock: Clock = utc_now,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.feed = feed
        self._log = log
        self._status = status
        self._fetcher = fetcher
        self._source = source or source_for(feed)
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._backoff = Backoff(feed.backoff_initial_seconds, feed.backoff_max_seconds)
        self._validators: Validators | None = None
        self._health = FeedStatus(feed=feed.name, updated_at=clock())
        self._newest: datetime | None = None
        self._failures = 0
        self._restored = False

    @property
    def health(self) -> FeedStatus:
        return self._health

    async def restore(self) -> None:
        """Continue from the stored health: item count and validators survive a restart, so
        the first poll after it is already conditional."""
        self._restored = True
        stored = await self._status.get(self.feed.name)
        if stored is None:
            return
        self._health = stored
        if stored.etag or stored.last_modified:
            self._validators = Validators(stored.etag, stored.last_modified)
        if stored.lag_seconds is not None:
            # Only the lag was stored; the newest item's time follows from it.
            self._newest = stored.updated_at - timedelta(seconds=stored.lag_seconds)

    async def poll_once(self) -> PollOutcome:
        started = self._clock()
        try:
            if not self._restored:
                await self.restore()
            harvest = await self._source.harvest(self._fetcher, self._validators)
            appended = await self._log.append(harvest.items) if harvest.items else []
        except asyncio.CancelledError:
            raise
        except Exception as error:
            # Anything from one feed (network, parser, storage) must not stop the others.
            return await self._failed(started, error)
        self._source.commit(harvest)
        self._validators = harvest.validators
        self._failures = 0
        newest = max((r.observed_at for r, _ in harvest.items), default=None)
        if newest is not None and (self._newest is None or newest > self._newest):
            self._newest = newest
        now = self._clock()
        lag = (now - self._newest).total_seconds() if self._newest else None
        accepted = sum(1 for a in appended if not a.duplicate)
        problems = list(harvest.failures)
        if harvest.rejected:
            first = harvest.rejected[0]
            problems.append(
                f"{len(harvest.rejected)} item(s) rejected, e.g. {first.field}: {first.reason}"
            )
        self._health = FeedStatus(
            feed=self.feed.name,
            updated_at=now,
            last_success=now,
            last_error=now if problems else self._health.last_error,
            error=_clip("; ".join(problems)) if problems else None,
            items=self._health.items + accepted,
            lag_seconds=lag,
            etag=harvest.validators.etag,
            last_modified=harvest.validators.last_modified,
        )
        await self._record()
        elapsed = (now - started).total_seconds()
        return FeedPolled(
            feed=self.feed.name,
            at=now,
            not_modified=harvest.not_modified,
            accepted=accepted,
            duplicates=len(appended) - accepted,
            rejected=len(harvest.rejected),
            failures=harvest.failures,
            lag_seconds=lag,
            next_poll_in=max(0.0, self.feed.interval_seconds - elapsed),
        )

    async def _failed(self, started: datetime, error: Exception) -> FeedPollFailed:
        self._failures += 1
        now = self._clock()
        text = str(error) if isinstance(error, IngestError) else f"{type(error).__name__}: {error}"
        retry_after = error.retry_after if isinstance(error, FetchFailed) else None
        wait = self._backoff.delay(self._failures, self._rng, retry_after=retry_after)
        lag = (now - self._newest).total_seconds() if self._newest else self._health.lag_seconds
        self._health = FeedStatus(
            feed=self.feed.name,
            updated_at=now,
            last_success=self._health.last_success,
            last_error=now,
            error=_clip(text),
            items=self._health.items,
            lag_seconds=lag,
            etag=self._health.etag,
            last_modified=self._health.last_modified,
        )
        log.warning("feed %s: poll failed (%d in a row): %s", self.feed.name, self._failures, text)
        await self._record()
        return FeedPollFailed(self.feed.name, now, text, self._failures, wait)

    async def _record(self) -> None:
        try:
            await self._status.upsert(self._health)
        except asyncio.CancelledError:
            raise
        except Exception:
            # Health is advisory; a status write failing must not fail the poll it describes.
            log.exception("feed %s: could not record health", self.feed.name)

    async def run(self, *, polls: int | None = None) -> list[PollOutcome]:
        """Poll, wait, repeat; ``polls`` bounds the number of attempts (tests), else forever.
        Returns the outcomes of a bounded run."""
        outcomes: list[PollOutcome] = []
        while polls is None or len(outcomes) < polls:
            outcome = await self.poll_once()
            if polls is not None:
                outcomes.append(outcome)
                if len(outcomes) >= polls:
                    break
            await self._sleep(outcome.next_poll_in)
        return outcomes


def build_pollers(
    config: PollerConfig,
    *,
    log: ReportLog,
    status: FeedStatusStore,
    client: httpx.AsyncClient,
    clock: Clock = utc_now,
    sleep: Sleep = asyncio.sleep,
    rng: random.Random | None = None,
) -> list[FeedPoller]:
    """One poller per configured feed, sharing one HTTP client (one connection pool)."""
    rng = rng or random.Random()
    return [
        FeedPoller(
            feed,
            log=log,
            status=status,
            fetcher=Fetcher(client, user_agent=feed.user_agent),
            clock=clock,
            sleep=sleep,
            rng=random.Random(rng.random()),
        )
        for feed in config.feeds
    ]


async def run_pollers(pollers: Sequence[FeedPoller]) -> None:
    """Run every poller until cancelled; one feed failing never stops the others."""
    async with asyncio.TaskGroup() as group:
        for poller in pollers:
            group.create_task(poller.run(), name=f"poller:{poller.feed.name}")


async def serve_feeds(
    config: PollerConfig,
    *,
    log: ReportLog,
    status: FeedStatusStore,
    clock: Clock = utc_now,
    sleep: Sleep = asyncio.sleep,
    rng: random.Random | None = None,
) -> None:
    """Poll every feed of ``config`` until cancelled, through one HTTP client the call owns.

    The entry point for a server: ``task = asyncio.create_task(serve_feeds(...))`` at start-up,
    ``task.cancel()`` at shutdown.
    """
    if not config.feeds:
        return
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=8)
    async with httpx.AsyncClient(limits=limits) as client:
        pollers = build_pollers(
            config, log=log, status=status, client=client, clock=clock, sleep=sleep, rng=rng
        )
        await run_pollers(pollers)
