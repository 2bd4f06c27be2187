"""The evidence chain and `ops-server evidence verify`: every governed action's record is hashed over its canonical
JSON, chained and signed; verify holds on an intact chain and names an edited, a deleted and a re-hashed row."""

import asyncio
import contextlib
import hashlib
import itertools
import json
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from live_support import add_requests, live

from server.cli import main
from server.keys import SETTINGS
from server.storage.evidence import canonical, chain_hash, row_of


async def _processed(client: TestClient, count: int) -> Path:
    """`count` entries processed through the worker; returns the database file."""
    await add_requests(client.app, count)
    for _ in range(count):
        await live(client.app).agents.worker.process_once()
    return client.app[SETTINGS].database_path


async def _verify(capsys: pytest.CaptureFixture[str], data_dir: Path) -> tuple[int, str]:
    code = await asyncio.to_thread(main, ["evidence", "verify", "--data-dir", str(data_dir)])
    out, err = capsys.readouterr()
    return code, out + err


def _sql(path: Path, statement: str, params: tuple[object, ...] = ()) -> list[sqlite3.Row]:
    """One statement on the file directly, as someone with file access could."""
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.row_factory = sqlite3.Row
        return conn.execute(statement, params).fetchall()


async def test_each_record_hashes_its_canonical_json_chained_to_the_one_before(client: TestClient) -> None:
    database = await _processed(client, 3)
    rows = [row_of(r) for r in _sql(database, "SELECT * FROM agent_evidence ORDER BY evidence_id")]
    assert rows[0].prev_hash == "0" * 64
    for before, row in itertools.pairwise(rows):
        assert row.prev_hash == before.hash
    text = canonical(rows[1])
    assert json.loads(text)["evidence_id"] == 2 and "hash" not in json.loads(text)
    assert rows[1].hash == hashlib.sha256(f"{rows[0].hash}\n{text}".encode()).hexdigest()


async def test_verify_holds_on_an_intact_chain(client: TestClient, capsys: pytest.CaptureFixture[str]) -> None:
    database = await _processed(client, 3)
    code, out = await _verify(capsys, database.parent)
    assert code == 0, out
    assert "evidence chain holds: 3 records verified, 3 signed checkpoints" in out


async def test_verify_names_an_edited_row(client: TestClient, capsys: pytest.CaptureFixture[str]) -> None:
    database = await _processed(client, 3)
    _sql(database, "UPDATE agent_evidence SET outcome = 'denied', decision = 'DENY' WHERE evidence_id = 2")
    code, out = await _verify(capsys, database.parent)
    assert code == 1
    assert "broken at evidence 2: contents do not match the row's hash" in out


async def test_verify_names_a_deleted_row(client: TestClient, capsys: pytest.CaptureFixture[str]) -> None:
    database = await _processed(client, 3)
    _sql(database, "DELETE FROM agent_evidence WHERE evidence_id = 2")
    code, out = await _verify(capsys, database.parent)
    assert code == 1
    assert "broken at evidence 2: evidence 2 is missing" in out


async def test_verify_names_the_newest_row_deleted(client: TestClient, capsys: pytest.CaptureFixture[str]) -> None:
    database = await _processed(client, 3)
    _sql(database, "DELETE FROM agent_evidence WHERE evidence_id = 3")
    code, out = await _verify(capsys, database.parent)
    assert code == 1
    assert "evidence 3 to 3 is missing" in out


async def test_verify_names_a_rehashed_row_and_a_rechained_history(
    client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    database = await _processed(client, 3)
    # Edit row 2 and recompute its hash and every later one: the chain is whole again, but not the signed one.
    rows = [row_of(r) for r in _sql(database, "SELECT * FROM agent_evidence ORDER BY evidence_id")]
    prev = rows[0].hash
    for row in rows[1:]:
        edited = replace(row, decision="DENY") if row.evidence_id == 2 else row
        new_hash = chain_hash(prev, canonical(edited))
        _sql(
            database,
            "UPDATE agent_evidence SET decision = ?, prev_hash = ?, hash = ? WHERE evidence_id = ?",
            (edited.decision, prev, new_hash, row.evidence_id),
        )
        prev = new_hash
    code, out = await _verify(capsys, database.parent)
    assert code == 1
    assert "broken at evidence 2: the row's hash is not the one checkpoint 2 signed: history was rewritten" in out


async def test_verify_names_rows_and_checkpoints_deleted_together(
    client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    database = await _processed(client, 3)
    _sql(database, "DELETE FROM agent_evidence WHERE evidence_id = 3")
    _sql(database, "DELETE FROM agent_evidence_checkpoints WHERE evidence_id = 3")
    code, out = await _verify(capsys, database.parent)
    assert code == 1
    assert "is in evidence-head.json but not in the database" in out


async def test_verify_of_a_missing_database_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = await _verify(capsys, tmp_path / "nowhere")
    assert code == 2
    assert "no database" in out
