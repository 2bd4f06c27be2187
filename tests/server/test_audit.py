"""The audit trail: every request on record, commands durable before their response, no secrets, and a hash
chain that names the first entry someone tampered with."""

import asyncio
import itertools
import sqlite3
import time

import pytest

from server.keys import AUDIT, DB, SETTINGS
from server.storage.audit import AuditRepository
from server.storage.audit_writer import AuditWriter


async def _rows_by_request_id(ops) -> dict[str, sqlite3.Row]:
    return {row["request_id"]: row for row in await ops.audit_rows()}


class TestEveryRequestOnRecord:
    async def test_each_request_is_recorded_with_principal_request_id_outcome_and_status(self, ops, reader_token):
        client = ops.client
        await client.get("/ops/status", headers={"Authorization": "Bearer admin-secret", "X-Request-ID": "r-ok"})
        await client.get("/ops/status", headers={"X-Request-ID": "r-anon"})
        await client.get("/ops/status", headers={"Authorization": "Bearer wrong", "X-Request-ID": "r-bad"})
        await client.post(
            "/ops/command",
            json={"command": "restart", "component": "mt5_bridge"},
            headers={"Authorization": f"Bearer {reader_token}", "X-Request-ID": "r-scope"},
        )
        await client.get("/ops/nowhere", headers={"Authorization": "Bearer admin-secret", "X-Request-ID": "r-404"})
        await client.post(
            "/ops/command", data=b"{", headers={"Authorization": "Bearer admin-secret", "X-Request-ID": "r-400"}
        )

        rows = await _rows_by_request_id(ops)

        seen = {
            rid: (row["principal"], row["method"], row["path"], row["outcome"], row["status"])
            for rid, row in rows.items()
        }
        assert seen == {
            "r-ok": ("env:OPS_API_TOKEN", "GET", "/ops/status", "ok", 200),
            "r-anon": (None, "GET", "/ops/status", "unauthorized", 401),
            "r-bad": (None, "GET", "/ops/status", "invalid_token", 401),
            "r-scope": ("reader", "POST", "/ops/command", "insufficient_scope", 403),
            "r-404": ("env:OPS_API_TOKEN", "GET", "/ops/nowhere", "http_404", 404),
            "r-400": ("env:OPS_API_TOKEN", "POST", "/ops/command", "malformed_json", 400),
        }

    async def test_a_command_is_recorded_as_request_then_confirm_with_its_result(self, ops):
        await ops.run("stop", "connector", {"reason": "maintenance window"})

        rows = [r for r in await ops.audit_rows() if r["method"] == "POST"]

        assert [(r["action"], r["target"], r["outcome"], r["status"]) for r in rows] == [
            ("command.request", "connector", "ok", 200),
            ("command.execute", "connector", "executing", 0),
            ("command.confirm", "connector", "ok", 200),
        ]
        assert rows[1]["request_id"] == rows[2]["request_id"]
        assert '"reason":"maintenance window"' in rows[1]["detail"]
        assert '"result":"stopped"' in rows[2]["detail"]

    async def test_a_refused_confirm_is_recorded_with_its_code(self, ops, clock):
        token = await ops.request("stop", "connector")
        clock.advance(61)
        await ops.confirm("stop", "connector", token)

        last = (await ops.audit_rows())[-1]

        assert (last["action"], last["outcome"], last["status"]) == ("command.confirm", "confirm_token_expired", 410)

    async def test_the_runbook_section_asked_for_is_the_entry_target(self, ops):
        await ops.get("/ops/runbook", params={"name": "Going live"})

        last = (await ops.audit_rows())[-1]

        assert last["target"] == "Going live"

    async def test_audit_endpoint_serves_what_was_recorded(self, ops):
        await ops.get("/ops/status", headers={"X-Request-ID": "seen-in-audit"})

        body = await (await ops.get("/ops/audit", params={"limit": "1"})).json()

        assert body["results"][0]["request_id"] == "seen-in-audit"
        assert body["results"][0]["principal"] == "env:OPS_API_TOKEN"


class TestDurability:
    async def test_a_command_whose_intent_cannot_be_recorded_does_not_run(self, ops, monkeypatch):
        confirm_token = await ops.request("stop", "connector")
        original = AuditWriter.append

        async def failing_for_execution(self, records):
            if any(r.action == "command.execute" for r in records):
                raise OSError("disk full")
            await original(self, records)

        monkeypatch.setattr(AuditWriter, "append", failing_for_execution)

        response = await ops.confirm("stop", "connector", confirm_token)

        assert response.status == 500
        monkeypatch.setattr(AuditWriter, "append", original)
        assert await ops.component_state("connector") == "running"

    async def test_command_entries_are_committed_before_the_response(self, ops_with):
        # A long batch window: an entry that is not awaited would still be in memory when the response arrives.
        ops = await ops_with(audit_batch_ms=60_000)

        response = await ops.post(
            {"command": "restart", "component": "mt5_bridge"}, headers={"X-Request-ID": "durable-1"}
        )
        assert response.status == 200
        rows = ops.table("audit_log")  # another connection, no flush

        assert [(r["request_id"], r["action"], r["status"]) for r in rows] == [("durable-1", "command.request", 200)]

    async def test_refused_command_entries_are_committed_before_the_response(self, ops_with):
        ops = await ops_with(audit_batch_ms=60_000)

        response = await ops.post({"command": "stop", "component": "database"}, headers={"X-Request-ID": "durable-2"})
        assert response.status == 409

        assert [r["request_id"] for r in ops.table("audit_log")] == ["durable-2"]

    async def test_a_command_does_not_wait_out_the_read_batch_window(self, ops_with):
        ops = await ops_with(audit_batch_ms=30_000)
        await ops.get("/ops/status")  # a read opens a batch window of 30 s

        started = time.perf_counter()
        response = await asyncio.wait_for(ops.post({"command": "restart", "component": "mt5_bridge"}), 10)
        elapsed = time.perf_counter() - started

        assert response.status == 200
        assert elapsed < 5
        # The read queued before it is committed with it, in order.
        assert [r["method"] for r in ops.table("audit_log")] == ["GET", "POST"]

    async def test_stopping_the_app_writes_queued_reads_without_waiting_out_the_window(self, ops_with):
        ops = await ops_with(audit_batch_ms=60_000)
        for _ in range(3):
            await ops.get("/ops/whoami")

        await asyncio.wait_for(ops.client.close(), 10)

        assert len(ops.table("audit_log")) == 3


class TestNoSecrets:
    async def test_no_token_or_confirm_token_text_is_in_the_audit_table(self, ops, operator_token, admin_token):
        secrets = [admin_token, operator_token]
        token = await ops.request("stop", "connector", token=operator_token)
        secrets.append(token)
        await ops.confirm("stop", "connector", token, token=operator_token)
        await ops.confirm("stop", "connector", token, token=operator_token)  # replay
        unknown = "confirm_made-up-by-the-caller"
        await ops.confirm("start", "connector", unknown)
        secrets.append(unknown)
        await ops.get("/ops/status", token="ops_wrong-guess-of-a-token")
        secrets.append("ops_wrong-guess-of-a-token")

        rows = await ops.audit_rows()

        assert len(rows) == 6  # request, execute, confirm, replay, unknown token, the 401
        dump = "\n".join("|".join(str(v) for v in tuple(row)) for row in rows)
        for secret in secrets:
            assert secret not in dump

    async def test_the_audit_endpoint_shows_no_tokens_either(self, ops, admin_token):
        token = await ops.request("stop", "connector")
        await ops.confirm("stop", "connector", token)

        text = await (await ops.get("/ops/audit")).text()

        assert token not in text
        assert admin_token not in text


class TestHashChain:
    async def _some_history(self, ops) -> None:
        await ops.get("/ops/status")
        await ops.run("restart", "mt5_bridge")
        await ops.get("/ops/status", token=None)
        await ops.get("/ops/audit")
        await ops.app[AUDIT].flush()

    async def test_chain_holds_for_an_untouched_log(self, ops):
        await self._some_history(ops)

        checked, broken = await AuditRepository(ops.app[DB]).verify()

        assert broken is None
        assert checked == len(ops.table("audit_log")) == 6

    async def test_each_entry_links_to_the_previous_hash(self, ops):
        await self._some_history(ops)

        rows = ops.table("audit_log")

        assert rows[0]["prev_hash"] == "0" * 64
        for before, after in itertools.pairwise(rows):
            assert after["prev_hash"] == before["hash"]

    @pytest.mark.parametrize(
        ("column", "value"),
        [
            ("outcome", "'ok'"),
            ("status", "200"),
            ("principal", "'someone-else'"),
            ("detail", """'{"x":1}'"""),
            ("at", "'2025-01-01T00:00:00.000000+00:00'"),
            ("detail", "'not json'"),
            ("at", "'yesterday'"),
            ("detail", "'[]'"),
            ("detail", "'{ }'"),
            ("status", "401.5"),
            ("at", "replace(at, 'T', ' ')"),
        ],
        ids=[
            "outcome",
            "status",
            "principal",
            "detail",
            "at",
            "detail-not-json",
            "at-not-a-date",
            "detail-other-empty-value",
            "detail-same-value-other-text",
            "status-not-an-int",
            "at-same-time-other-text",
        ],
    )
    async def test_a_tampered_entry_is_named(self, ops, column, value):
        await self._some_history(ops)
        victim = 5  # the anonymous 401
        _tamper(ops, f"UPDATE audit_log SET {column} = {value} WHERE entry_id = {victim}")

        checked, broken = await AuditRepository(ops.app[DB]).verify()

        assert broken is not None
        assert broken.entry_id == victim
        assert checked == victim - 1

    async def test_a_deleted_entry_is_named(self, ops):
        await self._some_history(ops)
        _tamper(ops, "DELETE FROM audit_log WHERE entry_id = 2")

        _, broken = await AuditRepository(ops.app[DB]).verify()

        assert broken is not None
        assert broken.entry_id == 2
        assert "missing" in broken.reason

    async def test_a_rehashed_entry_breaks_the_next_link(self, ops):
        await self._some_history(ops)
        _tamper(
            ops,
            "UPDATE audit_log SET hash = (CASE WHEN substr(hash, 1, 1) = '0' THEN '1' ELSE '0' END) || substr(hash, 2) "
            "WHERE entry_id = 2",
        )

        _, broken = await AuditRepository(ops.app[DB]).verify()

        assert broken is not None
        assert broken.entry_id == 2

    async def test_appending_after_tampering_does_not_hide_it(self, ops, clock):
        await self._some_history(ops)
        _tamper(ops, "UPDATE audit_log SET outcome = 'ok' WHERE entry_id = 5")
        clock.advance(60)
        await self._some_history(ops)

        _, broken = await AuditRepository(ops.app[DB]).verify()

        assert broken is not None
        assert broken.entry_id == 5

    async def test_reading_an_unreadable_entry_says_the_log_is_corrupted(self, ops):
        await self._some_history(ops)
        _tamper(ops, "UPDATE audit_log SET detail = 'not json' WHERE entry_id = 2")

        response = await ops.get("/ops/audit?limit=500")

        assert response.status == 500
        body = await response.json()
        assert body["error"] == "data_corrupted"
        assert "audit entry 2" in body["detail"]
        assert "audit verify" in body["detail"]


def _tamper(ops, sql: str) -> None:
    """Change the database file behind the server's back, as someone with file access could."""
    conn = sqlite3.connect(ops.app[SETTINGS].database_path)
    try:
        with conn:
            assert conn.execute(sql).rowcount == 1
    finally:
        conn.close()
