"""Settings precedence: options > LAGEZENTRUM_* environment > TOML file > defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from situation_api.settings import SettingsInvalid, load_settings


def test_precedence_and_validation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "lz.toml"
    config.write_text('port = 9001\nsnapshot_interval = 5\nhost = "0.0.0.0"\n')
    monkeypatch.setenv("LAGEZENTRUM_PORT", "9002")
    from_file = load_settings(config)
    assert from_file.snapshot_interval == 5.0  # file over default
    assert from_file.port == 9002  # environment over file
    assert from_file.host == "0.0.0.0"
    assert load_settings(config, port=9003, host=None).port == 9003  # option over environment
    assert load_settings(None).snapshot_interval == 60.0

    monkeypatch.setenv("LAGEZENTRUM_PORT", "99999")
    with pytest.raises(SettingsInvalid, match="port"):
        load_settings(None)
    monkeypatch.delenv("LAGEZENTRUM_PORT")
    with pytest.raises(SettingsInvalid, match="not found"):
        load_settings(tmp_path / "missing.toml")
    config.write_text("heartbeat_seconds = 0\n")
    with pytest.raises(SettingsInvalid, match="heartbeat_seconds"):
        load_settings(config)


def test_the_engine_is_native_unless_the_python_reference_is_asked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert load_settings(None).engine == "native"
    monkeypatch.setenv("LAGEZENTRUM_ENGINE", "python")
    assert load_settings(None).engine == "python"
    config = tmp_path / "lz.toml"
    config.write_text('engine = "cobol"\n')
    monkeypatch.delenv("LAGEZENTRUM_ENGINE")
    with pytest.raises(SettingsInvalid, match="engine"):
        load_settings(config)
