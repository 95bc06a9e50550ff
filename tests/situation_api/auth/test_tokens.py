"""Tokens: only hashes stored, roles and source scopes checked, revocation, the CLI."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.store import Database
from situation_api.auth.ratelimit import RateLimiter
from situation_api.auth.roles import LADDER, ROLES, Principal, grants
from situation_api.auth.tokens import (
    MemoryTokenStore,
    PostgresTokenStore,
    TokenInvalid,
    check_request,
    looks_like_token,
)

CLI = [sys.executable, "-c", "from ops.cli import main; main()"]


def test_the_role_ladder_and_the_feed_role() -> None:
    for i, lower in enumerate(LADDER):
        for higher in LADDER[i:]:
            assert grants(higher, lower), (higher, lower)
        for above in LADDER[i + 1 :]:
            assert not grants(lower, above), (lower, above)
    assert grants("feed", "feed")
    assert grants("admin", "feed")
    assert not any(grants("feed", r) for r in LADDER)
    assert not any(grants(r, "feed") for r in ("viewer", "operator", "staff"))
    police = Principal("abcd0123", "PP Koblenz", "feed", frozenset({"police"}))
    assert police.may_submit("police")
    assert not police.may_submit("fire")
    assert not Principal("x", "viewer", "viewer").may_submit("police")


@pytest.mark.parametrize(
    ("role", "sources", "name", "reason"),
    [
        ("root", [], "x", "--role"),
        ("feed", [], "x", "at least one --source"),
        ("viewer", ["police"], "x", "feed tokens only"),
        ("feed", ["army"], "x", "unknown"),
        ("viewer", [], " ", "--name"),
    ],
)
def test_token_requests_are_validated(
    role: str, sources: list[str], name: str, reason: str
) -> None:
    with pytest.raises(TokenInvalid, match=reason):
        check_request(role, sources, name)


async def test_memory_store_keeps_only_the_hash_and_revokes() -> None:
    store = MemoryTokenStore()
    info, token = await store.create("feed", ["police", "police"], "PP Koblenz")
    assert looks_like_token(token)
    assert token.startswith(f"lz_{info.id}_")
    assert info.sources == ("police",)
    assert token not in repr(store.__dict__)  # the token itself is never kept
    found = await store.lookup(token)
    assert found is not None
    assert found.principal().sources == frozenset({"police"})
    assert found.last_used_at is not None
    assert await store.lookup(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    revoked = await store.revoke(info.id)
    assert revoked is not None
    assert revoked.revoked_at is not None
    assert await store.lookup(token) is None
    assert await store.revoke("ffffffff") is None


async def test_postgres_store_round_trip(pg_fresh_url: str) -> None:
    db = await Database.connect(pg_fresh_url)
    try:
        store = await PostgresTokenStore.open(db)
        operator, token = await store.create("operator", [], "Anna Schmidt")
        feed, feed_token = await store.create("feed", ["fire", "health"], "ILS Mainz")
        async with db.pool.acquire() as conn:
            stored = await conn.fetchval("SELECT hash FROM api_tokens WHERE id = $1", operator.id)
            columns = await conn.fetch("SELECT * FROM api_tokens")
        assert bytes(stored) == hashlib.sha256(token.encode()).digest()
        assert not any(token in str(value) for row in columns for value in row.values())
        found = await store.lookup(feed_token)
        assert found is not None
        assert found.role == "feed"
        assert found.sources == ("fire", "health")
        assert found.last_used_at is not None
        assert {i.id for i in await store.list()} == {operator.id, feed.id}
        revoked = await store.revoke(token)  # by the token itself
        assert revoked is not None
        assert revoked.id == operator.id
        assert await store.lookup(token) is None
        assert await store.lookup(feed_token) is not None
        assert await store.revoke("not-an-id") is None
    finally:
        await db.close()


def test_rate_limiter_refills_over_time() -> None:
    now = [0.0]
    limiter = RateLimiter(2.0, 3, clock=lambda: now[0])
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.take("a")
    assert wait == pytest.approx(0.5)
    assert limiter.take("b") == 0.0  # buckets are per key
    now[0] += 0.5
    assert limiter.take("a") == 0.0
    assert limiter.peek("a") > 0
    assert RateLimiter(0, 1).take("a") == 0.0  # 0 = off


def test_token_cli_create_list_revoke(pg_fresh_url: str, tmp_path: Path) -> None:
    base = ["--database-url", pg_fresh_url]
    created = subprocess.run(
        [*CLI, "token", "create", "--role", "feed", "--source", "police", "--name", "PP Trier",
         *base],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert created.stdout == token + "\n"  # the token is the only output
    assert looks_like_token(token)
    listed = subprocess.run(
        [*CLI, "token", "list", *base], capture_output=True, text=True, timeout=60
    )
    assert listed.returncode == 0, listed.stderr
    assert '"role": "feed"' in listed.stdout
    assert '"sources": ["police"]' in listed.stdout
    assert token not in listed.stdout
    bad = subprocess.run(
        [*CLI, "token", "create", "--role", "feed", *base], capture_output=True, text=True
    )
    assert bad.returncode != 0
    assert "--source" in bad.stderr
    assert bad.stdout == ""
    revoked = subprocess.run(
        [*CLI, "token", "revoke", token, *base], capture_output=True, text=True, timeout=60
    )
    assert revoked.returncode == 0, revoked.stderr
    again = subprocess.run(
        [*CLI, "token", "revoke", "ffffffff", *base], capture_output=True, text=True, timeout=60
    )
    assert again.returncode != 0
    assert "no such token" in again.stderr
    assert set(ROLES) == {"viewer", "operator", "staff", "admin", "feed"}
