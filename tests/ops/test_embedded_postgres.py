"""The embedded PostgreSQL server: first start, restart, kill -9 (of the server and of its
owner), root handling, and the settings durability rests on."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from ops.embedded_postgres import (
    SECRET_FILE,
    SYSTEM_USER,
    EmbeddedPostgres,
    EmbeddedPostgresError,
)
from tests.conftest import REPO


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cluster initialised once (initdb is the slow part) and copied for each test."""
    server = EmbeddedPostgres(tmp_path_factory.mktemp("template") / "cluster")
    server.start()
    server.stop()
    return server.data_dir


@pytest.fixture
def server(template: Path, tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    target = tmp_path / "cluster"
    shutil.copytree(template, target, symlinks=True)  # owned by us now; start() fixes that
    embedded = EmbeddedPostgres(target, settings={"shared_buffers": "16MB"})
    yield embedded
    embedded.stop(immediate=True)


def test_first_start_initialises_a_private_cluster(tmp_path: Path) -> None:
    server = EmbeddedPostgres(tmp_path / "new" / "pg")
    url = server.start()
    try:
        assert url.startswith("postgresql://lagezentrum:")
        assert url.endswith(f"@127.0.0.1:{server.port}/lagezentrum")
        data = server.data_dir
        assert (data / "PG_VERSION").read_text().strip() == "18"
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        assert stat.S_IMODE((data / SECRET_FILE).stat().st_mode) == 0o600
        assert not [p for p in data.parent.iterdir() if p.name.startswith(".")]  # no staging
        if os.geteuid() == 0:
            import pwd

            # PostgreSQL refuses root: the cluster belongs to the dedicated system user
            assert pwd.getpwuid(data.stat().st_uid).pw_name == SYSTEM_USER
    finally:
        server.stop()
    assert not (server.data_dir / "postmaster.pid").exists()


async def test_settings_and_password(server: EmbeddedPostgres) -> None:
    url = server.start()
    conn = await asyncpg.connect(url)
    settings = {
        name: await conn.fetchval(f"SHOW {name}")
        for name in ("fsync", "synchronous_commit", "full_page_writes", "listen_addresses",
                     "shared_buffers", "unix_socket_directories", "server_version_num")
    }  # fmt: skip
    assert settings["fsync"] == settings["synchronous_commit"] == "on"
    assert settings["full_page_writes"] == "on"
    assert settings["listen_addresses"] == "127.0.0.1"
    assert settings["shared_buffers"] == "16MB"
    assert settings["unix_socket_directories"] == ""
    if os.geteuid() == 0:
        assert await conn.fetchval("SELECT current_setting('data_directory')") == str(
            server.data_dir
        )
    await conn.close()
    wrong = url.replace(url.split(":")[2].split("@")[0], "not-the-password")
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(wrong)


async def test_restart_keeps_data_and_password(server: EmbeddedPostgres) -> None:
    first = server.start()
    conn = await asyncpg.connect(first)
    await conn.execute("CREATE TABLE kept (x int); INSERT INTO kept VALUES (7)")
    await conn.close()
    server.stop()
    second = server.start()
    assert first.split("@")[0] == second.split("@")[0]  # same user and password
    conn = await asyncpg.connect(second)
    assert await conn.fetchval("SELECT x FROM kept") == 7
    await conn.close()


async def test_kill_9_of_the_server_loses_no_committed_row(server: EmbeddedPostgres) -> None:
    conn = await asyncpg.connect(server.start())
    await conn.execute("CREATE TABLE acked (n int)")
    for n in range(50):
        await conn.execute("INSERT INTO acked VALUES ($1)", n)  # each commit acknowledged
    server.kill()
    assert (server.data_dir / "postmaster.pid").exists()  # stale: the next start copes
    conn = await asyncpg.connect(server.start())  # crash recovery replays the WAL
    assert await conn.fetchval("SELECT count(*) FROM acked") == 50
    await conn.close()


async def test_server_of_a_killed_owner_is_adopted_and_stopped(server: EmbeddedPostgres) -> None:
    code = (
        "import sys, time; from pathlib import Path; from ops.embedded_postgres import "
        "EmbeddedPostgres as E; e = E(Path(sys.argv[1])); print(e.start(), flush=True); "
        "time.sleep(600)"
    )
    owner = subprocess.Popen(
        [sys.executable, "-c", code, str(server.data_dir)], cwd=REPO, stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert owner.stdout is not None
    orphan_url = owner.stdout.readline().strip()
    owner.send_signal(signal.SIGKILL)
    owner.wait()
    url = server.start()  # the postmaster outlived its owner: adopt it, same port
    assert url == orphan_url
    conn = await asyncpg.connect(url)
    assert await conn.fetchval("SELECT 1") == 1
    await conn.close()
    server.stop()
    assert not (server.data_dir / "postmaster.pid").exists()


async def test_the_databases_files_are_paced_while_the_server_runs(
    server: EmbeddedPostgres,
) -> None:
    server.writeback_interval = 0.2
    url = server.start()
    pacer = server._pacer
    assert pacer is not None
    assert pacer.running
    connection = await asyncpg.connect(url)
    try:
        oid = await connection.fetchval("SELECT oid FROM pg_database WHERE datname = 'lagezentrum'")
        assert pacer.directories == (server.data_dir / "base" / str(oid),)
        await connection.execute("CREATE TABLE paced AS SELECT generate_series(1, 50000) AS n")
        await connection.execute("CHECKPOINT")  # the table's pages reach its files now
    finally:
        await connection.close()
    for _ in range(50):
        if pacer.flushed:
            break
        await asyncio.sleep(0.1)
    assert pacer.flushed > 0
    server.stop()
    assert server._pacer is None
    assert not pacer.running


def test_a_foreign_non_empty_directory_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "notes"
    target.mkdir()
    (target / "important.txt").write_text("not a database")
    with pytest.raises(EmbeddedPostgresError, match="not empty and holds no PostgreSQL cluster"):
        EmbeddedPostgres(target).start()
    assert (target / "important.txt").read_text() == "not a database"


def test_url_before_start_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(EmbeddedPostgresError, match="not running"):
        _ = EmbeddedPostgres(tmp_path / "pg").url
