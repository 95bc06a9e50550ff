"""API tokens: creation, hashing and the stores that keep them.

A token reads ``lz_<id>_<secret>``: ``id`` (8 hex digits) names it in listings, logs and the
journal without revealing it; ``secret`` is 32 random bytes, url-safe base64. Only the SHA-256 of
the whole token is stored, so a copy of the database grants nothing. A fast hash is right here: a
32-byte random secret cannot be guessed, so slowing down each check would only cost CPU on every
request.

Stores: :class:`MemoryTokenStore` (``memory://``, tests) and :class:`PostgresTokenStore`
(component ``auth``, ``situation_api/auth/migrations``).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Final, Protocol, Self

import asyncpg

from ingest.store.database import DATABASE_ERRORS, Database
from ingest.store.errors import StoreUnavailable
from situation_api.auth.roles import ROLES, SOURCES, Principal, Role

COMPONENT: Final = "auth"
PREFIX: Final = "lz_"
_SHAPE: Final = re.compile(r"^lz_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$")
_ID: Final = re.compile(r"^[0-9a-f]{8}$")


class TokenInvalid(ValueError):
    """A token request cannot be honoured; the message names the option and the reason."""


@dataclass(frozen=True, slots=True)
class TokenInfo:
    id: str
    name: str
    role: Role
    sources: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def principal(self) -> Principal:
        scoped = frozenset(self.sources) if self.role == "feed" else None
        return Principal(id=self.id, name=self.name, role=self.role, sources=scoped)


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def looks_like_token(text: str) -> bool:
    return bool(_SHAPE.match(text))


def new_token() -> tuple[str, str]:
    """``(id, token)``: a fresh random token and its public id."""
    ident = secrets.token_hex(4)
    return ident, f"{PREFIX}{ident}_{secrets.token_urlsafe(32)}"


def check_request(role: str, sources: Sequence[str], name: str) -> tuple[Role, tuple[str, ...]]:
    """Validate what ``token create`` was asked for; feed tokens need at least one source and
    only feed tokens take sources."""
    if role not in ROLES:
        raise TokenInvalid(f"--role must be one of {', '.join(ROLES)}, not {role!r}")
    unknown = [s for s in sources if s not in SOURCES]
    if unknown:
        raise TokenInvalid(f"--source {unknown[0]!r} is unknown; known: {', '.join(SOURCES)}")
    if role == "feed" and not sources:
        raise TokenInvalid("a feed token needs at least one --source (the agencies it reports as)")
    if role != "feed" and sources:
        raise TokenInvalid("--source applies to feed tokens only")
    if not name.strip() or len(name) > 120:
        raise TokenInvalid("--name must be 1 to 120 characters")
    return role, tuple(sorted(set(sources)))  # type: ignore[return-value]


class TokenStore(Protocol):
    async def create(self, role: str, sources: Sequence[str], name: str) -> tuple[TokenInfo, str]:
        """Store a new token; return its record and the token itself (shown once)."""
        ...

    async def revoke(self, id_or_token: str) -> TokenInfo | None:
        """Revoke by id or by the token itself; the record (None if unknown)."""
        ...

    async def lookup(self, token: str) -> TokenInfo | None:
        """The active token's record (and note its use), or None."""
        ...

    async def list(self) -> list[TokenInfo]: ...

    async def close(self) -> None: ...


def _now() -> datetime:
    return datetime.now(UTC)


class MemoryTokenStore:
    def __init__(self) -> None:
        self._by_hash: dict[bytes, TokenInfo] = {}

    async def create(self, role: str, sources: Sequence[str], name: str) -> tuple[TokenInfo, str]:
        checked_role, checked = check_request(role, sources, name)
        ident, token = new_token()
        info = TokenInfo(ident, name, checked_role, checked, _now())
        self._by_hash[token_hash(token)] = info
        return info, token

    async def revoke(self, id_or_token: str) -> TokenInfo | None:
        for key, info in self._by_hash.items():
            if _matches(info, key, id_or_token):
                if info.revoked_at is None:
                    info = self._by_hash[key] = replace(info, revoked_at=_now())
                return info
        return None

    async def lookup(self, token: str) -> TokenInfo | None:
        key = token_hash(token)
        info = self._by_hash.get(key)
        if info is None or info.revoked_at is not None:
            return None
        info = self._by_hash[key] = replace(info, last_used_at=_now())
        return info

    async def list(self) -> list[TokenInfo]:
        return sorted(self._by_hash.values(), key=lambda i: (i.created_at, i.id))

    async def close(self) -> None:
        return None


def _matches(info: TokenInfo, key: bytes, id_or_token: str) -> bool:
    if looks_like_token(id_or_token):
        return key == token_hash(id_or_token)
    return info.id == id_or_token


_COLUMNS: Final = "id, name, role, sources, created_at, revoked_at, last_used_at"


def _info(row: asyncpg.Record) -> TokenInfo:
    return TokenInfo(
        id=row["id"],
        name=row["name"],
        role=row["role"],
        sources=tuple(row["sources"]),
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
        last_used_at=row["last_used_at"],
    )


class PostgresTokenStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    @classmethod
    async def open(cls, db: Database) -> Self:
        await db.migrate("situation_api.auth", COMPONENT)
        return cls(db)

    async def create(self, role: str, sources: Sequence[str], name: str) -> tuple[TokenInfo, str]:
        checked_role, checked = check_request(role, sources, name)
        ident, token = new_token()
        row = await self._fetchrow(
            f"INSERT INTO api_tokens (id, name, role, sources, hash) VALUES ($1, $2, $3, $4, $5) "
            f"RETURNING {_COLUMNS}",
            ident, name, checked_role, list(checked), token_hash(token),
        )  # fmt: skip
        assert row is not None
        return _info(row), token

    async def revoke(self, id_or_token: str) -> TokenInfo | None:
        if looks_like_token(id_or_token):
            where, key = "hash = $1", token_hash(id_or_token)
        elif _ID.match(id_or_token):
            where, key = "id = $1", id_or_token  # type: ignore[assignment]
        else:
            return None
        row = await self._fetchrow(
            f"UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE {where} "
            f"RETURNING {_COLUMNS}",
            key,
        )
        return None if row is None else _info(row)

    async def lookup(self, token: str) -> TokenInfo | None:
        row = await self._fetchrow(
            f"UPDATE api_tokens SET last_used_at = now() WHERE hash = $1 AND revoked_at IS NULL "
            f"RETURNING {_COLUMNS}",
            token_hash(token),
        )
        return None if row is None else _info(row)

    async def list(self) -> list[TokenInfo]:
        try:
            async with self._db.pool.acquire() as conn:
                rows = await conn.fetch(
                    f"SELECT {_COLUMNS} FROM api_tokens ORDER BY created_at, id"
                )
        except DATABASE_ERRORS as error:
            raise StoreUnavailable(f"token store: {error}") from error
        return [_info(row) for row in rows]

    async def _fetchrow(self, sql: str, *args: object) -> asyncpg.Record | None:
        try:
            async with self._db.pool.acquire() as conn:
                return await conn.fetchrow(sql, *args)
        except DATABASE_ERRORS as error:
            raise StoreUnavailable(f"token store: {error}") from error

    async def close(self) -> None:
        return None


def describe(infos: Iterable[TokenInfo]) -> list[dict[str, object]]:
    """Token records as plain data (for ``token list``); never the token or its hash."""
    return [
        {
            "id": i.id,
            "name": i.name,
            "role": i.role,
            "sources": list(i.sources),
            "created_at": i.created_at.isoformat(),
            "revoked_at": i.revoked_at.isoformat() if i.revoked_at else None,
            "last_used_at": i.last_used_at.isoformat() if i.last_used_at else None,
        }
        for i in infos
    ]
