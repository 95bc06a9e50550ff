"""The TOML feed configuration: valid files load, every mistake names its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.pollers.config import FeedConfig, load_config, loads_config
from ingest.pollers.errors import PollerConfigInvalid

VALID = """
[defaults]
interval_seconds = 120
timeout_seconds = 20

[[feed]]
name = "dwd-warnings"
kind = "dwd_zip"
url = "https://opendata.dwd.de/weather/alerts/cap/COMMUNEUNION_DWD_STAT/Z_CAP_C_EDZW_LATEST_PVW_STATUS_PREMIUMDWD_COMMUNEUNION_MUL.zip"
source = "weather"
max_bytes = 80_000_000

[[feed]]
name = "nina-mowas"
kind = "nina"
url = "https://warnung.bund.de/bbk.mowas/gefahrendurchsagen.json"
interval_seconds = 60

[[feed]]
name = "nina-dashboard-mainz"
kind = "nina"
url = "https://warnung.bund.de/api31/dashboard/073150000000.json"
ars = "073150000000"
"""


def test_valid_config_applies_defaults_and_per_feed_values(tmp_path: Path) -> None:
    path = tmp_path / "feeds.toml"
    path.write_text(VALID, encoding="utf-8")
    config = load_config(path)
    assert [f.name for f in config.feeds] == ["dwd-warnings", "nina-mowas", "nina-dashboard-mainz"]
    dwd = config.feed("dwd-warnings")
    assert dwd.kind == "dwd_zip"
    assert dwd.source == "weather"
    assert dwd.interval_seconds == 120.0  # from [defaults]
    assert dwd.timeout_seconds == 20.0
    assert dwd.max_bytes == 80_000_000
    assert config.feed("nina-mowas").interval_seconds == 60.0  # feed beats defaults
    assert config.feed("nina-mowas").source is None  # parser derives it
    assert config.feed("nina-dashboard-mainz").ars == "073150000000"
    default = FeedConfig(name="x", kind="cap", url="https://x.org/")
    assert config.feed("nina-mowas").max_zip_entries == default.max_zip_entries


FEED = 'name = "f"\nkind = "cap"\nurl = "https://example.org/a.xml"\n'


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        (f"[[feed]]\n{FEED}intervall_seconds = 5\n", "feed[0].intervall_seconds", "unknown key"),
        ('[[feed]]\nname = "f"\nkind = "cap"\n', "feed[0].url", "is required"),
        ('[[feed]]\nname = "f"\nurl = "https://x.org/"\n', "feed[0].kind", "is required"),
        (f"[[feed]]\n{FEED}".replace('"cap"', '"rss2"'), "feed[0].kind", "must be one of"),
        (f"[[feed]]\n{FEED}".replace("https://", "ftp://"), "feed[0].url", "http(s) URL"),
        (f"[[feed]]\n{FEED}".replace("https://example.org", ""), "feed[0].url", "http(s)"),
        (f"[[feed]]\n{FEED}interval_seconds = -5\n", "feed[0].interval_seconds", "positive"),
        (f"[[feed]]\n{FEED}interval_seconds = 0.5\n", "feed[0].interval_seconds", "at least 1"),
        (f'[[feed]]\n{FEED}timeout_seconds = "30"\n', "feed[0].timeout_seconds", "number"),
        (f"[[feed]]\n{FEED}max_bytes = 1.5\n", "feed[0].max_bytes", "integer"),
        (f"[[feed]]\n{FEED}max_bytes = true\n", "feed[0].max_bytes", "number"),
        (f'[[feed]]\n{FEED}source = "army"\n', "feed[0].source", "must be one of"),
        (f'[[feed]]\n{FEED}ars = "07x"\n', "feed[0].ars", "ARS"),
        (f"[[feed]]\n{FEED}[[feed]]\n{FEED}", "feed[1].name", "duplicate feed name"),
        (f"[[feed]]\n{FEED}".replace('"f"', '"a b"'), "feed[0].name", "letters"),
        (
            f"[[feed]]\n{FEED}backoff_initial_seconds = 100\nbackoff_max_seconds = 10\n",
            "feed[0].backoff_initial_seconds",
            "must not exceed",
        ),
        (f"[defaults]\nbogus = 1\n[[feed]]\n{FEED}", "defaults.bogus", "unknown key"),
        (f'[defaults]\nurl = "https://x.org"\n[[feed]]\n{FEED}', "defaults.url", "per feed"),
        (f"[feeds]\n{FEED}", "feeds", "unknown top-level key"),
        ('feed = "x"\n', "feed", "array of tables"),
        ("[[feed]\n", "$", "not valid TOML"),
    ],
)
def test_invalid_config_names_the_key(text: str, key: str, reason: str) -> None:
    with pytest.raises(PollerConfigInvalid) as caught:
        loads_config(text)
    assert caught.value.key == key
    assert reason in caught.value.reason
    assert str(caught.value).startswith(f"{key}: ")


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(PollerConfigInvalid, match="cannot read"):
        load_config(tmp_path / "missing.toml")


def test_empty_config_has_no_feeds() -> None:
    assert loads_config("").feeds == ()
