"""``lagezentrum bench engine``: both engines over one scenario, through the real CLI."""

from __future__ import annotations

import msgspec
from typer.testing import CliRunner

from ops import commands  # noqa: F401  (registers the commands)
from ops.cli import app


def test_bench_engine_measures_both_engines_on_the_same_scenario() -> None:
    result = CliRunner().invoke(app, ["bench", "engine", "--reports", "3000", "--passes", "2"])
    assert result.exit_code == 0, result.output
    data = msgspec.json.decode(result.stdout_bytes)
    assert data["benchmark"] == "engine"
    assert data["engine"] == "native"
    assert data["reports"] == 3000
    # the same scenario gives the same number of changes in both engines
    assert data["changes"] == data["python_changes"] > 3000
    # ... and every way of decoding it (process_line, decode_report first, Change objects)
    assert data["changes_by_mode"] == [data["changes"]] * 4
    assert data["decode_engine_by"] == "process_line"
    # the fastest of the passes is reported, every pass beside it
    assert data["passes"] == 2
    passes = data["decode_engine_passes_reports_per_s"]
    assert len(passes) == 2
    assert data["decode_engine_reports_per_s"] == max(passes)
    for key in (
        "engine_reports_per_s",
        "decode_engine_reports_per_s",
        "decode_report_then_engine_reports_per_s",
        "decode_engine_change_objects_reports_per_s",
        "python_engine_reports_per_s",
        "python_decode_engine_reports_per_s",
    ):
        assert data[key] > 0, key
    assert data["peak_rss_mb_decode_engine"] > data["rss_mb_before_engine_lines_loaded"]
