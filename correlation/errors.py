"""Exceptions of the correlation package.

One root, :class:`CorrelationError`. ``RulesInvalid`` also derives from ``ValueError`` so that
command-line front ends that report bad input (``OSError``/``ValueError``) catch it unchanged.
"""

from __future__ import annotations


class CorrelationError(Exception):
    """Root of every error the correlation package raises on purpose."""


class RulesInvalid(CorrelationError, ValueError):
    """The rules file is unusable. ``key`` is the dotted TOML key at fault, e.g.
    ``groups.scene.radius_m``."""

    def __init__(self, key: str, reason: str) -> None:
        self.key = key
        self.reason = reason
        super().__init__(f"rules: {key}: {reason}")


class UnknownIncident(CorrelationError, KeyError):
    """An operator action named an incident that is not in the live picture."""

    def __init__(self, incident_id: str) -> None:
        self.incident_id = incident_id
        super().__init__(f"no live incident {incident_id!r}")

    def __str__(self) -> str:  # KeyError would quote the whole message again
        return f"no live incident {self.incident_id!r}"


class ActionInvalid(CorrelationError, ValueError):
    """An operator action cannot apply to the current state (e.g. splitting an incident's only
    thread); the message says why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class SnapshotInvalid(CorrelationError, ValueError):
    """Bytes handed to :meth:`Engine.restore` are not an engine snapshot of this version."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"snapshot: {reason}")
