"""Audit entries nobody awaits (audited reads) survive a database locked past the busy timeout: the batch that
failed busy wrote nothing, so its unawaited entries are queued again in front, in their order, and written once
the lock is gone — the chain stays whole and in order. Entries someone awaits still fail to their waiters, and
while the database stays busy at most a fixed number of unawaited entries are kept (the oldest dropped, counted)."""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest
from server_support import ExclusiveLock, Ops

from server.keys import AUDIT, SETTINGS
from server.services.audit import AuditTrail
from server.storage import database
from server.storage.audit import AuditRecord, AuditRepository
from server.storage.audit_checkpoints import head_file_for
from server.storage.audit_keys import load_audit_key
from server.storage.audit_verify import verify_file
from server.storage.audit_writer import AuditWriteFailed, AuditWriter, WriterKind
from server.storage.database import Database

BUSY_SECONDS = 0.3


def _failed_batches(caplog: pytest.LogCaptureFixture) -> int:
    return sum(record.getMessage().startswith("audit batch of") for record in caplog.records)


async def _until(condition: Callable[[], bool], seconds: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not condition():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_reads_audited_while_the_database_is_locked_are_written_in_order_once_it_is_free(
    ops_with: Callable[..., Awaitable[Ops]], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(database, "BUSY_TIMEOUT_MS", round(BUSY_SECONDS * 1000))
    caplog.set_level(logging.WARNING, logger="server.services.audit")
    ops = await ops_with()
    path = ops.app[SETTINGS].database_path

    async def read(request_id: str) -> None:
        response = await ops.get("/ops/status", headers={"X-Request-ID": request_id})
        assert response.status == 200, await response.text()

    await read("before-1")
    await ops.audit_rows()  # committed before the lock
    async with ExclusiveLock(path):
        for n in range(5):
            await read(f"locked-{n}")  # reads go on (WAL); their entries queue
        # The writer tries, finds the database busy past the busy timeout (and queues them again to try again).
        await _until(lambda: _failed_batches(caplog) >= 1, 10 * BUSY_SECONDS + 5)
        for n in range(5, 8):
            await read(f"locked-{n}")
    await read("after-1")

    rows = await asyncio.wait_for(ops.audit_rows(), 5)
    ids = [row["request_id"] for row in rows if row["path"] == "/ops/status"]
    assert ids == ["before-1", *(f"locked-{n}" for n in range(8)), "after-1"]
    assert ops.app[AUDIT].dropped_while_busy == 0

    # The chain holds as `ops-server audit verify` checks it (signed checkpoints and the head file included).
    await ops.app[AUDIT].checkpoint()
    settings = ops.app[SETTINGS]
    result = verify_file(path, load_audit_key(None, settings.data_dir, create=False), head_file_for(path))
    assert result.broken is None, result
    assert result.checked == len(rows) and result.signatures_checked


def _record(name: str) -> AuditRecord:
    return AuditRecord(
        at=datetime(2026, 12, 2, 8, 0, tzinfo=UTC).timestamp(),
        principal="admin",
        request_id=name,
        method="GET",
        path="/ops/status",
        action="GET /ops/status",
        target=None,
        outcome="ok",
        status=200,
        detail={},
    )


async def test_awaited_entries_still_fail_and_at_most_the_bound_is_kept_while_busy(
    db: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(database, "BUSY_TIMEOUT_MS", round(BUSY_SECONDS * 1000))
    caplog.set_level(logging.WARNING, logger="server.services.audit")
    trail = AuditTrail(AuditWriter(db.path, WriterKind.THREAD), AuditRepository(db), max_held_while_busy=5)
    await trail.start()
    try:
        trail.record(_record("before"))
        await trail.flush()
        async with ExclusiveLock(db.path):
            for n in range(8):
                trail.record(_record(f"read-{n}"))  # one batch: all eight are queued before the writer takes any
            durable = asyncio.ensure_future(trail.record_durable(_record("change")))
            # The awaited entry's request was answered with the error: it is not written later behind its back.
            with pytest.raises(AuditWriteFailed, match="database is locked"):
                await asyncio.wait_for(durable, 10 * BUSY_SECONDS + 5)
            await _until(lambda: _failed_batches(caplog) >= 2, 10 * BUSY_SECONDS + 5)
            # Eight unawaited entries, five kept: the three oldest dropped, logged and counted.
            assert trail.dropped_while_busy == 3
            assert any("3 audit entries nobody awaits dropped" in r.getMessage() for r in caplog.records)
        await asyncio.wait_for(trail.flush(), 5)
    finally:
        await trail.stop()

    rows = await db.fetchall("SELECT request_id FROM audit_log ORDER BY entry_id")
    assert [row["request_id"] for row in rows] == ["before", *(f"read-{n}" for n in range(3, 8))]
    assert await AuditRepository(db).verify() == (6, None)
