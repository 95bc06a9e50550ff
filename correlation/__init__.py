"""Correlation: the pure, deterministic engine that turns reports into the live picture.

``Engine`` (engine.py) is the façade of the Python reference; ``native/`` holds its port to Rust
(``NativeEngine``, the default; engines.py chooses by name); ``Rules`` (rules.py, defaults in
rules.toml) holds every threshold; ``Picture``/``picture_json`` (picture.py) the contract-3
picture; changes.py the events; state.py the snapshot. The package imports no asyncio, Kafka,
database or web code.
"""

from correlation.changes import Change, decode_change, encode_change
from correlation.engine import Engine
from correlation.errors import CorrelationError, RulesInvalid, SnapshotInvalid, UnknownIncident
from correlation.picture import Picture, picture_json
from correlation.rules import Rules

__all__ = [
    "Change",
    "CorrelationError",
    "Engine",
    "Picture",
    "Rules",
    "RulesInvalid",
    "SnapshotInvalid",
    "UnknownIncident",
    "decode_change",
    "encode_change",
    "picture_json",
]
