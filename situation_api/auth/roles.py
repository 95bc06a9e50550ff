"""Roles and the authenticated caller.

Roles form a ladder for watching and acting: ``viewer`` ⊂ ``operator`` ⊂ ``staff`` ⊂ ``admin``
(an operator may do everything a viewer may, staff everything an operator may, and so on).
``feed`` stands apart: it may only submit reports, and only for its own sources; it cannot even
watch the map. ``admin`` may also submit, for any source.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, TypeAlias, get_args

Role: TypeAlias = Literal["viewer", "operator", "staff", "admin", "feed"]
ROLES: Final[tuple[str, ...]] = get_args(Role)
LADDER: Final = ("viewer", "operator", "staff", "admin")
SOURCES: Final = ("police", "fire", "health", "weather", "civil_protection", "other")


def grants(role: str, needed: str) -> bool:
    """Whether a token of ``role`` may do what needs ``needed``."""
    if needed == "feed":
        return role in ("feed", "admin")
    if role not in LADDER or needed not in LADDER:
        return False
    return LADDER.index(role) >= LADDER.index(needed)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who makes a request: a token (``id``, ``name``) with its role; ``sources`` None = any
    source (admin, or authentication switched off)."""

    id: str
    name: str
    role: Role
    sources: frozenset[str] | None = None

    def may(self, needed: str) -> bool:
        return grants(self.role, needed)

    def may_submit(self, source: str) -> bool:
        return self.may("feed") and (self.sources is None or source in self.sources)

    @property
    def actor(self) -> str:
        """How the journal names this caller."""
        return f"{self.name} ({self.role}, token {self.id})"


ANONYMOUS: Final = Principal(id="-", name="auth-off", role="admin")
"""The caller when authentication is switched off (``auth = false``: tests, local tools)."""
