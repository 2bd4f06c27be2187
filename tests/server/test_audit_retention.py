"""Retention: `ops-server audit prune --before DATE` and OPS_AUDIT_RETENTION_DAYS delete old audit entries and
leave the rest verifiable from a signed checkpoint at the cut; housekeeping purges expired confirmations within
minutes."""

import asyncio
import contextlib
import sqlite3
from datetime import timedelta

from server.cli import main
from server.keys import AUDIT, CLOCK, DB, SETTINGS
from server.services import housekeeping as housekeeping_module
from server.services.housekeeping import Housekeeping
from server.settings import Settings
from server.storage.audit_checkpoints import head_file_for, prune
from server.storage.audit_keys import load_audit_key
from server.storage.audit_verify import verify_file
from server.storage.confirmations import ConfirmationRepository


def _request_ids(settings: Settings) -> list[str]:
    with contextlib.closing(sqlite3.connect(settings.database_path)) as conn:
        return [row[0] for row in conn.execute("SELECT request_id FROM audit_log ORDER BY entry_id")]


def _confirmations(settings: Settings) -> int:
    with contextlib.closing(sqlite3.connect(settings.database_path)) as conn:
        return conn.execute("SELECT count(*) FROM confirmations").fetchone()[0]


def _verifies(settings: Settings) -> bool:
    key = load_audit_key(None, settings.data_dir, create=False)
    result = verify_file(settings.database_path, key, head_file_for(settings.database_path))
    assert result.broken is None, result.broken
    return True


async def _days_of_reads(ops, clock, days: int) -> None:
    """Two reads a day, at 09:00 and 10:00 of each day from 2026-01-01."""
    for day in range(days):
        for hour in (0, 1):
            await ops.get("/ops/status", headers={"X-Request-ID": f"day{day + 1}-{hour}"})
            clock.advance(3600)
        clock.advance(86400 - 7200)


async def test_prune_before_a_date_deletes_older_entries_and_the_rest_still_verify(ops, clock, settings, capsys):
    await _days_of_reads(ops, clock, 3)
    await ops.client.close()

    code = await asyncio.to_thread(
        main, ["audit", "prune", "--before", "2026-01-02", "--data-dir", str(settings.data_dir)]
    )

    assert code == 0
    assert "pruned 2 audit entries" in capsys.readouterr().out
    assert _request_ids(settings) == ["day2-0", "day2-1", "day3-0", "day3-1"]
    assert _verifies(settings)
    assert await asyncio.to_thread(main, ["audit", "verify", "--data-dir", str(settings.data_dir)]) == 0


async def test_pruning_keeps_the_newest_entry_to_carry_the_chain_on(ops, clock, settings, ops_with):
    await _days_of_reads(ops, clock, 2)
    await ops.client.close()

    code = await asyncio.to_thread(
        main, ["audit", "prune", "--before", "2030-01-01", "--data-dir", str(settings.data_dir)]
    )

    assert code == 0
    assert _request_ids(settings) == ["day2-1"]
    restarted = await ops_with()
    await restarted.get("/ops/status", headers={"X-Request-ID": "after-prune"})
    await restarted.client.close()
    assert _request_ids(settings) == ["day2-1", "after-prune"]
    assert _verifies(settings)


async def test_entries_deleted_before_the_signed_cut_without_a_prune_are_named(ops, clock, settings):
    await _days_of_reads(ops, clock, 3)
    await ops.client.close()
    await asyncio.to_thread(main, ["audit", "prune", "--before", "2026-01-02", "--data-dir", str(settings.data_dir)])
    with contextlib.closing(sqlite3.connect(settings.database_path)) as conn, conn:
        conn.execute("DELETE FROM audit_log WHERE request_id = 'day2-0'")

    key = load_audit_key(None, settings.data_dir, create=False)
    result = verify_file(settings.database_path, key, head_file_for(settings.database_path))

    assert result.broken is not None
    assert "missing" in result.broken.reason


async def test_the_retention_period_prunes_old_entries_as_housekeeping_runs(ops_with, clock):
    ops = await ops_with(audit_retention_days=1)
    await _days_of_reads(ops, clock, 3)
    app = ops.app
    chores = Housekeeping(app[AUDIT], ConfirmationRepository(app[DB]), app[CLOCK], retention_days=1)

    await chores.run_once()  # now: day 4, 09:00

    settings = app[SETTINGS]
    assert _request_ids(settings) == ["day3-0", "day3-1"]
    await ops.client.close()
    assert _verifies(settings)


async def test_without_a_retention_period_nothing_is_pruned(ops, clock, settings):
    await _days_of_reads(ops, clock, 3)
    app = ops.app

    await Housekeeping(app[AUDIT], ConfirmationRepository(app[DB]), app[CLOCK]).run_once()

    assert len(_request_ids(settings)) == 6


async def test_expired_confirmations_are_purged_within_minutes_by_the_running_server(
    ops_with, clock, settings, monkeypatch
):
    monkeypatch.setattr(housekeeping_module, "INTERVAL_SECONDS", 0.05)
    ops = await ops_with()
    await ops.request("stop", "connector")
    clock.advance(60 + 4 * 60)  # expired four minutes ago: still told apart from a token never issued
    await asyncio.sleep(0.3)
    assert _confirmations(settings) == 1
    clock.advance(2 * 60)

    for _ in range(100):
        if _confirmations(settings) == 0:
            break
        await asyncio.sleep(0.05)

    assert _confirmations(settings) == 0


async def test_an_expired_confirmation_within_the_grace_still_answers_expired(ops_with, clock, monkeypatch):
    monkeypatch.setattr(housekeeping_module, "INTERVAL_SECONDS", 0.05)
    ops = await ops_with()
    token = await ops.request("stop", "connector")
    clock.advance(60 + 60)
    await asyncio.sleep(0.3)

    response = await ops.confirm("stop", "connector", token)

    assert response.status == 410
    assert timedelta(minutes=1) < housekeeping_module.EXPIRED_CONFIRMATION_GRACE


async def test_a_prune_deletes_a_bounded_number_at_a_time_and_verifies_after_each(ops, clock, settings):
    await _days_of_reads(ops, clock, 3)
    await ops.client.close()
    key = load_audit_key(None, settings.data_dir, create=False)
    assert key is not None
    cut = (clock.now() + timedelta(days=1)).timestamp()

    deleted = []
    with contextlib.closing(sqlite3.connect(settings.database_path, isolation_level=None)) as conn:
        while pruned := prune(conn, key, cut, head_file_for(settings.database_path), at_most=2):
            deleted.append(pruned)
            assert _verifies(settings)

    assert deleted == [2, 2, 1]  # the newest entry stays
    assert _request_ids(settings) == ["day3-1"]
