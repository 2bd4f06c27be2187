"""Searching the audit log: through its full-text index, on a connection of its own, so that however many searches
queue up, token checks and confirmations on the hot path never wait behind them; and a query with nothing to
search for is refused rather than taken to match everything."""

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest

from server.keys import DB
from server.storage.audit import AuditRepository
from server.storage.database import Database, _migrations

_HELD_SECONDS = 20


@contextlib.asynccontextmanager
async def _long_reads_held(db: Database) -> AsyncIterator[asyncio.Task[Any]]:
    """Hold the connection for long reads busy (a statement that runs until released), as a slow search would."""
    released = threading.Event()
    await db.long_reads.conn.create_function("hold", 0, lambda: released.wait(_HELD_SECONDS))
    holding = asyncio.ensure_future(db.long_reads.fetchone("SELECT hold()"))
    await asyncio.sleep(0.05)  # the statement is on the connection's thread now
    try:
        yield holding
    finally:
        released.set()
        await holding


async def test_a_held_up_search_does_not_hold_up_token_checks_or_confirmations(ops, clock):
    reader = await ops.create_token("searcher", "ops:read")  # checked against the database on every request
    async with _long_reads_held(ops.app[DB]):
        search = asyncio.ensure_future(ops.get("/ops/audit", params={"q": "status"}, token=reader))
        await asyncio.sleep(0.2)

        whoami = await asyncio.wait_for(ops.get("/ops/whoami", token=reader), 5)
        result = await asyncio.wait_for(ops.run("restart", "mt5_bridge"), 5)

        assert whoami.status == 200
        assert result["action"] == "restarting"
        assert not search.done()  # the search waits on its own connection, which is held
    response = await asyncio.wait_for(search, 5)
    assert response.status == 200


async def test_a_search_reads_the_full_text_index_not_every_row(ops, monkeypatch):
    await ops.get("/ops/status")
    statements: list[tuple[str, tuple[Any, ...]]] = []
    long_reads = ops.app[DB].long_reads
    fetchall = long_reads.fetchall

    async def recording(sql: str, params: Any = ()) -> list[sqlite3.Row]:
        statements.append((sql, tuple(params)))
        return await fetchall(sql, params)

    monkeypatch.setattr(long_reads, "fetchall", recording)

    response = await ops.get("/ops/audit", params={"q": "GET status", "changes_only": "true", "limit": "5"})
    assert response.status == 200

    ((sql, params),) = statements
    plan = " | ".join(row[3] for row in await fetchall(f"EXPLAIN QUERY PLAN {sql}", params))
    assert "audit_search VIRTUAL TABLE INDEX" in plan
    assert "SCAN audit_log" not in plan


async def _entries(ops, **params: str) -> list[dict[str, Any]]:
    response = await ops.get("/ops/audit", params={"limit": "500", **params})
    body = await response.json()
    assert response.status == 200, body
    return body["results"]


async def test_every_word_must_match_case_insensitively_and_the_last_may_be_the_start_of_one(ops):
    await ops.get("/ops/status", headers={"X-Request-ID": "first-status"})
    await ops.get("/ops/runbook", params={"name": "Going live"}, headers={"X-Request-ID": "runbook-read"})
    await ops.run("stop", "connector", {"reason": "Maintenance window"})

    assert {e["request_id"] for e in await _entries(ops, q="RUNBOOK going")} == {"runbook-read"}
    assert {e["action"] for e in await _entries(ops, q="connector maint")} == {
        "command.request",
        "command.execute",
        "command.confirm",
    }
    assert [e["request_id"] for e in await _entries(ops, q="first /ops/stat")] == ["first-status"]
    assert await _entries(ops, q="maint connector") == []  # only the last word may be cut short
    assert await _entries(ops, q="status nonexistentword") == []


async def test_search_and_changes_only_combine(ops):
    await ops.get("/ops/status")
    await ops.run("restart", "connector")

    entries = await _entries(ops, q="connector", changes_only="true")

    assert [e["method"] for e in entries] == ["POST"] * 3


@pytest.mark.parametrize("q", ["\x00", "--", " / ", '"', "\x00\x00 ..."])
async def test_a_query_with_no_letters_or_digits_is_refused_not_taken_to_match_everything(ops, q):
    await ops.get("/ops/status")

    response = await ops.get("/ops/audit", params={"q": q})

    assert response.status == 400
    body = await response.json()
    assert body["error"] == "validation_failed"
    assert "no letters or digits" in str(body["detail"])


async def test_an_empty_query_is_no_filter(ops):
    await ops.get("/ops/status", headers={"X-Request-ID": "only-read"})

    assert [e["request_id"] for e in await _entries(ops, q="  ")] == ["only-read"]


async def test_punctuation_and_quotes_around_words_are_separators_not_query_syntax(ops):
    await ops.get("/ops/status", headers={"X-Request-ID": "quoted"})

    assert [e["request_id"] for e in await _entries(ops, q='"quoted" OR* (NEAR')] == []
    assert [e["request_id"] for e in await _entries(ops, q='"quoted"')] == ["quoted"]


async def test_a_log_written_before_the_index_existed_is_searchable_after_the_migration(tmp_path):
    database = Database(tmp_path / "old.db")
    await database.open()
    await database.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT)"
    )
    (_, name, sql), *_ = _migrations()
    async with database.transaction() as conn:
        for statement in sql.split(";"):
            if statement.strip():
                await conn.execute(statement)
        await conn.execute("INSERT INTO schema_migrations (version, name) VALUES (1, ?)", (name,))
    await database.execute(
        "INSERT INTO audit_log VALUES (1, '2026-01-01T00:00:00.000000+00:00', 'admin', 'old-entry', 'GET', "
        "'/ops/status', 'GET /ops/status', NULL, 'ok', 200, '{}', ?, 'h')",
        ("0" * 64,),
    )

    await database.migrate()

    rows, more = await AuditRepository(database).page(10, words=["old"])
    assert [row.record.request_id for row in rows] == ["old-entry"]
    assert not more
    await database.close()
