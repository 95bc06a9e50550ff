"""Rules file: the shipped defaults, loading a file, and errors that name the bad key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from correlation.engine import Engine
from correlation.errors import RulesInvalid
from correlation.rules import Rules
from ingest.districts import Districts
from tests.correlation.helpers import KOBLENZ, feed, incidents, moved, report

SHIPPED = Path(__file__).parents[2] / "correlation" / "rules.toml"


def test_defaults_are_the_contract_values(rules: Rules) -> None:
    assert rules.allowed_lateness_us == 5 * 60 * 10**6
    assert rules.close_after_us == 24 * 3600 * 10**6
    scene = rules.pairs[("fire", "medical")]
    assert (scene.radius_m, scene.window_us) == (250, 30 * 60 * 10**6)
    area = rules.pairs[("flood", "infrastructure")]
    assert (area.radius_m, area.window_us) == (2000, 3 * 3600 * 10**6)
    assert ("security", "fire") not in rules.pairs
    assert ("security", "medical") in rules.pairs
    assert ("medical", "security") in rules.pairs  # compatibility is symmetric
    assert ("flood", "fire") not in rules.pairs
    assert rules.quiet_us["fire"] == 2 * 3600 * 10**6
    assert rules.quiet_us["infrastructure"] == 12 * 3600 * 10**6
    assert {r.level for r in rules.escalation} == {1, 2, 3}


def test_load_reads_a_file(engine_type: type[Engine], tmp_path: Path, districts: Districts) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(
        SHIPPED.read_text(encoding="utf-8").replace(
            'radius_m = 250\nwindow_min = 30\nquiet_min = 120\njoins = ["fire"',
            'radius_m = 500\nwindow_min = 30\nquiet_min = 120\njoins = ["fire"',
            1,
        ),
        encoding="utf-8",
    )
    custom = Rules.load(path)
    assert custom.pairs[("fire", "fire")].radius_m == 500
    engine = engine_type(custom, districts)
    feed(
        engine,
        [
            report("fire", "a", "fire.building", 0, KOBLENZ),
            report("fire", "b", "fire.building", 1, moved(KOBLENZ, east_m=400)),
        ],
    )
    assert len(incidents(engine)) == 1


def test_pair_rule_incident_uses_the_incident_groups_values() -> None:
    text = SHIPPED.read_text(encoding="utf-8").replace(
        'pair_rule = "larger"', 'pair_rule = "incident"'
    )
    text = text.replace(
        '[groups.security]\nfamilies = ["security"]\nradius_m = 250',
        '[groups.security]\nfamilies = ["security"]\nradius_m = 100',
    )
    custom = Rules.from_toml(text)
    assert custom.pairs[("security", "medical")].radius_m == 250
    assert custom.pairs[("medical", "security")].radius_m == 100


def _broken(old: str, new: str) -> str:
    text = SHIPPED.read_text(encoding="utf-8")
    assert old in text
    return text.replace(old, new, 1)


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("version = 1", "version = 2", "version"),
        ("allowed_lateness_min = 5", "allowed_lateness_min = -1", "time.allowed_lateness_min"),
        ("allowed_lateness_min = 5", 'allowed_lateness_min = "5"', "time.allowed_lateness_min"),
        (
            "close_after_resolved_min = 1440",
            "close_after_resolved_min = 0",
            "time.close_after_resolved_min",
        ),
        ("close_after_resolved_min = 1440\n", "", "time.close_after_resolved_min"),
        ("[time]\n", "[time]\ntypo = 1\n", "time.typo"),
        ('pair_rule = "larger"', 'pair_rule = "smaller"', "clustering.pair_rule"),
        ("move_out_factor = 4.0", "move_out_factor = 0.5", "clustering.move_out_factor"),
        ("radius_m = 2000", "radius_m = -2000", "groups.area.radius_m"),
        ("window_min = 180", "window_min = true", "groups.area.window_min"),
        ('families = ["flood", "infrastructure"]', 'families = ["flood"]', "groups"),
        (
            'families = ["flood", "infrastructure"]',
            'families = ["flood", "infrastructure", "fire"]',
            "groups.scene.families",
        ),
        ('joins = ["other"]', 'joins = ["otter"]', "groups.other.joins"),
        (
            'warning_sources = ["weather", "civil_protection"]',
            'warning_sources = ["meteo"]',
            "routing.warning_sources",
        ),
        (
            'capacity_families = ["capacity"]',
            'capacity_families = ["weather"]',
            "routing.capacity_families",
        ),
        (
            'level = 3\nwhen = "metrics.dead >= 5"',
            'level = 4\nwhen = "metrics.dead >= 5"',
            "escalation[10].level",
        ),
        ('when = "incidents_open >= 5"', 'when = "open >= 5"', "escalation[3].when"),
        ('when = "incidents_open >= 5"', 'when = "incidents_open => 5"', "escalation[3].when"),
    ],
)
def test_bad_rules_name_the_key(old: str, new: str, key: str) -> None:
    with pytest.raises(RulesInvalid) as caught:
        Rules.from_toml(_broken(old, new))
    assert caught.value.key == key
    assert caught.value.reason
    assert str(caught.value).startswith(f"rules: {key}: ")


def test_not_toml_is_rejected() -> None:
    with pytest.raises(RulesInvalid, match=re.escape("rules: $: not valid TOML")):
        Rules.from_toml("version = = 1")


def test_rules_invalid_is_a_value_error_for_command_line_front_ends(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(ValueError, match="not UTF-8"):
        Rules.load(path)
