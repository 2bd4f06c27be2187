"""GET /inspector/traces: newest first, each filter alone and together, `total` counting the filter (across whole
days, partial days and both), text search over the question, feature and tools, paging, validation (422) and auth;
every filter on an index, and the migration's back-fill of traces stored before it."""

from __future__ import annotations

import itertools
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from orchestration_support import ask

from server.http.orchestration import ORCHESTRATION
from server.keys import SETTINGS
from server.storage import database, traces
from server.storage.traces import count_statements, page_statement, search_count_statement, search_page_statement
from shared.inspector import TraceListQuery
from shared.orchestration import Trace

if TYPE_CHECKING:
    from server_support import Ops

START = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
FEATURES = ("ci_status", "metric_series", "audit_search")
STATUSES = ("success", "partial", "error", "rejected")
ROUTES = ("orch", "direct", "reject")


async def _data(ops: Ops, path: str, token: str | None = None, **params: Any) -> dict[str, Any]:
    response = await (ops.get(path, params=params) if token is None else ops.get(path, token=token, params=params))
    body = await response.json()
    assert response.status == 200, body
    assert body["code"] == 0 and body["message"] == "success"
    return body["data"]


async def _error(ops: Ops, expected: int, **params: Any) -> dict[str, Any]:
    response = await ops.get("/inspector/traces", params=params)
    body = await response.json()
    assert response.status == expected, body
    assert body["code"] == expected and set(body) == {"code", "message", "error", "details"}
    return body


def _stored(i: int) -> dict[str, Any]:
    """The i-th synthetic trace's filter columns: spread over three days, every 97 minutes, the values cycling."""
    return {
        "trace_id": f"tr_{i:032x}",
        "created_at": START + timedelta(minutes=97 * i),
        "feature": FEATURES[i % 3],
        "status": STATUSES[i % 4],
        "route": ROUTES[i % 3 if i % 5 else 2],
        "question": f"question {i} {'서버 상태' if i % 2 else 'disk usage'}",
    }


@pytest.fixture
async def stored(ops: Ops) -> list[dict[str, Any]]:
    """46 traces, newest first: a real ask's (at the clock's time, in January) and 45 copies of it saved through
    the repository with other filter columns."""
    template = Trace.model_validate((await ask(ops, "which prod databases are down?"))["trace"])
    repository = ops.app[ORCHESTRATION].traces
    rows = [_stored(i) for i in range(45)]
    for row in rows:
        await repository.save(template.model_copy(update=row), [])
    rows.append({name: getattr(template, name) for name in ("trace_id", "created_at", "feature", "status", "route")})
    return sorted(rows, key=lambda r: r["created_at"], reverse=True)


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _expected(rows: list[dict[str, Any]], **filters: Any) -> list[str]:
    def keep(row: dict[str, Any]) -> bool:
        for name in ("feature", "status", "route"):
            if name in filters and row[name] != filters[name]:
                return False
        if "from" in filters and row["created_at"] < _moment(filters["from"]):
            return False
        return not ("to" in filters and row["created_at"] >= _moment(filters["to"]))

    return [row["trace_id"] for row in rows if keep(row)]


async def test_the_list_shows_the_contracts_fields_newest_first(ops: Ops, clock: Any) -> None:
    first = await ask(ops, "which prod databases are down?")
    clock.advance(60)
    second = await ask(ops, "delete every server")
    data = await _data(ops, "/inspector/traces")
    assert (data["total"], data["limit"], data["offset"]) == (2, 20, 0)
    newest, oldest = data["traces"]
    assert [newest["trace_id"], oldest["trace_id"]] == [second["meta"]["trace_id"], first["meta"]["trace_id"]]
    assert newest["route"] == "reject" and newest["status"] == "rejected"
    assert datetime.fromisoformat(oldest["created_at"]) == datetime.fromisoformat(first["trace"]["created_at"])
    assert oldest == {
        "trace_id": first["meta"]["trace_id"],
        "created_at": oldest["created_at"],
        "feature": first["meta"]["feature"],
        "status": "success",
        "route": "orch",
        "duration_ms": first["meta"]["duration_ms"],
        "question_snippet": "which prod databases are down?",
        "applied_asset_versions": sorted(f"{k}:{v}" for k, v in first["trace"]["applied_assets"].items()),
        "test_mode": False,
    }


FILTERS: list[dict[str, str]] = [
    {},
    {"feature": "metric_series"},
    {"status": "partial"},
    {"route": "reject"},
    {"from": "2026-03-02T00:00:00+00:00"},  # from midnight: whole days only
    {"to": "2026-03-02T13:30:00+00:00"},  # whole days, then part of one
    {"from": "2026-03-01T05:00:00+00:00", "to": "2026-03-03T07:00:00+00:00"},  # partial, whole, partial
    {"from": "2026-03-02T03:00:00+00:00", "to": "2026-03-02T20:00:00+00:00"},  # within one day
    {"from": "2026-03-01T20:00:00+00:00", "to": "2026-03-02T04:00:00+00:00"},  # across one midnight
    {"from": "2026-03-02T10:00:00+09:00", "to": "2026-03-03T00:00:00"},  # an offset, and none (UTC)
    {"feature": "ci_status", "status": "success"},
    {"feature": "audit_search", "route": "orch"},
    {"status": "error", "route": "direct"},
    {"feature": "ci_status", "status": "partial", "route": "reject"},
    {"feature": "ci_status", "from": "2026-03-01T12:00:00+00:00", "to": "2026-03-03T12:00:00+00:00"},
    {"status": "success", "route": "orch", "from": "2026-03-02T00:00:00+00:00"},
    {"feature": "metric_series", "status": "rejected", "route": "orch", "to": "2026-03-02T06:00:00+00:00"},
    {"feature": "no_such_feature"},
]


@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: ",".join(f) or "none")
async def test_each_filter_alone_and_together_and_the_total_counts_the_filter(
    ops: Ops, stored: list[dict[str, Any]], filters: dict[str, str]
) -> None:
    expected = _expected(stored, **filters)
    data = await _data(ops, "/inspector/traces", limit=4, **filters)
    assert data["total"] == len(expected)
    assert [t["trace_id"] for t in data["traces"]] == expected[:4]
    for trace in data["traces"]:
        assert all(trace[name] == value for name, value in filters.items() if name in ("feature", "status", "route"))


async def test_pages_follow_one_another_without_gaps(ops: Ops, stored: list[dict[str, Any]]) -> None:
    expected = _expected(stored, feature="ci_status")
    seen: list[str] = []
    for offset in range(0, 20, 6):
        page = await _data(ops, "/inspector/traces", feature="ci_status", limit=6, offset=offset)
        assert page["total"] == 15 and page["offset"] == offset and page["limit"] == 6
        seen += [t["trace_id"] for t in page["traces"]]
    assert seen == expected


async def test_the_text_search_finds_the_question_feature_and_tools_in_any_case(ops: Ops, clock: Any) -> None:
    databases = (await ask(ops, "Which PROD databases are down?"))["meta"]["trace_id"]
    clock.advance(1)
    korean = (await ask(ops, "최근 감사 로그 보여줘"))["meta"]["trace_id"]
    clock.advance(1)
    refused = (await ask(ops, "delete every server"))["meta"]["trace_id"]

    async def found(q: str, **filters: str) -> list[str]:
        data = await _data(ops, "/inspector/traces", q=q, **filters)
        assert data["total"] == len(data["traces"])
        return [t["trace_id"] for t in data["traces"]]

    assert await found("prod databases") == [databases]
    assert await found("DATABASES") == [databases]
    assert await found("감사 로그") == [korean]  # "로그" is two characters: matched on the row, not the index
    assert await found("로그") == [korean]
    assert await found("ci_lookup") == [databases]  # a tool the plan called
    assert await found("audit_search") == [korean]  # the feature
    assert await found("e", route="reject") == [refused]
    assert await found("servers") == []
    beyond = await _data(ops, "/inspector/traces", q="e", offset=5)
    assert beyond["traces"] == [] and beyond["total"] == 3  # counted even when the page is past the end
    second = await _data(ops, "/inspector/traces", q="e", limit=1, offset=1)
    assert [t["trace_id"] for t in second["traces"]] == [korean] and second["total"] == 3
    for odd in ('"', "%", "__", "a*", "NEAR(", "'; DROP"):  # literal, never syntax or wildcards
        assert await found(odd) == []
    # Bounds centuries away (their index keys are past SQLite's 64-bit integers) bound the search all the same.
    assert await found("databases", **{"from": "1378-04-15T08:38:41Z", "to": "9999-12-31T00:00:00Z"}) == [databases]
    assert await found("databases", **{"from": "2263-01-01T00:00:00Z"}) == []
    assert await found("databases", to="1600-01-01T00:00:00Z") == []


async def test_a_search_is_newest_first_whatever_order_the_traces_were_saved_in(
    ops: Ops, stored: list[dict[str, Any]]
) -> None:
    """Traces are saved when they finish, not when they start: one saved later may be older. Equal times keep the
    order they were saved in, newest saved first, as the list without `q` shows them."""
    template = Trace.model_validate((await ask(ops, "which prod databases are down?"))["trace"])
    repository = ops.app[ORCHESTRATION].traces
    late = [
        template.model_copy(update={"trace_id": f"tr_late{i:027x}", "created_at": moment, "question": f"late {i}"})
        for i, moment in enumerate((START + timedelta(minutes=5), START, START + timedelta(minutes=5), START))
    ]
    for trace in late:
        await repository.save(trace, [])
    expected = [late[2].trace_id, late[0].trace_id, late[3].trace_id, late[1].trace_id]
    assert [t["trace_id"] for t in (await _data(ops, "/inspector/traces", q="late"))["traces"]] == expected
    unsearched = [t["trace_id"] for t in (await _data(ops, "/inspector/traces", limit=200))["traces"]]
    assert [trace_id for trace_id in unsearched if trace_id.startswith("tr_late")] == expected
    within = await _data(ops, "/inspector/traces", q="late", **{"from": START.isoformat(), "to": _iso(START, 5)})
    assert [t["trace_id"] for t in within["traces"]] == expected[2:]


def _iso(start: datetime, minutes: int) -> str:
    return (start + timedelta(minutes=minutes)).isoformat()


async def test_a_search_counts_up_to_the_cap_and_says_when_it_stopped_there(
    ops: Ops, stored: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(traces, "COUNT_CAP", 10)
    questions = [row["trace_id"] for row in stored if row["trace_id"].startswith("tr_0")]  # "question {i} ..."
    capped = await _data(ops, "/inspector/traces", q="question", limit=4)
    assert (capped["total"], capped["total_capped"]) == (10, True)  # 45 match: at least 10
    assert [t["trace_id"] for t in capped["traces"]] == questions[:4]
    deep = await _data(ops, "/inspector/traces", q="question", limit=5, offset=30)
    assert [t["trace_id"] for t in deep["traces"]] == questions[30:35]
    assert (deep["total"], deep["total_capped"]) == (35, True)  # never below what the pages have shown
    monkeypatch.setattr(traces, "COUNT_CAP", 20)
    ci_status = [trace_id for trace_id in _expected(stored, feature="ci_status") if trace_id in questions]
    exact = await _data(ops, "/inspector/traces", q="question", feature="ci_status")
    assert (exact["total"], exact["total_capped"]) == (len(ci_status), False) == (15, False)
    assert [t["trace_id"] for t in exact["traces"]] == ci_status
    monkeypatch.setattr(traces, "COUNT_CAP", 15)
    at_cap = await _data(ops, "/inspector/traces", q="question", feature="ci_status")
    assert (at_cap["total"], at_cap["total_capped"]) == (15, False)  # exactly the cap: still exact
    monkeypatch.setattr(traces, "COUNT_CAP", 14)
    over = await _data(ops, "/inspector/traces", q="question", feature="ci_status", limit=10)
    assert (over["total"], over["total_capped"]) == (14, True)
    whole = await _data(ops, "/inspector/traces", q="question", feature="ci_status", limit=20)
    assert (whole["total"], whole["total_capped"]) == (15, True)  # 14 counted, but the page shows 15


async def test_a_search_of_short_words_reads_only_the_newest_traces(
    ops: Ops, stored: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A word below the trigram index's three characters ("상태") is matched on each row, of the newest SCAN_ROWS."""
    korean = [row["trace_id"] for row in stored if "상태" in row.get("question", "")]
    everything = await _data(ops, "/inspector/traces", q="상태", limit=50)
    assert [t["trace_id"] for t in everything["traces"]] == korean
    assert (everything["total"], everything["total_capped"]) == (22, False)
    monkeypatch.setattr(traces, "SCAN_ROWS", 10)  # the newest 10 traces: 5 of them Korean
    window = await _data(ops, "/inspector/traces", q="상태", limit=50)
    assert [t["trace_id"] for t in window["traces"]] == korean[:5]
    assert (window["total"], window["total_capped"]) == (5, True)
    filtered = await _data(ops, "/inspector/traces", q="상태", feature="ci_status", limit=50)  # the newest 10 of them
    assert filtered["total_capped"] is True
    assert [t["trace_id"] for t in filtered["traces"]] == [
        row["trace_id"] for row in stored if row["trace_id"] in korean and row["feature"] == "ci_status"
    ][: filtered["total"]]


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-13-01T00:00:00Z"}, "to"),
        ({"to": "0.5"}, "to"),  # pydantic would read a number as seconds since 1970
        ({"from": "1772323200"}, "from"),
        ({"from": "2026-03-01"}, "from"),  # a date alone is not a date-time
        ({"from": "2026-03-02T00:00:00Z", "to": "2026-03-01T00:00:00Z"}, None),
        ({"from": "2026-03-02T00:00:00Z", "to": "2026-03-02T00:00:00Z"}, None),
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"offset": "1.5"}, "offset"),
        ({"status": "fine"}, "status"),
        ({"route": "sideways"}, "route"),
        ({"q": "   "}, "q"),
        ({"q": "x" * 201}, "q"),
        ({"sort": "asc"}, "sort"),
    ],
)
async def test_invalid_parameters_are_422_naming_the_field(ops: Ops, params: dict[str, str], loc: str | None) -> None:
    body = await _error(ops, 422, **params)
    errors = body["details"]["errors"]
    assert body["details"]["code"] == "validation_failed"
    assert [e["loc"] for e in errors] == [["query", loc] if loc else ["query"]]


async def test_reading_the_list_needs_ops_read(ops: Ops) -> None:
    response = await ops.get("/inspector/traces", token=None)
    assert response.status == 401 and (await response.json())["code"] == 401
    other = await ops.create_token("agent-only", "ops_agent:read")
    response = await ops.get("/inspector/traces", token=other)
    assert response.status == 403 and (await response.json())["details"]["code"] == "insufficient_scope"
    reader = await ops.create_token("reader", "inspector:read")
    assert (await _data(ops, "/inspector/traces", token=reader))["total"] == 0


def _plan(path: Path, sql: str, params: list[Any]) -> list[tuple[int, str]]:
    """The query plan's lines as (parent, detail): parent 0 is the outer query."""
    with sqlite3.connect(path) as conn:
        return [(row[1], row[3]) for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params)]


def _reads_only_indexes(line: str) -> bool:
    table_reads = ("SEARCH t ", "SCAN t ", "SEARCH orch_traces ", "SCAN orch_traces ")
    if not line.startswith(table_reads):
        return True
    return "COVERING INDEX" in line or "INTEGER PRIMARY KEY" in line


@pytest.mark.parametrize(
    "filters",
    [
        {},
        *({name: value} for name, value in (("feature", "ci_status"), ("status", "error"), ("route", "orch"))),
        {"from": "2026-03-01T05:00:00Z", "to": "2026-03-03T07:00:00Z"},
        *(
            dict(pair)
            for pair in itertools.combinations(
                (("feature", "ci_status"), ("status", "error"), ("route", "orch"), ("from", "2026-03-01T05:00:00Z")),
                2,
            )
        ),
        {"feature": "ci_status", "status": "error", "route": "orch", "to": "2026-03-03T07:00:00Z"},
        {"q": "databases", "status": "success", "from": "2026-03-01T05:00:00Z"},
    ],
    ids=lambda f: ",".join(f) or "none",
)
async def test_every_filter_alone_and_combined_reads_an_index(ops: Ops, filters: dict[str, str]) -> None:
    """The page finds its rows in index entries (or the search index's matches, newest first), in the index's
    order; only the page's own rows are read and sorted. Counts read the per-day counts and index entries, never
    table rows (a text search's: its matches' rows, up to the cap)."""
    query = TraceListQuery.model_validate({**filters, "offset": 40})
    path = ops.app[SETTINGS].database_path
    page_plan = _plan(path, *(page_statement(query) if "q" not in filters else search_page_statement(query)))
    assert all(_reads_only_indexes(line) for _, line in page_plan), page_plan
    inner_sorts = [line for parent, line in page_plan if parent != 0 and "TEMP B-TREE" in line]
    assert inner_sorts == [], page_plan
    if "q" in filters:  # the page's matches, walked newest first: in the search index's order, never sorted
        assert not any("TEMP B-TREE" in line for _, line in page_plan), page_plan
    statements = count_statements(query) if "q" not in filters else [search_count_statement(query)]
    counts = [_plan(path, sql, params) for sql, params in statements]
    for plan in counts:
        assert all(_reads_only_indexes(line) for _, line in plan), plan
    if "q" not in filters:
        assert any("orch_trace_counts" in line for plan in counts for _, line in plan), counts


async def test_the_counts_table_keeps_step_with_the_traces(ops: Ops, stored: list[dict[str, Any]]) -> None:
    with sqlite3.connect(ops.app[SETTINGS].database_path) as conn:
        conn.row_factory = sqlite3.Row
        counts = list(conn.execute("SELECT * FROM orch_trace_counts"))
        grouped = list(conn.execute("SELECT * FROM orch_traces"))
    assert sum(row["n"] for row in counts) == len(grouped) == 46
    by_key = {(r["day"], r["feature"], r["status"], r["route"]): r["n"] for r in counts}
    for row in grouped:
        assert by_key[(row["created_at"][:10], row["feature"], row["status"], row["route"])] >= 1


async def test_the_migration_fills_in_traces_stored_before_it(tmp_path: Path, ops: Ops) -> None:
    """A database at migration 0030 with a trace, migrated: its tools searchable, its count kept."""
    trace = Trace.model_validate((await ask(ops, "which prod databases are down?"))["trace"])
    db = database.Database(tmp_path / "old.db")
    await db.open()
    try:
        old = [(version, name, sql) for version, name, sql in database._migrations() if version <= 30]
        await db.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT, applied_at TEXT)")
        for version, name, sql in old:
            for statement in database._statements(sql):
                await db.execute(statement)
            await db.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", (version, name))
        await db.execute(
            "INSERT INTO orch_traces (trace_id, created_at, question, feature, status, route, duration_ms, "
            "test_mode, applied_assets, body) VALUES (?, ?, ?, ?, ?, ?, ?, 0, '[]', ?)",
            (
                trace.trace_id,
                trace.created_at.isoformat(),
                trace.question,
                trace.feature,
                trace.status,
                trace.route,
                trace.duration_ms,
                trace.model_dump_json(),
            ),
        )
        assert "0031_inspector.sql" in await db.migrate()
        row = await db.fetchone("SELECT tools, seq FROM orch_traces")
        assert row is not None and row[0] == "ci_lookup"
        assert row[1] == traces.order_key(trace.created_at)  # renumbered: seq is newest-first order
        found = await db.fetchall("SELECT rowid FROM orch_traces_search WHERE orch_traces_search MATCH 'lookup'")
        assert len(found) == 1
        counted = await db.fetchall("SELECT day, feature, n FROM orch_trace_counts")
        assert [tuple(r) for r in counted] == [(trace.created_at.date().isoformat(), trace.feature, 1)]
    finally:
        await db.close()
