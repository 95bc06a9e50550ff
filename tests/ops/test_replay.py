"""``lagezentrum replay``: the batch engine over files, through the real CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from typer.testing import CliRunner

from ingest.report import encode_jsonl
from ops import commands  # noqa: F401  (registers the commands)
from ops.cli import app
from ops.replay import replay_path
from ops.scenario import generate

runner = CliRunner()


@pytest.fixture(scope="module")
def scenario_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("replay") / "scenario.jsonl"
    path.write_bytes(encode_jsonl(generate(incidents=120, seed=7).reports))
    return path


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_replay_writes_the_contract_3_picture(scenario_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "picture.json"
    code, _, err = run("replay", "--input", str(scenario_file), "--output", str(out))
    assert code == 0, err
    picture: dict[str, Any] = json.loads(out.read_bytes())
    assert set(picture) >= {"seq", "as_of", "incidents", "warnings", "districts"}
    assert len(picture["districts"]) == 36
    assert picture["incidents"], "a scenario of 120 incidents leaves live incidents"
    for incident in picture["incidents"]:
        assert incident["threads"], "every live incident has live threads"
        assert all(":" in thread for thread in incident["threads"])
    summary = err.strip().splitlines()[-1]
    assert summary.startswith("replay: ")
    assert f"{len(picture['incidents'])} incidents" in summary


def test_replay_is_byte_for_byte_deterministic(scenario_file: Path) -> None:
    first = replay_path(scenario_file).picture
    second = replay_path(scenario_file).picture
    assert first == second


def test_both_engines_write_the_same_picture(scenario_file: Path, tmp_path: Path) -> None:
    """The native engine (the default) and the Python reference, chosen with ``--engine``."""
    pictures = []
    for engine in ("native", "python"):
        out = tmp_path / f"{engine}.json"
        code, _, err = run(
            "replay", "--input", str(scenario_file), "--output", str(out), "--engine", engine
        )
        assert code == 0, err
        pictures.append(out.read_bytes())
    assert pictures[0] == pictures[1]
    assert json.loads(pictures[0])["incidents"]


def test_an_unknown_engine_is_refused(scenario_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "picture.json"
    code, _, err = run(
        "replay", "--input", str(scenario_file), "--output", str(out), "--engine", "fortran"
    )
    assert code != 0
    assert "--engine must be native or python, not 'fortran'" in err
    assert not out.exists()


def test_picture_time_defaults_to_the_latest_observation(scenario_file: Path) -> None:
    picture = json.loads(replay_path(scenario_file).picture)
    latest = max(
        json.loads(line)["observed_at"] for line in scenario_file.read_bytes().splitlines()
    )
    as_of = datetime.fromisoformat(picture["as_of"])
    # the picture states times to the second
    assert as_of == datetime.fromisoformat(latest).replace(microsecond=0)


def test_at_builds_the_picture_of_an_earlier_time(scenario_file: Path) -> None:
    reports = [json.loads(line) for line in scenario_file.read_bytes().splitlines()]
    times = sorted(datetime.fromisoformat(r["observed_at"]) for r in reports)
    middle = times[len(times) // 2]
    early = json.loads(replay_path(scenario_file, at=middle).picture)
    assert datetime.fromisoformat(early["as_of"]) == middle.replace(microsecond=0)
    known_by_then = {
        f"{r['source']}:{r['source_id']}"
        for r in reports
        if datetime.fromisoformat(r["observed_at"]) <= middle
    }
    seen = {thread for incident in early["incidents"] for thread in incident["threads"]}
    assert seen, "half-way through the scenario incidents are live"
    assert seen <= known_by_then


def test_real_cap_directory_becomes_warnings_and_bad_files_are_listed(
    shared_data: Path, tmp_path: Path
) -> None:
    inputs = tmp_path / "cap"
    inputs.mkdir()
    for alert in (shared_data / "cap" / "dwd").glob("dwd_2019_*.xml"):  # the RLP snow warnings
        shutil.copy(alert, inputs / alert.name)
    shutil.copy(shared_data / "cap" / "negative" / "xxe_attack.cap", inputs / "xxe_attack.cap")
    out = tmp_path / "picture.json"
    code, _, err = run("replay", "--input", str(inputs), "--output", str(out))
    assert code == 0, err
    assert "rejected: " in err
    assert "xxe_attack.cap" in err
    picture = json.loads(out.read_bytes())
    assert picture["incidents"] == []
    assert picture["warnings"], "the DWD warnings stay warnings"
    rlp = {d["ags"] for d in picture["districts"]}
    assert any(set(w["districts"]) & rlp for w in picture["warnings"])


def test_bad_time_exits_non_zero_with_one_line(scenario_file: Path, tmp_path: Path) -> None:
    code, _, err = run(
        "replay", "--input", str(scenario_file), "--output", str(tmp_path / "p.json"),
        "--at", "2026-11-29T10:00:00",
    )  # fmt: skip
    assert code != 0
    assert err.strip().count("\n") == 0
    assert "offset" in err


def test_missing_input_exits_non_zero(tmp_path: Path) -> None:
    code, _, err = run("replay", "--input", str(tmp_path / "nope"), "--output", "-")
    assert code != 0
    assert "no such file" in err


def test_console_script_has_help_everywhere() -> None:
    for args in (
        ["--help"],
        ["replay", "--help"],
        ["bench", "--help"],
        ["bench", "engine", "--help"],
    ):
        result = subprocess.run(
            [sys.executable, "-c", "from ops.cli import main; main()", *args],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert "Usage" in result.stdout


def test_window_excludes_reports_observed_after_at(scenario_file: Path) -> None:
    start = datetime(2000, 1, 1, tzinfo=UTC)
    picture = json.loads(replay_path(scenario_file, at=start + timedelta(hours=1)).picture)
    assert picture["incidents"] == []


def test_status_exercise_builds_the_exercise_picture_only(
    scenario_file: Path, tmp_path: Path
) -> None:
    """An exercise replay shows the exercise traffic, and the actual replay none of it."""
    actual = generate(incidents=40, seed=11).reports
    drill = [
        msgspec.structs.replace(r, status="exercise", source_id=f"drill-{r.source_id}")
        for r in generate(incidents=25, seed=12).reports
    ]
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_bytes(encode_jsonl([*actual, *drill]))
    out = tmp_path / "exercise.json"
    code, _, err = run(
        "replay", "--input", str(mixed), "--output", str(out), "--status", "exercise"
    )
    assert code == 0, err
    exercise: dict[str, Any] = json.loads(out.read_bytes())
    threads = {t for incident in exercise["incidents"] for t in incident["threads"]}
    assert threads, "the exercise reports build live incidents"
    assert all(t.split(":", 1)[1].startswith("drill-") for t in threads)
    only_drill = replay_path(mixed, status="exercise").picture
    drill_file = tmp_path / "drill.jsonl"
    drill_file.write_bytes(encode_jsonl(drill))
    assert only_drill == replay_path(drill_file, status="exercise").picture
    real = json.loads(replay_path(mixed).picture)
    real_threads = {t for incident in real["incidents"] for t in incident["threads"]}
    assert real_threads
    assert not any(t.split(":", 1)[1].startswith("drill-") for t in real_threads)
