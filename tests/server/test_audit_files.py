"""The data dir and the files in it are the server's user's alone: the dir is made 0700; the database, its WAL
and shared-memory files, the audit key and the audit head file are 0600, whatever the umask."""

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from server.storage.database import Database


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def permissive_umask():
    previous = os.umask(0o022)  # the usual default: new files 0644, new dirs 0755
    yield
    os.umask(previous)


async def test_a_new_data_dir_and_every_file_the_server_keeps_in_it_are_private(
    permissive_umask, make_settings, start_app, tmp_path
):
    settings = make_settings(data_dir=tmp_path / "fresh" / "ops", api_token=None)
    client = await start_app(settings)
    await client.get("/ops/status")  # an audit entry: the WAL and shared-memory files are in use
    data_dir = settings.data_dir
    files = {path.name: _mode(path) for path in data_dir.iterdir()}
    await client.close()

    assert _mode(data_dir) == 0o700
    assert {"ops.sqlite3", "ops.sqlite3-wal", "ops.sqlite3-shm", "audit-key", "admin-token"} <= set(files)
    assert "audit-head.json" in {path.name for path in data_dir.iterdir()}  # written as the server stopped
    files["audit-head.json"] = _mode(data_dir / "audit-head.json")
    assert {name: mode for name, mode in files.items() if mode != 0o600} == {}


async def test_database_files_an_earlier_version_left_readable_are_made_private(permissive_umask, tmp_path):
    path = tmp_path / "ops.db"
    sqlite3.connect(path).close()
    path.chmod(0o644)

    database = Database(path)
    await database.open()
    await database.close()

    assert _mode(path) == 0o600
