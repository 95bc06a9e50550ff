"""The fetcher against a real local HTTP server; the backoff policy with a seeded RNG."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.pollers.errors import FetchFailed, PayloadTooLarge
from ingest.pollers.fetcher import Backoff, Fetched, Fetcher, NotModified, Validators
from tests.ingest.pollers.conftest import FeedServer

DWD_ALERT = "cap/dwd/dwd_2019_alert_1.xml"


@pytest.fixture
async def fetcher() -> AsyncIterator[Fetcher]:
    async with httpx.AsyncClient() as client:
        yield Fetcher(client)


async def test_fetch_returns_body_and_validators(
    feed_server: FeedServer, fetcher: Fetcher, shared_data: Path
) -> None:
    body = (shared_data / DWD_ALERT).read_bytes()
    url = feed_server.serve("/alert.xml", body)
    got = await fetcher.get(url)
    assert isinstance(got, Fetched)
    assert got.body == body
    assert got.validators.etag == feed_server.routes["/alert.xml"].etag
    assert got.validators.last_modified == feed_server.routes["/alert.xml"].last_modified
    assert got.content_type == "application/xml"


async def test_conditional_get_answers_not_modified(
    feed_server: FeedServer, fetcher: Fetcher, shared_data: Path
) -> None:
    url = feed_server.serve("/alert.xml", (shared_data / DWD_ALERT).read_bytes())
    first = await fetcher.get(url)
    assert isinstance(first, Fetched)
    again = await fetcher.get(url, validators=first.validators)
    assert isinstance(again, NotModified)
    assert again.validators == first.validators
    assert feed_server.conditional_hits["/alert.xml"] == 1
    assert feed_server.not_modified["/alert.xml"] == 1
    # Only Last-Modified known (a server without ETags): still conditional.
    only_date = Validators(last_modified=first.validators.last_modified)
    assert isinstance(await fetcher.get(url, validators=only_date), NotModified)
    feed_server.replace("/alert.xml", b"<changed/>")
    changed = await fetcher.get(url, validators=first.validators)
    assert isinstance(changed, Fetched)
    assert changed.body == b"<changed/>"
    assert changed.validators.etag != first.validators.etag


async def test_declared_oversize_body_is_refused(
    feed_server: FeedServer, fetcher: Fetcher, shared_data: Path
) -> None:
    body = (shared_data / DWD_ALERT).read_bytes()
    url = feed_server.serve("/big.xml", body)
    with pytest.raises(PayloadTooLarge, match="Content-Length") as caught:
        await fetcher.get(url, max_bytes=len(body) - 1)
    assert caught.value.url == url


async def test_chunked_oversize_body_is_refused_while_streaming(
    feed_server: FeedServer, fetcher: Fetcher, shared_data: Path
) -> None:
    body = (shared_data / DWD_ALERT).read_bytes()
    url = feed_server.serve("/chunked.xml", body, chunked=True)
    assert isinstance(await fetcher.get(url, max_bytes=len(body)), Fetched)
    with pytest.raises(PayloadTooLarge, match="exceeds max_bytes 100000"):
        await fetcher.get(url, max_bytes=100_000)


async def test_server_error_carries_status_and_retry_after(
    feed_server: FeedServer, fetcher: Fetcher
) -> None:
    url = feed_server.serve("/x", b"{}", fail_next=2, fail_status=503, retry_after="120")
    with pytest.raises(FetchFailed) as caught:
        await fetcher.get(url)
    assert caught.value.status == 503
    assert caught.value.retry_after == 120.0
    assert "HTTP 503" in str(caught.value)
    feed_server.routes["/x"].retry_after = "Wed, 21 Oct 2015 07:28:00 GMT"  # in the past
    with pytest.raises(FetchFailed) as past:
        await fetcher.get(url)
    assert past.value.retry_after == 0.0
    assert isinstance(await fetcher.get(url), Fetched)


async def test_missing_resource_and_refused_connection_fail_cleanly(
    feed_server: FeedServer, fetcher: Fetcher
) -> None:
    with pytest.raises(FetchFailed) as missing:
        await fetcher.get(feed_server.url("/nothing"))
    assert missing.value.status == 404
    with pytest.raises(FetchFailed, match="ConnectError"):
        await fetcher.get("http://127.0.0.1:1/feed")


async def test_slow_body_hits_the_overall_timeout(
    feed_server: FeedServer, fetcher: Fetcher
) -> None:
    # Each chunk arrives within any read timeout, but the whole exchange takes too long.
    url = feed_server.serve("/slow", b"x" * 16_384 * 8, chunked=True, delay_seconds=0.1)
    with pytest.raises(FetchFailed, match=r"timed out after 0\.3 s"):
        await fetcher.get(url, timeout=0.3)


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    backoff = Backoff(initial=5.0, maximum=300.0)
    rng = random.Random(7)
    delays = [backoff.delay(n, rng) for n in range(1, 12)]
    for n, delay in enumerate(delays, start=1):
        ceiling = min(300.0, 5.0 * 2 ** (n - 1))
        assert ceiling / 2 <= delay <= ceiling
    assert max(delays) <= 300.0
    assert delays[-1] >= 150.0  # capped, yet never below half the cap
    assert backoff.delay(0, rng) == 0.0
    assert backoff.delay(10_000, rng) <= 300.0  # no overflow after weeks of failures
    # The same seed gives the same schedule.
    assert [backoff.delay(n, random.Random(7)) for n in (1,)] == delays[:1]


def test_backoff_respects_retry_after_within_the_cap() -> None:
    backoff = Backoff(initial=1.0, maximum=60.0)
    assert backoff.delay(1, random.Random(1), retry_after=30.0) == 30.0
    assert backoff.delay(1, random.Random(1), retry_after=10_000.0) == 60.0


@given(
    initial=st.floats(0.1, 100.0),
    maximum=st.floats(100.0, 3600.0),
    failures=st.integers(1, 100_000),
    seed=st.integers(0, 2**32),
    retry_after=st.none() | st.floats(0.0, 10**9),
)
def test_backoff_always_within_half_ceiling_and_cap(
    initial: float, maximum: float, failures: int, seed: int, retry_after: float | None
) -> None:
    backoff = Backoff(initial=initial, maximum=maximum)
    wait = backoff.delay(failures, random.Random(seed), retry_after=retry_after)
    ceiling = min(maximum, initial * 2.0 ** min(failures - 1, 64))
    assert ceiling / 2 <= wait <= maximum
    if retry_after is not None:
        assert wait >= min(retry_after, maximum)
    else:
        assert wait <= ceiling
    # Monotone in expectation: the floor never shrinks as failures grow.
    assert backoff.delay(failures + 1, random.Random(seed)) >= ceiling / 2
