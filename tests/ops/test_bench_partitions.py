"""``lagezentrum bench partitions``: the partitioned engines against the embedded one."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from ops.bench_partitions import compare
from ops.cli import app


def test_partitioned_engines_find_the_embedded_incidents_of_a_scenario() -> None:
    result = compare(incidents=150, partitions=3, seed=3, hours=12)
    assert result["live_incidents_embedded"] > 20
    assert sum(result["reports_per_partition"]) >= result["reports"]  # broadcasts count per copy
    assert all(count > 0 for count in result["reports_per_partition"])
    # no scene of this seed straddles a border between districts on different partitions, so
    # nothing may differ: a difference here is a routing or engine-state bug
    assert result["equal"] == result["live_incidents_embedded"]
    assert result["embedded_only"] == result["partitioned_only"] == 0


def test_the_command_prints_one_json_object() -> None:
    done = CliRunner().invoke(
        app, ["bench", "partitions", "--incidents", "40", "--partitions", "2", "--hours", "6"]
    )
    assert done.exit_code == 0, done.output
    printed = json.loads(done.output)
    assert printed["bench"] == "partitions"
    assert printed["partitions"] == 2
