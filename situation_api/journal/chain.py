"""The hash chain of the journal (pure): canonical encoding, hashing and verification.

Each entry's ``hash`` is the SHA-256 (hex) of the canonical JSON array
``[seq, at, actor, action, subject, payload, prev_hash]``: ``at`` as RFC 3339 UTC with
microseconds, ``payload`` with sorted keys and no insignificant whitespace (so the JSON the
database hands back, whatever its key order, encodes the same), ``prev_hash`` the previous
entry's hash (64 zeros for the first). Changing, removing or reordering any entry breaks the link
at that entry or the next one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import msgspec

GENESIS: Final = "0" * 64


class JournalEntry(msgspec.Struct, frozen=True, kw_only=True):
    seq: int
    at: datetime
    actor: str
    action: str
    subject: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str

    def to_builtins(self) -> dict[str, Any]:
        out: dict[str, Any] = msgspec.to_builtins(self)
        out["at"] = stamp(self.at)
        return out


def stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(
    seq: int, at: datetime, actor: str, action: str, subject: str, payload: Any, prev_hash: str
) -> bytes:
    return msgspec.json.encode(
        [seq, stamp(at), actor, action, subject, payload, prev_hash], order="sorted"
    )


def entry_hash(
    seq: int, at: datetime, actor: str, action: str, subject: str, payload: Any, prev_hash: str
) -> str:
    return hashlib.sha256(
        canonical(seq, at, actor, action, subject, payload, prev_hash)
    ).hexdigest()


def seal(
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    subject: str,
    payload: dict[str, Any],
    prev_hash: str,
) -> JournalEntry:
    """The entry after ``prev_hash``, hashed. ``at`` is cut to microseconds (what PostgreSQL
    keeps) and the payload normalised to plain JSON values first."""
    at = at.astimezone(UTC)
    plain = msgspec.json.decode(msgspec.json.encode(payload, order="sorted"))
    digest = entry_hash(seq, at, actor, action, subject, plain, prev_hash)
    return JournalEntry(
        seq=seq,
        at=at,
        actor=actor,
        action=action,
        subject=subject,
        payload=plain,
        prev_hash=prev_hash,
        hash=digest,
    )


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of :func:`verify`: ``broken_at`` is the seq of the first bad entry."""

    entries: int
    broken_at: int | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.broken_at is None


def verify(entries: Iterable[JournalEntry]) -> Verdict:
    """Recompute the chain in seq order; stop at the first entry whose hash, link or position
    does not fit."""
    prev = GENESIS
    expected = 1
    count = 0
    for entry in entries:
        count += 1
        if entry.seq != expected:
            return Verdict(count, entry.seq, f"entry {expected} missing (found {entry.seq} next)")
        if entry.prev_hash != prev:
            return Verdict(count, entry.seq, "prev_hash does not match the previous entry's hash")
        digest = entry_hash(
            entry.seq, entry.at, entry.actor, entry.action, entry.subject, entry.payload, prev
        )
        if digest != entry.hash:
            return Verdict(count, entry.seq, "content does not match its hash (altered)")
        prev = entry.hash
        expected += 1
    return Verdict(count)
