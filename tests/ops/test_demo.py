"""``lagezentrum demo``: the scenario script (deterministic, real DWD CAP re-timed onto RLP) and
the real command, run at high speed until the picture fills."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from ingest.formats.cap import parse_cap
from ingest.geometry import to_shapely
from ingest.report import Report
from ops.demo_scenario import AFFECTED, build_script, render_cap

REPO = Path(__file__).resolve().parents[2]


def test_script_is_deterministic_for_a_seed_and_run() -> None:
    first = build_script(4, incidents=120, run="same")
    second = build_script(4, incidents=120, run="same")
    assert first == second
    other = build_script(5, incidents=120, run="same")
    assert other.posts != first.posts
    times = [post.at for post in first.posts]
    assert times == sorted(times)
    counts = first.counts()
    assert counts["warnings"] == 4
    assert counts["reports"] > 200  # several agencies, updates, cancels, capacity


def test_incidents_are_multi_agency_in_the_affected_districts() -> None:
    script = build_script(2, incidents=200, run="t")
    reports = [p.report for p in script.posts if p.report is not None]
    scene = [r for r in reports if not r["category"].startswith("capacity")]
    assert {r["source"] for r in scene} == {"police", "fire", "health"}
    assert {r["msg_type"] for r in scene} == {"alert", "update", "cancel"}
    from ingest.districts import rlp_districts

    districts = rlp_districts()
    placed = {districts.at(*r["geometry"]["coordinates"]) for r in scene}
    assert placed <= set(AFFECTED) | {None}
    assert len(placed & set(AFFECTED)) >= 8
    # hospital capacity falls over the scenario in every affected district
    capacity: dict[str, list[int]] = {}
    for r in reports:
        if r["category"] == "capacity.hospital":
            capacity.setdefault(r["area_codes"][0], []).append(r["metrics"]["icu_beds_free"])
    assert set(capacity) == set(AFFECTED)
    assert all(values[-1] < values[0] for values in capacity.values())


def test_dwd_warnings_are_current_and_over_rlp() -> None:
    script = build_script(1, incidents=0, run="cap")
    now = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)
    sent: dict[str, datetime] = {}
    parsed: list[Report] = []
    for post in script.posts:
        if post.cap is None:
            continue
        body = render_cap(post.cap, now, sent)
        sent[post.cap.identifier] = now
        result = parse_cap(body)
        assert not result.rejected
        (report,) = result.reports
        parsed.append(report)
        assert report.observed_at == now
        assert report.expires_at is not None
        assert report.expires_at > now
        assert report.agency == "Deutscher Wetterdienst"
        assert report.geometry is not None
        minx, miny, maxx, maxy = to_shapely(report.geometry).bounds
        assert 6.0 < minx < maxx < 8.6
        assert 48.9 < miny < maxy < 51.0
        assert set(report.area_codes) <= set(AFFECTED)
        now += timedelta(minutes=30)
    wind, rain, rain_update, wind_update = parsed
    assert wind.category == "weather.windboeen"
    assert rain.category == "weather.starkregen"
    # the updates continue the threads of the alerts (CAP <references>), raised and widened
    assert rain_update.msg_type == "update"
    assert rain_update.source_id == rain.source_id
    assert rain_update.severity == "severe"
    assert len(rain_update.area_codes) > len(rain.area_codes)
    assert wind_update.source_id == wind.source_id
    assert wind.headline == "Amtliche WARNUNG vor WINDBÖEN"  # DWD's own wording
    # every run has new identifiers, so a second demo on the same database starts new threads
    again = next(p.cap for p in build_script(1, incidents=0).posts if p.cap is not None)
    assert again is not None
    first_cap = script.posts[0].cap
    assert first_cap is not None
    assert again.identifier != first_cap.identifier


@pytest.mark.timeout(120)
def test_demo_command_fills_the_picture(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "lagezentrum"),
            "demo",
            "--port",
            "0",
            "--speed",
            "3000",
            "--seed",
            "3",
            "--incidents",
            "150",
            "--data-dir",
            str(tmp_path / "demo"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"open (http://\S+?)/#token=(lz_\S+) in a browser", line)
        if match is None:
            process.wait(30)
            reason = process.stderr.read() if process.stderr else ""
            pytest.fail(f"demo did not start: {line!r} {reason}")
        url, token = match.group(1), match.group(2)
        deadline = time.monotonic() + 60
        picture: dict[str, Any] = {}
        with httpx.Client(base_url=url, timeout=10) as http:
            assert http.get("/").status_code == 200
            assert http.get("/api/v1/situation").status_code == 401  # access control is on
            http.headers["Authorization"] = f"Bearer {token}"
            while time.monotonic() < deadline:
                picture = http.get("/api/v1/situation").json()
                if len(picture["incidents"]) >= 40 and len(picture["warnings"]) == 2:
                    break
                time.sleep(0.5)
            districts = http.get("/api/v1/districts").json()["districts"]
        assert len(picture["incidents"]) >= 40
        headlines = {w["headline"] for w in picture["warnings"]}
        assert any("STARKREGEN" in h for h in headlines)
        assert any("WINDBÖEN" in h for h in headlines)
        agencies = {a for i in picture["incidents"] for a in i["agencies"]}
        assert any(a.startswith("PP ") for a in agencies)
        assert any(a.startswith("ILS ") for a in agencies)
        assert any(d["level"] >= 1 for d in districts)
        assert sum(d["icu_beds_free"] is not None for d in districts) >= 8
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(60)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 0, process.stderr.read() if process.stderr else ""
