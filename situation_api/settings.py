"""Configuration of the API process, read once at the edge (CLI or test) and passed down.

Precedence, highest first: explicit values (command-line options) → ``LAGEZENTRUM_*`` environment
variables → the TOML file given with ``--config`` → defaults. Unknown keys in the file are an
error: a misspelt ``snapshot_interval`` must not silently fall back to the default.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import platformdirs
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from correlation.engines import DEFAULT_ENGINE, EngineKind


def default_data_dir() -> Path:
    # PostgreSQL never runs as root, so as root the embedded server runs as a system user that
    # must reach the data: a service directory, not one inside /root.
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return Path("/var/lib/lagezentrum")
    return platformdirs.user_data_path("lagezentrum", appauthor=False)


class SettingsInvalid(ValueError):
    """The configuration cannot be used; the message names the setting and the reason."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LAGEZENTRUM_", extra="forbid", frozen=True, validate_default=True
    )

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8000
    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str | None = Field(
        default=None, description="postgresql:// URL; None starts the embedded server"
    )
    bus: str | None = Field(
        default=None,
        description="kafka://host:port[,host:port]: the distributed mode (reports and the "
        "picture travel over Apache Kafka); none = the embedded mode",
    )
    rules_file: Path | None = Field(default=None, description="correlation rules (TOML)")
    engine: EngineKind = Field(
        default=DEFAULT_ENGINE,
        description="correlation engine: native (Rust, the default) or python (the reference); "
        "both give the same picture and snapshots",
    )
    feeds_config: Path | None = Field(default=None, description="feed pollers (TOML)")
    snapshot_interval: Annotated[float, Field(gt=0)] = Field(
        default=60.0, description="seconds between engine snapshots (when there were changes)"
    )
    snapshot_changes: Annotated[int, Field(ge=1)] = Field(
        default=100_000,
        description="changes after which a snapshot is taken at the latest (a snapshot pauses "
        "the stream while it encodes the state: ~0.2 s at 2,000 open incidents)",
    )
    heartbeat_seconds: Annotated[float, Field(gt=0)] = 15.0
    tick_seconds: Annotated[float, Field(gt=0)] = Field(
        default=1.0, description="how often the engine clock advances with no new reports"
    )
    max_body_bytes: Annotated[int, Field(ge=1024)] = 16 * 1024 * 1024
    stream_queue: Annotated[int, Field(ge=4)] = Field(
        default=256, description="messages a websocket client may lag before it is resynced"
    )
    stream_buffer_kib: Annotated[int, Field(ge=16)] = Field(
        default=4096,
        description="KiB of stream data a websocket client may leave unread before it is resynced",
    )
    stream_ring: Annotated[int, Field(ge=16)] = Field(
        default=20_000, description="recent changes kept in memory for reconnecting clients"
    )
    stream_flush_ms: Annotated[float, Field(ge=0)] = Field(
        default=20.0, description="changes arriving within this window go out as one delta"
    )
    tile_url: str | None = Field(
        default=None,
        description="basemap tile URL template for the display, e.g. the state's tile service "
        "(https://…/{z}/{x}/{y}.png); none = the bundled district outlines only",
    )
    tile_attribution: str | None = Field(default=None, description="attribution of the tiles")
    log_level: str = "info"
    # Situation reports (situation_api/reports): scheduled exports and their defaults.
    report_interval: Annotated[float, Field(ge=0)] = Field(
        default=0.0,
        description="seconds between scheduled situation reports (0 = none; 14400 = every 4 h)",
    )
    report_window: Annotated[float, Field(gt=0)] = Field(
        default=86_400.0, description="seconds of history a scheduled report covers"
    )
    report_formats: tuple[str, ...] = Field(
        default=("pdf", "html", "geojson", "csv", "sitrep", "cap"),
        description="formats a scheduled report is written in",
    )
    report_lang: Literal["de", "en"] = "de"
    report_classification: str | None = Field(
        default=None, description="marking of reports [OFFEN / UNCLASSIFIED]"
    )
    report_prepared_by: str = Field(default="Lagezentrum", description="author shown in reports")
    export_dir: Path | None = Field(
        default=None, description="where scheduled reports are written [<data_dir>/exports]"
    )

    # Access control and HTTP hardening (situation_api/auth).
    auth: bool = Field(
        default=True,
        description="require API tokens (false only for tests and tools on a closed machine)",
    )
    rate_limit: Annotated[float, Field(ge=0)] = Field(
        default=50.0, description="requests per second each token may make on average (0 = off)"
    )
    rate_burst: Annotated[int, Field(ge=1)] = Field(
        default=200, description="requests a token may make at once before the rate applies"
    )
    max_request_bytes: Annotated[int, Field(ge=1024)] = Field(
        default=1024 * 1024, description="body limit of every request except report submission"
    )
    cors_origins: tuple[str, ...] = Field(
        default=(),
        description="other web origins allowed to call the API from a browser (exact "
        "scheme://host[:port]; none by default, never *)",
    )

    @field_validator("cors_origins")
    @classmethod
    def _exact_origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for origin in value:
            if not re.fullmatch(r"https?://[A-Za-z0-9.\-\[\]:]+", origin) or "*" in origin:
                raise ValueError(f"{origin!r} is not an exact origin like https://host:port")
        return value

    @field_validator("report_formats")
    @classmethod
    def _known_formats(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from situation_api.reports import FORMATS

        unknown = [name for name in value if name not in FORMATS]
        if unknown:
            raise ValueError(f"unknown format {unknown[0]!r}; known: {', '.join(FORMATS)}")
        return value

    @property
    def exports_path(self) -> Path:
        return self.export_dir if self.export_dir is not None else self.data_dir / "exports"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings)


def load_settings(config: Path | None = None, **overrides: Any) -> Settings:
    """Settings from ``overrides`` (``None`` values ignored), the environment and ``config``."""
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        if config is None:
            return Settings(**given)
        if not config.is_file():
            raise SettingsInvalid(f"config file {config} not found")
        toml = config

        class FromFile(Settings):
            @classmethod
            def settings_customise_sources(
                cls,
                settings_cls: type[BaseSettings],
                init_settings: PydanticBaseSettingsSource,
                env_settings: PydanticBaseSettingsSource,
                dotenv_settings: PydanticBaseSettingsSource,
                file_secret_settings: PydanticBaseSettingsSource,
            ) -> tuple[PydanticBaseSettingsSource, ...]:
                return (
                    init_settings,
                    env_settings,
                    TomlConfigSettingsSource(settings_cls, toml_file=toml),
                )

        return Settings.model_validate(FromFile(**given).model_dump())
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "settings"
        raise SettingsInvalid(f"{where}: {first['msg']}") from None
    except (SettingsError, ValueError, OSError) as error:
        if isinstance(error, SettingsInvalid):
            raise
        raise SettingsInvalid(f"config {config}: {error}") from None
