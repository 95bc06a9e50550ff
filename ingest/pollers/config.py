"""The feed configuration: a TOML file with one ``[[feed]]`` table per polled feed.

```toml
[defaults]                      # optional; any feed key except name, kind and url
interval_seconds = 300

[[feed]]
name = "dwd-warnings"           # unique; the key of the feed's health record
kind = "dwd_zip"                # cap | atom | nina | dwd_zip
url = "https://opendata.dwd.de/weather/alerts/cap/COMMUNEUNION_DWD_STAT/Z_CAP_C_EDZW_LATEST_PVW_STATUS_PREMIUMDWD_COMMUNEUNION_MUL.zip"
source = "weather"              # optional: overrides the agency kind the parser derives
interval_seconds = 120
timeout_seconds = 30
max_bytes = 50_000_000
```

Every rule violation raises :class:`PollerConfigInvalid` naming the key (``feed[1].url``), so an
operator can fix the file from the message alone. Unknown keys are errors: a misspelt
``intervall_seconds`` must not silently fall back to the default.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Final, Literal, TypeAlias, get_args
from urllib.parse import urlsplit

from ingest.pollers.errors import PollerConfigInvalid
from ingest.report import SOURCES, Source

FeedKind: TypeAlias = Literal["cap", "atom", "nina", "dwd_zip"]
FEED_KINDS: Final[tuple[str, ...]] = get_args(FeedKind)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")


@dataclass(frozen=True, slots=True)
class FeedConfig:
    """One polled feed. Limits default to values that fit the real DWD and NINA feeds."""

    name: str
    kind: FeedKind
    url: str
    # Overrides the agency kind the parser derives (CAP <category>, DWD sender, NINA provider).
    source: Source | None = None
    # nina: the ARS an api31 dashboard was requested for (dashboard items carry no geometry).
    ars: str | None = None
    interval_seconds: float = 300.0
    timeout_seconds: float = 30.0
    max_bytes: int = 50_000_000
    backoff_initial_seconds: float = 5.0
    backoff_max_seconds: float = 900.0
    # Atom/RSS: at most this many entries are fetched in one poll (the rest next time).
    max_entries: int = 500
    # dwd_zip: limits against zip bombs.
    max_zip_entries: int = 20_000
    max_unzipped_bytes: int = 1_000_000_000
    max_entry_bytes: int = 20_000_000
    user_agent: str = "lagezentrum-poller/0.1"


@dataclass(frozen=True, slots=True)
class PollerConfig:
    feeds: tuple[FeedConfig, ...]

    def feed(self, name: str) -> FeedConfig:
        for feed in self.feeds:
            if feed.name == name:
                return feed
        raise KeyError(name)


_FIELDS: Final = {f.name: f for f in fields(FeedConfig)}
_REQUIRED: Final = ("name", "kind", "url")
_INTS: Final = {k for k, f in _FIELDS.items() if f.type == "int"}
# Upper bounds keep a typo (an extra zero) from turning into a day-long interval or a huge buffer.
_MAX_FLOAT: Final = 7 * 24 * 3600.0
_MIN_INTERVAL: Final = 1.0


def _number(key: str, value: Any, *, integer: bool) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PollerConfigInvalid(key, f"must be a number, got {type(value).__name__}")
    if integer and not isinstance(value, int):
        raise PollerConfigInvalid(key, f"must be an integer, got {value!r}")
    if value <= 0:
        raise PollerConfigInvalid(key, f"must be positive, got {value!r}")
    if not integer and value > _MAX_FLOAT:
        raise PollerConfigInvalid(key, f"must be at most {_MAX_FLOAT:.0f} seconds, got {value!r}")
    return value if integer else float(value)


def _string(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PollerConfigInvalid(key, "must be a non-empty string")
    return value


def _url(key: str, value: Any) -> str:
    text = _string(key, value)
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise PollerConfigInvalid(key, f"must be an absolute http(s) URL, got {text!r}")
    return text


def _feed(index: int, table: Mapping[str, Any], defaults: Mapping[str, Any]) -> FeedConfig:
    where = f"feed[{index}]"
    merged = {**defaults, **table}
    for key in merged:
        if key not in _FIELDS:
            origin = where if key in table else "defaults"
            known = ", ".join(_FIELDS)
            raise PollerConfigInvalid(f"{origin}.{key}", f"unknown key; known: {known}")
    for key in _REQUIRED:
        if key not in table:
            raise PollerConfigInvalid(f"{where}.{key}", "is required")
    values: dict[str, Any] = {}
    for key, value in merged.items():
        path = f"{where}.{key}"
        if key == "name":
            name = _string(path, value)
            if not _NAME.match(name):
                raise PollerConfigInvalid(path, "letters, digits and _.:- only, at most 128")
            values[key] = name
        elif key == "kind":
            if value not in FEED_KINDS:
                raise PollerConfigInvalid(path, f"must be one of {', '.join(FEED_KINDS)}")
            values[key] = value
        elif key == "url":
            values[key] = _url(path, value)
        elif key == "source":
            if value not in SOURCES:
                raise PollerConfigInvalid(path, f"must be one of {', '.join(SOURCES)}")
            values[key] = value
        elif key == "ars":
            ars = _string(path, value)
            if not (ars.isascii() and ars.isdigit() and 2 <= len(ars) <= 12):
                raise PollerConfigInvalid(path, "must be 2 to 12 digits (an ARS)")
            values[key] = ars
        elif key == "user_agent":
            values[key] = _string(path, value)
        else:
            values[key] = _number(path, value, integer=key in _INTS)
    if values.get("interval_seconds", _MIN_INTERVAL) < _MIN_INTERVAL:
        raise PollerConfigInvalid(f"{where}.interval_seconds", "must be at least 1 second")
    config = FeedConfig(**values)
    if config.backoff_initial_seconds > config.backoff_max_seconds:
        raise PollerConfigInvalid(
            f"{where}.backoff_initial_seconds", "must not exceed backoff_max_seconds"
        )
    return config


def parse_config(document: Mapping[str, Any]) -> PollerConfig:
    """Validate an already-decoded TOML document."""
    for key in document:
        if key not in ("feed", "defaults"):
            raise PollerConfigInvalid(key, "unknown top-level key; expected [[feed]] or [defaults]")
    defaults = document.get("defaults", {})
    if not isinstance(defaults, Mapping):
        raise PollerConfigInvalid("defaults", "must be a table")
    for key in ("name", "kind", "url"):
        if key in defaults:
            raise PollerConfigInvalid(f"defaults.{key}", "must be set per feed")
    tables = document.get("feed", [])
    if not isinstance(tables, list) or not all(isinstance(t, Mapping) for t in tables):
        raise PollerConfigInvalid("feed", "must be an array of tables ([[feed]])")
    feeds = tuple(_feed(i, table, defaults) for i, table in enumerate(tables))
    seen: set[str] = set()
    for i, feed in enumerate(feeds):
        if feed.name in seen:
            raise PollerConfigInvalid(f"feed[{i}].name", f"duplicate feed name {feed.name!r}")
        seen.add(feed.name)
    return PollerConfig(feeds)


def loads_config(text: str) -> PollerConfig:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise PollerConfigInvalid("$", f"not valid TOML: {error}") from None
    return parse_config(document)


def load_config(path: Path) -> PollerConfig:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise PollerConfigInvalid("$", f"cannot read {path}: {error}") from None
    return loads_config(text)
