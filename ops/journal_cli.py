"""``lagezentrum journal``: check and show the hash-chained journal of an installation.

``journal verify`` recomputes every link of the chain and names the first broken one (exit 1);
``journal show`` prints the entries as JSON lines. Both work on ``--data-dir`` (the embedded
PostgreSQL, started for the occasion if the installation is stopped) or ``--database-url``.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import typer

from ingest.store import StoreError
from ops.cli import app, fail
from ops.token_cli import DatabaseUnavailable, DatabaseUrl, DataDir, open_database
from situation_api.journal import JournalEntry, PostgresJournal, Verdict, entries, verify

journal_app = typer.Typer(help="The journal of operator actions and level changes.")
app.add_typer(journal_app, name="journal")


async def _read(data_dir: Path | None, url: str | None) -> list[JournalEntry]:
    async with open_database(data_dir, url) as db:
        store = await PostgresJournal.open(db)
        return [entry async for entry in entries(store)]


def _load(data_dir: Path | None, url: str | None) -> list[JournalEntry]:
    try:
        return asyncio.run(_read(data_dir, url))
    except (DatabaseUnavailable, StoreError) as error:
        fail(str(error))


@journal_app.command("verify")
def verify_command(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Recompute the hash chain; exit 1 naming the first entry that was altered, removed or
    reordered. Prints the head hash: keep it elsewhere to also detect a cut-off tail."""
    found = _load(data_dir, database_url)
    verdict: Verdict = verify(found)
    if not verdict.ok:
        fail(f"journal broken at entry {verdict.broken_at}: {verdict.reason}")
    head = found[-1].hash if found else "-"
    typer.echo(f"journal intact: {verdict.entries} entries, head {head}")


@journal_app.command("show")
def show(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Print every entry as one JSON object per line."""
    for entry in _load(data_dir, database_url):
        typer.echo(json.dumps(entry.to_builtins(), ensure_ascii=False))
