"""``lagezentrum token``: create, revoke and list API tokens of an installation.

Works on the installation's database: ``--data-dir`` (its embedded PostgreSQL, started for the
occasion when the installation is stopped and left as it was when it runs) or ``--database-url``
(an external server). ``token create`` prints the new token as its only output, so it can go
straight into a file or a secret store; the token is never shown again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

import typer

from ingest.store import Database, StoreError
from ops.cli import app, fail
from situation_api.auth.roles import ROLES, SOURCES
from situation_api.auth.tokens import PostgresTokenStore, TokenInvalid, describe
from situation_api.settings import SettingsInvalid, load_settings

token_app = typer.Typer(help="API tokens (per agency and person).", no_args_is_help=True)
app.add_typer(token_app, name="token")


class DatabaseUnavailable(RuntimeError):
    """The installation's database cannot be reached; the message says why."""


@contextlib.asynccontextmanager
async def open_database(data_dir: Path | None, database_url: str | None) -> AsyncIterator[Database]:
    """The installation's database: ``database_url`` if given (or configured), else the embedded
    server in ``data_dir`` (initialised if new; stopped afterwards unless it was running)."""
    from ops.embedded_postgres import EmbeddedPostgres, EmbeddedPostgresError, _live_postmaster

    try:
        settings = load_settings(None, data_dir=data_dir, database_url=database_url)
    except SettingsInvalid as error:
        raise DatabaseUnavailable(str(error)) from None
    server: EmbeddedPostgres | None = None
    running = True
    url = settings.database_url
    if url is None:
        cluster = settings.data_dir / "postgres"
        running = _live_postmaster(cluster.resolve()) is not None if cluster.exists() else False
        server = EmbeddedPostgres(cluster)
        try:
            url = await asyncio.to_thread(server.start)
        except (EmbeddedPostgresError, OSError) as error:
            raise DatabaseUnavailable(f"embedded PostgreSQL did not start: {error}") from None
    try:
        try:
            db = await Database.connect(url)
        except StoreError as error:
            raise DatabaseUnavailable(str(error)) from None
        try:
            yield db
        finally:
            await db.close()
    finally:
        if server is not None and not running:
            with contextlib.suppress(EmbeddedPostgresError):
                await asyncio.to_thread(server.stop)


DataDir = Annotated[
    Path | None,
    typer.Option(help="data directory of the installation [LAGEZENTRUM_DATA_DIR or user data dir]"),
]
DatabaseUrl = Annotated[
    str | None, typer.Option(help="postgresql:// URL instead of the embedded server")
]


async def _create(
    data_dir: Path | None, url: str | None, role: str, sources: list[str], name: str
) -> tuple[str, str]:
    async with open_database(data_dir, url) as db:
        store = await PostgresTokenStore.open(db)
        info, token = await store.create(role, sources, name)
        return info.id, token


@token_app.command("create")
def create(
    role: Annotated[str, typer.Option(help=f"one of {', '.join(ROLES)}")],
    source: Annotated[
        list[str] | None,
        typer.Option(help=f"feed tokens: a source it may report as (repeat); {', '.join(SOURCES)}"),
    ] = None,
    name: Annotated[str | None, typer.Option(help="who or what holds it [the role]")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a token and print it (its only output; it is not shown again)."""
    try:
        ident, token = asyncio.run(
            _create(data_dir, database_url, role, source or [], name or role)
        )
    except (TokenInvalid, DatabaseUnavailable, StoreError) as error:
        fail(str(error))
    typer.echo(token)
    typer.echo(f"token {ident} created ({role})", err=True)


async def _revoke(data_dir: Path | None, url: str | None, which: str) -> str | None:
    async with open_database(data_dir, url) as db:
        store = await PostgresTokenStore.open(db)
        info = await store.revoke(which)
        return None if info is None else info.id


@token_app.command("revoke")
def revoke(
    token: Annotated[str, typer.Argument(help="the token's id (from `token list`) or the token")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke a token; every API instance refuses it within a few seconds."""
    try:
        ident = asyncio.run(_revoke(data_dir, database_url, token.strip()))
    except (DatabaseUnavailable, StoreError) as error:
        fail(str(error))
    if ident is None:
        fail("no such token")
    typer.echo(f"token {ident} revoked", err=True)


async def _list(data_dir: Path | None, url: str | None) -> list[dict[str, object]]:
    async with open_database(data_dir, url) as db:
        store = await PostgresTokenStore.open(db)
        return describe(await store.list())


@token_app.command("list")
def list_tokens(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """List the tokens (ids, names, roles, sources, use; never the tokens) as JSON lines."""
    try:
        rows = asyncio.run(_list(data_dir, database_url))
    except (DatabaseUnavailable, StoreError) as error:
        fail(str(error))
    for row in rows:
        typer.echo(json.dumps(row, ensure_ascii=False))
