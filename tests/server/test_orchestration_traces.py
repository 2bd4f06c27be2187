"""Stored traces: one row each, read back as the model, findable by any three or more characters of the question
(Korean too: trigrams) or the feature, with the columns the inspector filters on indexed."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from orchestration_support import ask

from server.http.orchestration import ORCHESTRATION
from server.keys import SETTINGS

if TYPE_CHECKING:
    from server_support import Ops


def _query(ops: Ops, sql: str, *params: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(ops.app[SETTINGS].database_path) as conn:
        return list(conn.execute(sql, params))


async def test_a_stored_trace_reads_back_as_it_was_answered(ops: Ops) -> None:
    data = await ask(ops, "what depends on the connector?")
    stored = await ops.app[ORCHESTRATION].traces.get(data["trace"]["trace_id"])
    assert stored is not None and stored.model_dump(mode="json") == data["trace"]
    assert await ops.app[ORCHESTRATION].traces.get("tr_missing") is None


async def test_traces_are_found_by_part_of_the_question_in_either_language(ops: Ops) -> None:
    korean = await ask(ops, "최근 감사 로그 보여줘")
    english = await ask(ops, "which prod databases are down?")
    search = (
        "SELECT t.trace_id FROM orch_traces_search s JOIN orch_traces t ON t.seq = s.rowid "
        "WHERE orch_traces_search MATCH ?"
    )
    assert _query(ops, search, '"감사 로"') == [(korean["meta"]["trace_id"],)]
    assert _query(ops, search, '"databases"') == [(english["meta"]["trace_id"],)]
    assert _query(ops, search, 'feature : "audit_search"') == [(korean["meta"]["trace_id"],)]


async def test_the_inspectors_filters_use_indexes(ops: Ops) -> None:
    for column in ("feature", "status", "route", "created_at"):
        plan = _query(ops, f"EXPLAIN QUERY PLAN SELECT trace_id FROM orch_traces WHERE {column} = ?", "x")
        assert "USING INDEX" in str(plan), (column, plan)
