"""``lagezentrum report``: a situation report (Lagebericht) for a time window and a region.

Three sources, one result: ``--input`` replays files in-process (no server), ``--data-dir``
reads the history of an installation's embedded PostgreSQL (started for the occasion when the
installation is stopped, used as it is when it runs), ``--url`` asks a running API for the
same export. In every case one frozen snapshot at T feeds the chosen format.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import socket
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Final

import httpx
import typer

from correlation import Change, Picture, Rules, RulesInvalid
from correlation.engines import engine_type
from ingest.report import Report, Status
from ops.cli import app, fail
from ops.inputs import log_order, observed_until, read_inputs
from ops.timeparse import parse_time
from situation_api.reports import FORMATS, ReportInvalid, ReportOptions, build_report, render
from situation_api.reports.model import window

EXPORT_PATH: Final = "/api/v1/exports/situation-report"


def replay_window(
    reports: Sequence[Report],
    *,
    at: datetime,
    rules: Rules | None = None,
    status: Status = "actual",
) -> tuple[Picture, list[Change]]:
    """Run the engine over the reports observed up to ``at`` (as ``lagezentrum replay`` does)
    and keep every change: ``(picture of the fresh engine, changes)``."""
    engine = engine_type()(rules, status=status)
    initial = engine.picture()
    changes: list[Change] = []
    ordered = [r for r in log_order(list(reports)) if r.status == status]
    for report in observed_until(ordered, at):
        changes.extend(engine.process(report))
    changes.extend(engine.advance(at))
    return initial, changes


def default_author() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "lagezentrum"
    return f"{user}@{socket.gethostname()}"


async def _from_data_dir(
    data_dir: Path, rules: Rules | None, start: datetime, at: datetime
) -> tuple[Picture, list[Change]]:
    from ingest.store import Database
    from ops.embedded_postgres import EmbeddedPostgres, EmbeddedPostgresError, _live_postmaster
    from situation_api.history import PostgresHistoryStore
    from situation_api.reports.source import history_window

    cluster = data_dir / "postgres"
    if not (cluster / "PG_VERSION").exists():
        raise ReportInvalid("data-dir", f"no Lagezentrum database in {data_dir}")
    running = _live_postmaster(cluster.resolve()) is not None
    server = EmbeddedPostgres(cluster)
    try:
        url = await asyncio.to_thread(server.start)
    except (EmbeddedPostgresError, OSError) as error:
        raise ReportInvalid("data-dir", f"embedded PostgreSQL did not start: {error}") from None
    try:
        db = await Database.connect(url)
        try:
            history = await PostgresHistoryStore.open(db)
            try:
                return await history_window(history, engine_type()(rules).picture(), start, at)
            finally:
                await history.close()
        finally:
            await db.close()
    finally:
        if not running:  # leave a running installation's server alone
            with contextlib.suppress(EmbeddedPostgresError):
                await asyncio.to_thread(server.stop)


def _from_url(
    url: str, params: Sequence[tuple[str, str]], timeout: float, token: str | None = None
) -> bytes:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.get(
            url.rstrip("/") + EXPORT_PATH, params=tuple(params), timeout=timeout, headers=headers
        )
    except httpx.HTTPError as error:
        raise ReportInvalid("url", f"{url}: {error}") from None
    if response.status_code != 200:
        detail = response.text[:300].replace("\n", " ")
        with contextlib.suppress(ValueError, AttributeError):
            detail = str(response.json().get("detail", detail))
        raise ReportInvalid("url", f"{url} answered {response.status_code}: {detail}")
    return response.content


@app.command()
def report(
    format: Annotated[
        str, typer.Option("--format", "-f", help="pdf, html, geojson, csv, sitrep or cap.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="File to write ('-' for stdout).")],
    at: Annotated[
        str | None, typer.Option(help="Report time T (RFC 3339); window = 24 h before.")
    ] = None,
    from_: Annotated[str | None, typer.Option("--from", help="Window start (RFC 3339).")] = None,
    to: Annotated[str | None, typer.Option(help="Window end = report time (RFC 3339).")] = None,
    district: Annotated[
        list[str] | None, typer.Option(help="AGS of a district (repeatable); default: all.")
    ] = None,
    lang: Annotated[str, typer.Option(help="de or en.")] = "de",
    input: Annotated[
        Path | None,
        typer.Option("--input", "-i", help="Replay this file or directory (no server)."),
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Data directory of an installation (running or stopped).")
    ] = None,
    url: Annotated[
        str | None, typer.Option(help="Base URL of a running API, e.g. http://127.0.0.1:8000.")
    ] = None,
    classification: Annotated[
        str | None, typer.Option(help="Marking on every page [OFFEN / UNCLASSIFIED].")
    ] = None,
    prepared_by: Annotated[
        str | None, typer.Option(help="Author shown in the report [user@host].")
    ] = None,
    rules: Annotated[
        Path | None, typer.Option(help="Correlation rules TOML (--input, --data-dir).")
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for --url.")] = 120.0,
    token: Annotated[
        str | None,
        typer.Option(envvar="LAGEZENTRUM_TOKEN", help="API token (role staff) for --url."),
    ] = None,
) -> None:
    """Write a situation report (Lagebericht) for a time window and region.

    The picture is that at T (--to or --at, default: the latest event time of --input, else
    now); the window starts at --from (default: 24 h before T)."""
    sources = [s for s in (input, data_dir, url) if s is not None]
    if len(sources) != 1:
        fail("give exactly one of --input, --data-dir or --url")
    if format not in FORMATS:
        fail(f"--format must be one of {', '.join(FORMATS)}, not {format!r}")
    if lang not in ("de", "en"):
        fail(f"--lang must be de or en, not {lang!r}")
    try:
        times = {
            k: parse_time(v) if v else None for k, v in (("at", at), ("from", from_), ("to", to))
        }
        author = prepared_by or default_author()
        if url is not None:
            params: list[tuple[str, str]] = [
                ("format", format),
                ("lang", lang),
                ("prepared_by", author),
            ]
            given = (("at", at), ("from", from_), ("to", to), ("classification", classification))
            params += [(k, v) for k, v in given if v is not None]
            params += [("district", d) for d in district or ()]
            body = _from_url(url, params, timeout, token)
        else:
            loaded = Rules.load(rules) if rules else None
            if input is not None:
                inputs = read_inputs(input)
                latest = max((r.observed_at for r in inputs.reports), default=None)
                start, moment = window(
                    times["at"], times["from"], times["to"], now=latest or datetime.now(UTC)
                )
                base, changes = replay_window(inputs.reports, at=moment, rules=loaded)
            else:
                assert data_dir is not None
                start, moment = window(
                    times["at"], times["from"], times["to"], now=datetime.now(UTC)
                )
                base, changes = asyncio.run(_from_data_dir(data_dir, loaded, start, moment))
            snapshot = build_report(
                base,
                changes,
                ReportOptions(
                    at=moment,
                    start=start,
                    districts=tuple(district or ()),
                    lang="en" if lang == "en" else "de",
                    classification=classification,
                    prepared_by=author,
                    generated_at=datetime.now(UTC).replace(microsecond=0),
                ),
            )
            body = render(snapshot, format)
    except (OSError, ValueError, RulesInvalid) as error:
        fail(str(error))
    if str(out) == "-":
        typer.get_binary_stream("stdout").write(body)
    else:
        out.write_bytes(body)
        typer.echo(f"report: {format} written to {out} ({len(body)} bytes)", err=True)
