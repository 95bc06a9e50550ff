"""The pollers end to end: recorded real payloads from a local HTTP server → parsers → a real
PostgreSQL report log, with health in the real feed status table. No real waiting: clock and
sleep are fakes, so backoff schedules are checked exactly."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from ingest.formats import parse
from ingest.pollers.config import FeedConfig, FeedKind, loads_config
from ingest.pollers.fetcher import Fetcher
from ingest.pollers.poller import (
    FeedPolled,
    FeedPoller,
    FeedPollFailed,
    serve_feeds,
)
from ingest.store import Database, PostgresFeedStatusStore, PostgresReportLog
from tests.ingest.pollers.conftest import FakeTime, FeedServer
from tests.ingest.pollers.test_sources import dwd_zip

DWD = "cap/dwd"
MUL = [
    "2.49.0.0.276.0.DWD.PVW.1687470000000.fe90b61b-3755-4efb-8eda-b161251da9f7.MUL.xml",
    "2.49.0.0.276.0.DWD.PVW.1687511640000.0d1a4fb5-251a-46fc-aae3-a688d2021e71.MUL.xml",
    "2.49.0.0.276.0.DWD.PVW.1687514160000.20999218-5d5e-4761-b271-6c243f695568.MUL.xml",
]
ALERT_2019 = [
    "dwd_2019_alert_1.xml",
    "dwd_2019_alert_1_update_1.xml",
    "dwd_2019_alert_1_update_2.xml",
    "dwd_2019_alert_2_discjunct_regions.xml",
]


@dataclass
class Store:
    log: PostgresReportLog
    status: PostgresFeedStatusStore


@pytest.fixture
async def store(pg_fresh_url: str) -> AsyncIterator[Store]:
    db = await Database.connect(pg_fresh_url)
    log = await PostgresReportLog.open(db)
    status = await PostgresFeedStatusStore.open(db)
    yield Store(log, status)
    await log.close()
    await db.close()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as http:
        yield http


def feed(kind: FeedKind, url: str, **options: object) -> FeedConfig:
    return FeedConfig(name=f"test-{kind}", kind=kind, url=url, **options)  # type: ignore[arg-type]


def poller(
    config: FeedConfig, store: Store, client: httpx.AsyncClient, time: FakeTime
) -> FeedPoller:
    return FeedPoller(
        config,
        log=store.log,
        status=store.status,
        fetcher=Fetcher(client),
        clock=time.clock,
        sleep=time.sleep,
        rng=random.Random(42),
    )


def atom(entries: list[tuple[str, str]]) -> bytes:
    """An Atom feed whose entries link CAP files by relative URL (as NWS/alert hubs do)."""
    body = "".join(
        f"<entry><id>urn:{href}</id><title>{href}</title><updated>{updated}</updated>"
        f'<link rel="alternate" type="application/cap+xml" href="{href}"/></entry>'
        for href, updated in entries
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>DWD</title><id>urn:feed</id><updated>2023-06-23T12:00:00Z</updated>{body}</feed>"
    ).encode()


async def test_cap_feed_publishes_then_uses_conditional_get(
    feed_server: FeedServer,
    store: Store,
    client: httpx.AsyncClient,
    fake_time: FakeTime,
    shared_data: Path,
) -> None:
    body = (shared_data / DWD / MUL[2]).read_bytes()
    url = feed_server.serve("/warning.xml", body)
    cap = poller(feed("cap", url, interval_seconds=60), store, client, fake_time)

    first = await cap.poll_once()
    assert isinstance(first, FeedPolled)
    assert (first.accepted, first.duplicates, first.not_modified) == (1, 0, False)
    assert await store.log.last_offset() == 1
    assert await store.log.read_raw(1) == body  # the CAP document, byte for byte
    [stored] = await store.log.read(0, 10)
    assert stored.key == parse(body, "cap").reports[0].key
    assert first.next_poll_in == 60.0

    second = await cap.poll_once()
    assert isinstance(second, FeedPolled)
    assert second.not_modified
    assert second.accepted == 0
    assert feed_server.conditional_hits["/warning.xml"] == 1
    assert feed_server.not_modified["/warning.xml"] == 1
    assert await store.log.last_offset() == 1

    health = await store.status.get("test-cap")
    assert health is not None
    assert health.last_success == fake_time.now
    assert health.error is None
    assert health.items == 1
    assert health.etag == feed_server.routes["/warning.xml"].etag
    assert health.last_modified == feed_server.routes["/warning.xml"].last_modified
    # The newest item was sent 2023-06-23T11:56+02:00; the fake clock says 12:30Z.
    sent = datetime(2023, 6, 23, 9, 56, tzinfo=UTC)
    assert health.lag_seconds == pytest.approx((fake_time.now - sent).total_seconds())

    # A restarted poller continues from the stored validators: its first poll is conditional.
    restarted = poller(feed("cap", url), store, client, fake_time)
    again = await restarted.poll_once()
    assert isinstance(again, FeedPolled)
    assert again.not_modified
    assert feed_server.not_modified["/warning.xml"] == 2
    assert restarted.health.items == 1


async def test_atom_feed_fetches_only_new_entries(
    feed_server: FeedServer,
    store: Store,
    client: httpx.AsyncClient,
    fake_time: FakeTime,
    shared_data: Path,
) -> None:
    for name in ALERT_2019:
        feed_server.serve(f"/cap/{name}", (shared_data / DWD / name).read_bytes())
    listed = [(f"cap/{name}", "2019-01-23T08:00:00Z") for name in ALERT_2019[:3]]
    url = feed_server.serve("/atom.xml", atom(listed), content_type="application/atom+xml")
    feed_server.routes[f"/cap/{ALERT_2019[1]}"].fail_next = 1  # one entry is down at first
    source = poller(feed("atom", url), store, client, fake_time)

    first = await source.poll_once()
    assert isinstance(first, FeedPolled)
    assert first.accepted == 2
    assert len(first.failures) == 1
    assert ALERT_2019[1] in first.failures[0]
    health = await store.status.get("test-atom")
    assert health is not None
    assert health.last_success == fake_time.now
    assert health.error is not None
    assert "HTTP 500" in health.error

    # The feed gains an entry; only the new one and the one that failed are fetched.
    feed_server.replace("/atom.xml", atom([*listed, (f"cap/{ALERT_2019[3]}", "2019-01-28Z")]))
    second = await source.poll_once()
    assert isinstance(second, FeedPolled)
    assert (second.accepted, second.duplicates, second.failures) == (2, 0, ())
    assert [feed_server.hits[f"/cap/{name}"] for name in ALERT_2019] == [1, 2, 1, 1]
    assert await store.log.last_offset() == 4
    raws = {await store.log.read_raw(offset) for offset in range(1, 5)}
    assert raws == {(shared_data / DWD / name).read_bytes() for name in ALERT_2019}
    health = await store.status.get("test-atom")
    assert health is not None
    assert health.error is None
    assert health.items == 4

    third = await source.poll_once()
    assert isinstance(third, FeedPolled)
    assert third.not_modified
    assert sum(feed_server.hits[f"/cap/{name}"] for name in ALERT_2019) == 5


async def test_hostile_atom_entry_is_rejected_and_not_refetched(
    feed_server: FeedServer,
    store: Store,
    client: httpx.AsyncClient,
    fake_time: FakeTime,
    shared_data: Path,
) -> None:
    feed_server.serve("/cap/xxe.cap", (shared_data / "cap/negative/xxe_attack.cap").read_bytes())
    feed_server.serve("/cap/ok.xml", (shared_data / DWD / MUL[1]).read_bytes())
    entries = [("cap/xxe.cap", "2023-06-23T10:00:00Z"), ("cap/ok.xml", "2023-06-23T10:00:00Z")]
    url = feed_server.serve("/atom.xml", atom(entries), honour_conditional=False)
    source = poller(feed("atom", url), store, client, fake_time)

    first = await source.poll_once()
    assert isinstance(first, FeedPolled)
    assert (first.accepted, first.rejected) == (1, 1)
    assert await store.log.last_offset() == 1
    assert await store.log.read_raw(1) == (shared_data / DWD / MUL[1]).read_bytes()
    health = await store.status.get("test-atom")
    assert health is not None
    assert health.error is not None
    assert "1 item(s) rejected" in health.error
    assert "DTD" in health.error

    second = await source.poll_once()  # the server ignores validators: full feed again
    assert isinstance(second, FeedPolled)
    assert (second.accepted, second.rejected) == (0, 0)
    assert feed_server.hits["/cap/xxe.cap"] == 1
    assert feed_server.hits["/cap/ok.xml"] == 1


async def test_nina_repoll_only_produces_duplicates(
    feed_server: FeedServer,
    store: Store,
    client: httpx.AsyncClient,
    fake_time: FakeTime,
    shared_data: Path,
) -> None:
    body = (shared_data / "nina/mowas_legacy_2022/unwetter_dwd_2022-02-17.json").read_bytes()
    alerts = json.loads(body)
    url = feed_server.serve(
        "/unwetter.json", body, content_type="application/json", honour_conditional=False
    )
    nina = poller(feed("nina", url), store, client, fake_time)

    first = await nina.poll_once()
    assert isinstance(first, FeedPolled)
    assert (first.accepted, first.rejected) == (len(alerts), 0)
    stored = await store.log.read(0, 1000)
    assert len(stored) == len(alerts)
    assert {r.source for r in stored} == {"weather"}  # DWD alerts relayed by NINA
    assert {r.message_id for r in stored} == {a["identifier"] for a in alerts}
    # Each report keeps its own warning's JSON, not a copy of the whole list.
    for offset, report in enumerate(stored, start=1):
        raw = await store.log.read_raw(offset)
        assert raw is not None
        assert json.loads(raw)["identifier"] == report.message_id
        assert len(raw) < len(body) / 4

    second = await nina.poll_once()
    assert isinstance(second, FeedPolled)
    assert not second.not_modified
    assert (second.accepted, second.duplicates) == (0, len(alerts))
    assert await store.log.last_offset() == len(alerts)
    health = await store.status.get("test-nina")
    assert health is not None
    assert health.items == len(alerts)
    newest = max(r.observed_at for r in stored)
    assert health.lag_seconds == pytest.approx((fake_time.now - newest).total_seconds())


async def test_dwd_zip_publishes_entries_and_skips_unchanged_ones(
    feed_server: FeedServer,
    store: Store,
    client: httpx.AsyncClient,
    fake_time: FakeTime,
    shared_data: Path,
) -> None:
    url = feed_server.serve("/latest.zip", dwd_zip(shared_data), content_type="application/zip")
    source = poller(feed("dwd_zip", url, source="weather"), store, client, fake_time)

    first = await source.poll_once()
    assert isinstance(first, FeedPolled)
    assert first.accepted == 3
    raws = {await store.log.read_raw(offset) for offset in (1, 2, 3)}
    assert raws == {(shared_data / DWD / name).read_bytes() for name in MUL}
    assert {r.source for r in await store.log.read(0, 10)} == {"weather"}

    # The next snapshot repeats the three warnings and adds two: only those two are parsed.
    extra = [(name, (shared_data / DWD / name).read_bytes()) for name in ALERT_2019[:2]]
    feed_server.replace("/latest.zip", dwd_zip(shared_data, *extra))
    second = await source.poll_once()
    assert isinstance(second, FeedPolled)
    assert (second.accepted, second.duplicates) == (2, 0)
    assert await store.log.last_offset() == 5


async def test_zip_bomb_fails_the_poll_and_stores_nothing(
    feed_server: FeedServer,
    store: Store,
    client: httpx.AsyncClient,
    fake_time: FakeTime,
    shared_data: Path,
) -> None:
    bomb = dwd_zip(shared_data, ("bomb.xml", b"<a>" + b" " * 30_000_000 + b"</a>"))
    assert len(bomb) < 1_000_000
    url = feed_server.serve("/latest.zip", bomb, content_type="application/zip")
    source = poller(
        feed("dwd_zip", url, max_unzipped_bytes=10_000_000, backoff_initial_seconds=10.0),
        store,
        client,
        fake_time,
    )
    outcome = await source.poll_once()
    assert isinstance(outcome, FeedPollFailed)
    assert "max_unzipped_bytes 10000000" in outcome.error
    assert 5.0 <= outcome.next_poll_in <= 10.0
    assert await store.log.last_offset() == 0
    health = await store.status.get("test-dwd_zip")
    assert health is not None
    assert health.last_success is None
    assert health.last_error == fake_time.now
    assert health.error == outcome.error


async def test_backoff_after_server_errors_then_recovery(
    feed_server: FeedServer,
    store: Store,
    client: httpx.AsyncClient,
    fake_time: FakeTime,
    shared_data: Path,
) -> None:
    url = feed_server.serve("/warning.xml", (shared_data / DWD / MUL[0]).read_bytes())
    feed_server.routes["/warning.xml"].fail_next = 4
    config = feed(
        "cap",
        url,
        interval_seconds=300,
        backoff_initial_seconds=10.0,
        backoff_max_seconds=60.0,
    )
    source = poller(config, store, client, fake_time)
    outcomes = await source.run(polls=6)

    assert [type(o).__name__ for o in outcomes] == ["FeedPollFailed"] * 4 + ["FeedPolled"] * 2
    failures = [o for o in outcomes if isinstance(o, FeedPollFailed)]
    assert [f.failures_in_row for f in failures] == [1, 2, 3, 4]
    assert all("HTTP 500" in f.error for f in failures)
    # Waits: jittered 10, 20, 40, then capped at 60; each in [ceiling/2, ceiling].
    for wait, ceiling in zip(fake_time.sleeps[:4], [10.0, 20.0, 40.0, 60.0], strict=True):
        assert ceiling / 2 <= wait <= ceiling
    assert fake_time.sleeps[4] == 300.0  # back to the interval after the success
    assert len(fake_time.sleeps) == 5  # no sleep after the last bounded poll
    last = outcomes[-1]
    assert isinstance(last, FeedPolled)
    assert last.not_modified
    assert await store.log.last_offset() == 1
    health = await store.status.get("test-cap")
    assert health is not None
    assert health.error is None
    assert health.last_error is not None
    assert health.last_success is not None
    assert health.last_success > health.last_error
    assert feed_server.hits["/warning.xml"] == 6


async def test_retry_after_is_honoured(
    feed_server: FeedServer,
    store: Store,
    client: httpx.AsyncClient,
    fake_time: FakeTime,
) -> None:
    url = feed_server.serve("/x.xml", b"<x/>", fail_next=1, fail_status=503, retry_after="400")
    source = poller(feed("cap", url, backoff_initial_seconds=5.0), store, client, fake_time)
    outcome = await source.poll_once()
    assert isinstance(outcome, FeedPollFailed)
    assert outcome.next_poll_in == 400.0


async def test_pollers_from_config_run_side_by_side(
    feed_server: FeedServer, store: Store, shared_data: Path
) -> None:
    cap_url = feed_server.serve("/a.xml", (shared_data / DWD / MUL[1]).read_bytes())
    bad_url = feed_server.url("/missing.xml")
    config = loads_config(
        f"[defaults]\ninterval_seconds = 30\n"
        f'[[feed]]\nname = "good"\nkind = "cap"\nurl = "{cap_url}"\n'
        f'[[feed]]\nname = "broken"\nkind = "cap"\nurl = "{bad_url}"\n'
    )
    sleeps: list[float] = []

    async def tiny_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        await asyncio.sleep(0.01)

    task = asyncio.create_task(
        serve_feeds(config, log=store.log, status=store.status, sleep=tiny_sleep)
    )
    try:
        async with asyncio.timeout(10):
            while feed_server.hits["/a.xml"] < 3 or feed_server.hits["/missing.xml"] < 3:
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    statuses = {s.feed: s for s in await store.status.list()}
    assert statuses["good"].items == 1
    assert statuses["good"].error is None
    assert statuses["broken"].error is not None
    assert "HTTP 404" in statuses["broken"].error
    assert await store.log.last_offset() == 1
    # The good feed waits its interval (less the poll's duration); the broken one backs off.
    assert any(25.0 < s <= 30.0 for s in sleeps)
    assert any(s < 10.0 for s in sleeps)


async def test_no_feeds_configured_returns_at_once(store: Store) -> None:
    await asyncio.wait_for(
        serve_feeds(loads_config(""), log=store.log, status=store.status), timeout=1
    )
