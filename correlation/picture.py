"""The live picture (contract 3) and its canonical JSON.

A :class:`Picture` is a map of entity views. The engine builds one from its state
(``Engine.picture()``); a consumer of the change stream builds the same one by applying changes
in ``seq`` order to the picture of a fresh engine (the districts start at level 0 and are
therefore listed before any change): every change carries its entity's full view, or None when
the entity left the live picture. ``as_of`` follows the latest change time; the engine's own
picture shows its clock, which advance() can move without any change — a consumer that needs it
exactly calls :meth:`Picture.advance` with ``Engine.as_of``.

Views are shared, read-only dicts: never mutate one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

import msgspec

from correlation.changes import Change
from correlation.clock import rfc3339, to_us

_canonical: Final = msgspec.json.Encoder(order="sorted")
_ENTITIES: Final = ("incident", "warning", "district", "capacity")


class Picture:
    __slots__ = ("as_of", "capacity", "districts", "incidents", "seq", "warnings")

    def __init__(
        self,
        *,
        seq: int = 0,
        as_of: str | None = None,
        incidents: Mapping[str, dict[str, Any]] | None = None,
        warnings: Mapping[str, dict[str, Any]] | None = None,
        districts: Mapping[str, dict[str, Any]] | None = None,
        capacity: Mapping[str, dict[str, Any]] | None = None,
    ) -> None:
        self.seq = seq
        self.as_of = as_of
        self.incidents: dict[str, dict[str, Any]] = dict(incidents or {})
        self.warnings: dict[str, dict[str, Any]] = dict(warnings or {})
        self.districts: dict[str, dict[str, Any]] = dict(districts or {})
        self.capacity: dict[str, dict[str, Any]] = dict(capacity or {})

    def _table(self, entity: str) -> dict[str, dict[str, Any]]:
        if entity == "incident":
            return self.incidents
        if entity == "warning":
            return self.warnings
        if entity == "district":
            return self.districts
        return self.capacity

    def apply(self, change: Change) -> bool:
        """Apply one change; False (and nothing changes) if its seq is not newer than ours, so
        overlapping deltas after a reconnect are harmless."""
        if change.seq <= self.seq:
            return False
        table = self._table(change.entity)
        if change.view is None:
            table.pop(change.id, None)
        else:
            table[change.id] = change.view
        self.seq = change.seq
        self.advance(rfc3339(to_us(change.at)))
        return True

    def apply_all(self, changes: Iterable[Change]) -> None:
        for change in changes:
            self.apply(change)

    def advance(self, as_of: str | None) -> None:
        """Move ``as_of`` forward (RFC 3339 UTC strings of one width sort like instants)."""
        if as_of is not None and (self.as_of is None or as_of > self.as_of):
            self.as_of = as_of

    def copy(self) -> Picture:
        return Picture(
            seq=self.seq,
            as_of=self.as_of,
            incidents=self.incidents,
            warnings=self.warnings,
            districts=self.districts,
            capacity=self.capacity,
        )

    def to_builtins(self) -> dict[str, Any]:
        """The contract-3 document: lists in their documented order."""
        return {
            "seq": self.seq,
            "as_of": self.as_of,
            "incidents": sorted(self.incidents.values(), key=lambda v: (v["first_seen"], v["id"])),
            "warnings": sorted(self.warnings.values(), key=lambda v: (v["onset"], v["id"])),
            "districts": [self.districts[k] for k in sorted(self.districts)],
            "capacity": [self.capacity[k] for k in sorted(self.capacity)],
        }

    @classmethod
    def from_builtins(cls, data: Mapping[str, Any]) -> Picture:
        """The picture of a contract-3 document (e.g. a snapshot sent to a websocket client)."""
        return cls(
            seq=int(data["seq"]),
            as_of=data.get("as_of"),
            incidents={v["id"]: v for v in data.get("incidents", ())},
            warnings={v["id"]: v for v in data.get("warnings", ())},
            districts={v["ags"]: v for v in data.get("districts", ())},
            capacity={v["id"]: v for v in data.get("capacity", ())},
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Picture) and picture_json(self) == picture_json(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"Picture(seq={self.seq}, as_of={self.as_of!r}, incidents={len(self.incidents)}, "
            f"warnings={len(self.warnings)}, districts={len(self.districts)})"
        )


def picture_json(picture: Picture) -> bytes:
    """Canonical JSON: object keys sorted at every level, lists in contract order, no spaces;
    identical state gives identical bytes."""
    return _canonical.encode(picture.to_builtins())
