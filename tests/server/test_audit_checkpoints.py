"""Signed checkpoints make the audit log tamper-evident beyond its hash chain: a rewritten history, deleted newest
entries (and deleted newest checkpoints) are named by verify, and pruning keeps the rest verifiable."""

import asyncio
import contextlib
import sqlite3
from pathlib import Path

import pytest

from server.keys import AUDIT
from server.settings import Settings
from server.storage.audit import canonical_entry, chain_hash, row_record
from server.storage.audit_checkpoints import head_file_for, read_head_file
from server.storage.audit_keys import AuditKey, load_audit_key
from server.storage.audit_verify import Verification, verify_file


def _verify(settings: Settings, key: AuditKey | None = None) -> Verification:
    key = key or load_audit_key(None, settings.data_dir, create=False)
    return verify_file(settings.database_path, key, head_file_for(settings.database_path))


def _sql(settings: Settings, *statements: str) -> None:
    with contextlib.closing(sqlite3.connect(settings.database_path)) as conn, conn:
        for statement in statements:
            conn.execute(statement)


def _rows(settings: Settings, table: str) -> list[sqlite3.Row]:
    with contextlib.closing(sqlite3.connect(settings.database_path)) as conn:
        conn.row_factory = sqlite3.Row
        return list(conn.execute(f"SELECT * FROM {table} ORDER BY rowid"))


def _rewrite_history(settings: Settings, entry_id: int, outcome: str) -> None:
    """Edit an entry and recompute its hash and every later one, as someone with the database but not the key
    could: the hash chain alone holds afterwards."""
    with contextlib.closing(sqlite3.connect(settings.database_path)) as conn, conn:
        conn.row_factory = sqlite3.Row
        conn.execute("UPDATE audit_log SET outcome = ? WHERE entry_id = ?", (outcome, entry_id))
        prev_hash = conn.execute("SELECT prev_hash FROM audit_log WHERE entry_id = ?", (entry_id,)).fetchone()[0]
        for row in list(conn.execute("SELECT * FROM audit_log WHERE entry_id >= ? ORDER BY entry_id", (entry_id,))):
            digest = chain_hash(prev_hash, canonical_entry(row["entry_id"], row_record(row), at=row["at"]))
            conn.execute(
                "UPDATE audit_log SET prev_hash = ?, hash = ? WHERE entry_id = ?", (prev_hash, digest, row["entry_id"])
            )
            prev_hash = digest


async def _history_then_stop(ops) -> None:
    """Reads and a command, then the server stops (its last entries signed on the way out)."""
    await ops.get("/ops/status")
    await ops.run("restart", "mt5_bridge")
    await ops.get("/ops/status")
    await ops.get("/ops/whoami")
    await ops.client.close()


async def test_an_untouched_log_verifies_with_its_signed_checkpoints(ops, settings):
    await _history_then_stop(ops)

    result = _verify(settings)

    assert result.broken is None
    assert result.checked == 6
    assert result.checkpoints >= 1 and result.signatures_checked
    assert result.unsigned == 0


async def test_a_rewritten_history_with_every_later_hash_recomputed_is_named(ops, settings):
    await _history_then_stop(ops)
    _rewrite_history(settings, 2, "refused")

    result = _verify(settings)

    assert result.broken is not None
    assert "rewritten" in result.broken.reason
    assert result.broken.entry_id >= 2


async def test_the_newest_entries_deleted_after_a_restart_are_named(ops, settings):
    await _history_then_stop(ops)
    _sql(settings, "DELETE FROM audit_log WHERE entry_id > 4")

    result = _verify(settings)

    assert result.broken is not None
    assert result.broken.entry_id == 5
    assert "entries 5 to 6 are missing" in result.broken.reason


async def test_the_newest_entries_and_checkpoints_deleted_together_are_named_by_the_head_file(ops, settings):
    await _history_then_stop(ops)
    head = read_head_file(head_file_for(settings.database_path))
    assert head is not None and head.entry_id == 6
    _sql(
        settings,
        "DELETE FROM audit_log WHERE entry_id > 4",
        "DELETE FROM audit_checkpoints WHERE entry_id > 4",
    )

    result = _verify(settings)

    assert result.broken is not None
    assert "not in the database" in result.broken.reason
    assert "entries up to 6" in result.broken.reason


async def test_a_forged_checkpoint_is_named(ops, settings):
    await _history_then_stop(ops)
    _rewrite_history(settings, 2, "refused")
    head_hash = _rows(settings, "audit_log")[-1]["hash"]
    _sql(settings, f"UPDATE audit_checkpoints SET entry_hash = '{head_hash}'")

    result = _verify(settings)

    assert result.broken is not None
    assert "signature does not match" in result.broken.reason


async def test_a_checkpoint_removed_from_the_middle_is_named(ops, settings):
    for component in ("mt5_bridge", "connector", "orchestrator"):
        await ops.run("restart", component)
        await ops.app[AUDIT].checkpoint()
    await ops.client.close()
    checkpoints = _rows(settings, "audit_checkpoints")
    assert len(checkpoints) >= 3
    _sql(settings, f"DELETE FROM audit_checkpoints WHERE checkpoint_id = {checkpoints[1]['checkpoint_id']}")

    result = _verify(settings)

    assert result.broken is not None
    assert "is missing" in result.broken.reason


async def test_verifying_with_another_key_says_the_checkpoints_were_signed_with_another(ops, settings):
    await _history_then_stop(ops)

    result = _verify(settings, AuditKey(b"not the key"))

    assert result.broken is not None
    assert "another key" in result.broken.reason


async def test_a_command_is_signed_as_soon_as_it_is_committed(ops, settings):
    await ops.get("/ops/status")
    await ops.run("restart", "mt5_bridge")

    # Signed right after the command's entry is answered (the interval is 10 s, and nothing else is written).
    for _ in range(100):
        signed = [row["entry_id"] for row in _rows(settings, "audit_checkpoints")]
        if signed and signed[-1] == 4:
            break
        await asyncio.sleep(0.02)

    assert signed[-1] == len(_rows(settings, "audit_log")) == 4  # read, request, execute, confirm


async def test_a_server_restarted_on_a_truncated_log_keeps_the_evidence(ops_with, settings):
    ops = await ops_with()
    await _history_then_stop(ops)
    head_file = head_file_for(settings.database_path)
    evidence = head_file.read_text()
    _sql(settings, "DELETE FROM audit_log WHERE entry_id > 4", "DELETE FROM audit_checkpoints WHERE entry_id > 4")

    restarted = await ops_with()
    await restarted.run("restart", "connector")  # signs a new checkpoint onto the truncated log
    await restarted.client.close()

    assert head_file.read_text() == evidence
    result = _verify(settings)
    assert result.broken is not None
    assert "not in the database" in result.broken.reason


async def test_verify_takes_the_key_from_ops_audit_key_when_set(make_settings, start_app, monkeypatch):
    settings = make_settings(data_dir=Path(make_settings().data_dir) / "env-key", audit_key="from-the-environment")
    client = await start_app(settings)
    await client.get("/ops/status", headers={"Authorization": "Bearer admin-secret"})
    await client.close()

    assert not (settings.data_dir / "audit-key").exists()
    assert _verify(settings, AuditKey(b"from-the-environment")).broken is None
    assert "another key" in (_verify(settings, AuditKey(b"other")).broken or pytest.fail()).reason


async def test_a_head_file_gone_missing_is_reported_by_verify_and_logged_when_written_anew(ops_with, settings, caplog):
    ops = await ops_with()
    await _history_then_stop(ops)
    head_file_for(settings.database_path).unlink()

    result = _verify(settings)
    assert result.broken is not None
    assert "audit-head.json" in result.broken.reason and "missing" in result.broken.reason

    restarted = await ops_with()
    await restarted.run("restart", "connector")
    await restarted.client.close()
    assert "was missing although checkpoints exist" in caplog.text
