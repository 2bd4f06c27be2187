"""Ask traces and the control loop's decisions. A trace is one row: the columns the inspector filters on (question,
feature, status, route, time, the tools the plan called; the text ones also in a trigram search index) and the whole
trace as JSON. Each replan decision is also a row of its own, which the control loop's statistics count.

The inspector's list: a page is newest first; each filter column leads an index that also holds the others
(migration 0031), so any mix of filters reads index entries and only the page's rows. Its `total` sums the
per-day counts the triggers keep (orch_trace_counts) for the whole UTC days in the range and counts only the
partial days at its ends from the indexes: a million traces are never counted one by one.

A text search (`q`) counts its matches up to COUNT_CAP + 1, in the search index's own order: when they are no more,
that walk holds them all and the page is their newest; when more, a second walk, newest first (seq is newest-first
order, see order_key), stops at the page's end, and `total` is a lower bound. A search whose words are all too
short for the trigram index reads the newest SCAN_ROWS traces the other filters match, no more."""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiosqlite

from server.storage.database import Database
from shared.inspector import TraceListQuery, TraceSummary, UiRender
from shared.orchestration import OrchPlanOutput, Trace


@dataclass(frozen=True, slots=True)
class ReplanRow:
    at: datetime
    stage: str
    trigger_type: str
    replanned: bool
    exhausted: bool


@dataclass(frozen=True, slots=True)
class ReplanTotals:
    decisions: int
    replanned: int
    last_replan_at: datetime | None
    last_exhausted_at: datetime | None
    by_trigger: dict[str, int]


TIES = 1000  # traces of one microsecond that each keep their own place in newest-first order
COUNT_CAP = 10_000  # a text search counts this many matches at most
SCAN_ROWS = 10_000  # a search for words under three characters reads this many of the newest traces at most
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def order_key(moment: datetime) -> int:
    """The first `seq` of a trace created at `moment`: its microseconds since 1970 times TIES. A trace's seq is the
    first one free among the TIES after it (migration 0031 numbered older traces the same way), so seq order is
    created_at order, ties in the order saved: the search index, keyed by seq, finds its matches newest first."""
    return (moment - _EPOCH) // timedelta(microseconds=1) * TIES


def stored_time(moment: datetime) -> str:
    """How a trace's time is stored: ISO 8601 in UTC, so that text order is time order and the first ten
    characters are its UTC day."""
    return moment.astimezone(UTC).isoformat()


def plan_tools(trace: Trace) -> list[str]:
    """The tools the trace's final plan called, in order (none for a direct answer or a refusal)."""
    output = trace.plan_output
    return [step.tool for step in output.plan.steps] if isinstance(output, OrchPlanOutput) else []


class TraceRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def save(self, trace: Trace, decisions: Sequence[ReplanRow]) -> None:
        applied = [f"{kind}:{ref}" for kind, ref in sorted(trace.applied_assets.items())]
        key = order_key(trace.created_at)
        async with self._db.transaction() as conn:
            await conn.execute(
                "INSERT INTO orch_traces (seq, trace_id, created_at, question, feature, status, route, duration_ms, "
                "test_mode, applied_assets, tools, body) VALUES ("
                "(SELECT COALESCE(MAX(seq) + 1, ?) FROM orch_traces WHERE seq >= ? AND seq < ?), "
                "?, ?, ?, ?, ?, ?, ?, ?, json(?), ?, ?)",
                (
                    key,
                    key,
                    key + TIES,
                    trace.trace_id,
                    stored_time(trace.created_at),
                    trace.question,
                    trace.feature,
                    trace.status,
                    trace.route,
                    trace.duration_ms,
                    int(trace.test_mode),
                    json.dumps(applied, ensure_ascii=False),
                    " ".join(plan_tools(trace)),
                    trace.model_dump_json(),
                ),
            )
            await conn.executemany(
                "INSERT INTO orch_replan_events (trace_id, at, stage, trigger_type, replanned, exhausted) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (trace.trace_id, d.at.isoformat(), d.stage, d.trigger_type, int(d.replanned), int(d.exhausted))
                    for d in decisions
                ],
            )

    async def get(self, trace_id: str) -> Trace | None:
        row = await self._db.fetchone("SELECT body FROM orch_traces WHERE trace_id = ?", (trace_id,))
        return Trace.model_validate_json(row[0]) if row is not None else None

    async def page(self, query: TraceListQuery) -> tuple[list[TraceSummary], int, bool]:
        """The page of summaries `query` asks for, newest first, how many traces match its filters and whether
        that count stopped short (a text search's, see COUNT_CAP and SCAN_ROWS): then it is a lower bound. Heavy
        reads: on the long-reads connection, all in one snapshot so the total is the page's."""
        async with self._db.long_reads.snapshot() as conn:
            if query.q is not None:
                return await _search_page(conn, query)
            rows = list(await conn.execute_fetchall(*page_statement(query)))
            total = 0
            for count_sql, count_params in count_statements(query):
                counted = list(await conn.execute_fetchall(count_sql, count_params))
                total += int(counted[0][0] or 0)
        return [_summary(row) for row in rows], total, False

    async def save_render(self, render: UiRender) -> None:
        await self._db.execute(
            "INSERT INTO orch_ui_renders (render_id, trace_id, recorded_at, principal, size_bytes, blocks, meta) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                render.render_id,
                render.trace_id,
                stored_time(render.recorded_at),
                render.principal,
                render.size_bytes,
                json.dumps([block.model_dump(mode="json") for block in render.blocks], ensure_ascii=False),
                json.dumps(render.meta, ensure_ascii=False),
            ),
        )

    async def latest_render(self, trace_id: str) -> UiRender | None:
        row = await self._db.fetchone(
            "SELECT render_id, trace_id, recorded_at, principal, size_bytes, blocks, meta FROM orch_ui_renders "
            "WHERE trace_id = ? ORDER BY seq DESC LIMIT 1",
            (trace_id,),
        )
        if row is None:
            return None
        return UiRender(
            render_id=row["render_id"],
            trace_id=row["trace_id"],
            recorded_at=datetime.fromisoformat(row["recorded_at"]),
            principal=row["principal"],
            size_bytes=row["size_bytes"],
            blocks=json.loads(row["blocks"]),
            meta=json.loads(row["meta"]),
        )

    async def replan_totals(self) -> ReplanTotals:
        totals = await self._db.fetchone(
            "SELECT COUNT(*), COALESCE(SUM(replanned), 0), MAX(CASE WHEN replanned THEN at END), "
            "MAX(CASE WHEN exhausted THEN at END) FROM orch_replan_events"
        )
        by_trigger = await self._db.fetchall(
            "SELECT trigger_type, COUNT(*) FROM orch_replan_events GROUP BY trigger_type ORDER BY trigger_type"
        )
        assert totals is not None  # an aggregate always answers one row
        return ReplanTotals(
            decisions=int(totals[0]),
            replanned=int(totals[1]),
            last_replan_at=datetime.fromisoformat(totals[2]) if totals[2] else None,
            last_exhausted_at=datetime.fromisoformat(totals[3]) if totals[3] else None,
            by_trigger={row[0]: int(row[1]) for row in by_trigger},
        )


SNIPPET_CHARS = 120
_SUMMARY = (
    f"trace_id, created_at, feature, status, route, duration_ms, substr(question, 1, {SNIPPET_CHARS}), "
    "applied_assets, test_mode"
)
_NEWEST_FIRST = "ORDER BY t.created_at DESC, t.seq DESC"
_TRACES = "orch_traces AS t"
# A text search reads the search index's matches first, newest first (CROSS JOIN keeps that order), each then its
# row: the other filters are checked on the matches' rows, and the walk stops once the page (or the count) is full.
_SEARCHED = "orch_traces_search CROSS JOIN orch_traces AS t ON t.seq = orch_traces_search.rowid"
_MATCH_NEWEST_FIRST = "ORDER BY orch_traces_search.rowid DESC"
_FIRST_SEQ = -(2**63)
_LAST_SEQ = 2**63 - 1
# A word too short for the trigram index is matched on the row's question and feature: the columns before the
# body, so the scan never follows a body's overflow pages (a one- or two-letter word names no tool anyway).
_TEXT_LIKE = "(t.question LIKE ? ESCAPE '\\' OR t.feature LIKE ? ESCAPE '\\')"
Statement = tuple[str, list[Any]]


def page_statement(query: TraceListQuery) -> Statement:
    """The page's summaries, without a text search. The inner select reads only index entries to find the page's
    rows; the outer one reads those rows alone."""
    where, params = _where(query, query.from_, query.to)
    inner = f"SELECT t.seq FROM {_TRACES} WHERE {where} {_NEWEST_FIRST} LIMIT ? OFFSET ?"
    sql = f"SELECT {_SUMMARY} FROM orch_traces WHERE seq IN ({inner}) ORDER BY created_at DESC, seq DESC"
    return sql, [*params, query.limit, query.offset]


async def _search_page(conn: aiosqlite.Connection, query: TraceListQuery) -> tuple[list[TraceSummary], int, bool]:
    """A text search's page and count. One walk over its matches in the search index's own order, the fastest,
    counts them up to COUNT_CAP + 1 and, when they are fewer, holds them all: the page is their newest. More,
    and a second walk, newest first, stops at the page's end; `total` is then a lower bound: at least COUNT_CAP
    and never below what the pages up to this one showed."""
    [(matched, window_full, newest)] = list(await conn.execute_fetchall(*search_count_statement(query)))
    if matched > COUNT_CAP:
        seqs = [row[0] for row in await conn.execute_fetchall(*search_page_statement(query))]
    else:
        seqs = json.loads(newest)
    rows = list(await conn.execute_fetchall(*summaries_statement(seqs)))
    summaries = [_summary(row) for row in rows]
    if matched > COUNT_CAP:
        return summaries, max(COUNT_CAP, query.offset + len(summaries)), True
    return summaries, matched, bool(window_full)


def search_count_statement(query: TraceListQuery) -> Statement:
    """One row: how many traces a text search matches, up to COUNT_CAP + 1; whether its scan window was full (1/0,
    see SCAN_ROWS); and the page's seqs (JSON), right when the count is at most COUNT_CAP."""
    search = _search(query)
    if search.source == _SEARCHED and not search.row_conditions:  # the search index alone: no row is read
        walk, params = f"SELECT rowid AS seq FROM orch_traces_search WHERE {search.match}", search.match_params
    else:
        walk, params = f"SELECT t.seq FROM {search.source} WHERE {search.where}", search.params
    window_full, window_params = search.window_full or ("0", [])
    page = "SELECT seq FROM matched ORDER BY seq DESC LIMIT ? OFFSET ?"
    sql = (
        f"WITH matched AS MATERIALIZED ({walk} LIMIT ?) SELECT (SELECT COUNT(*) FROM matched), {window_full}, "
        f"(SELECT json_group_array(seq) FROM ({page}))"
    )
    return sql, [*params, COUNT_CAP + 1, *window_params, query.limit, query.offset]


def search_page_statement(query: TraceListQuery) -> Statement:
    """The seqs of a text search's page: its matches walked newest first, up to the page's end."""
    search = _search(query)
    sql = f"SELECT t.seq FROM {search.source} WHERE {search.where} {search.order} LIMIT ? OFFSET ?"
    return sql, [*search.params, query.limit, query.offset]


def summaries_statement(seqs: Sequence[int]) -> Statement:
    """The summaries of these traces, newest first."""
    return (
        f"SELECT {_SUMMARY} FROM orch_traces WHERE seq IN (SELECT value FROM json_each(?)) "
        "ORDER BY created_at DESC, seq DESC",
        [json.dumps(list(seqs))],
    )


def count_statements(query: TraceListQuery) -> list[Statement]:
    """Statements whose counts add up to the total of filters without a text search: the per-day counts of the
    whole days in the range, and the partial days at its ends by the index."""
    whole_days, partial_days = _day_split(query.from_, query.to)
    statements = []
    for low, high in partial_days:
        where, params = _where(query, low, high)
        statements.append((f"SELECT COUNT(*) FROM {_TRACES} WHERE {where}", params))
    if whole_days is not None:
        first_day, end_day = whole_days
        conditions, params = _equal(query, "")
        if first_day is not None:
            conditions.append("day >= ?")
            params.append(first_day.date().isoformat())
        if end_day is not None:
            conditions.append("day < ?")
            params.append(end_day.date().isoformat())
        where = " AND ".join(conditions) or "1"
        statements.append((f"SELECT SUM(n) FROM orch_trace_counts WHERE {where}", params))
    return statements


Bounds = tuple[datetime | None, datetime | None]  # [low, high); None: unbounded


def _midnight(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _day_split(low: datetime | None, high: datetime | None) -> tuple[Bounds | None, list[Bounds]]:
    """[low, high) as the whole UTC days it covers (None when it covers none) and the partial days at its ends."""
    first_day = None if low is None else _midnight(low) if low == _midnight(low) else _midnight(low) + timedelta(days=1)
    end_day = None if high is None else _midnight(high)
    if first_day is not None and end_day is not None and first_day >= end_day:
        return None, [(low, high)]  # within one day, or across one midnight
    partial_days: list[Bounds] = []
    if low is not None and first_day is not None and low < first_day:
        partial_days.append((low, first_day))
    if high is not None and end_day is not None and end_day < high:
        partial_days.append((end_day, high))
    return (first_day, end_day), partial_days


def _equal(query: TraceListQuery, table: str = "t.") -> tuple[list[str], list[Any]]:
    conditions, params = [], []
    for column, value in (("feature", query.feature), ("status", query.status), ("route", query.route)):
        if value is not None:
            conditions.append(f"{table}{column} = ?")
            params.append(value)
    return conditions, params


def _where(query: TraceListQuery, low: datetime | None, high: datetime | None) -> tuple[str, list[Any]]:
    """The conditions of the filters other than `q`, with `created_at` in [low, high), and their parameters."""
    conditions, params = _equal(query)
    if low is not None:
        conditions.append("t.created_at >= ?")
        params.append(stored_time(low))
    if high is not None:
        conditions.append("t.created_at < ?")
        params.append(stored_time(high))
    return " AND ".join(conditions) or "1", params


@dataclass(frozen=True, slots=True)
class _Search:
    """A text search's rows: `source` where `match` (on the search index) and `row_conditions` (on the rows) hold,
    in `order`, newest first. `window_full`: whether a scan of the newest traces left older ones unread, if it may."""

    source: str
    match: str
    match_params: list[Any]
    row_conditions: list[str]
    row_params: list[Any]
    order: str
    window_full: Statement | None = None

    @property
    def where(self) -> str:
        return " AND ".join([self.match, *self.row_conditions])

    @property
    def params(self) -> list[Any]:
        return [*self.match_params, *self.row_params]


def _search(query: TraceListQuery) -> _Search:
    """A text search's rows, newest first: the search index's matches within the time range (as bounds on seq)
    and their rows; or, when every word is too short for the index, the newest SCAN_ROWS traces the other filters
    match, the words checked on each."""
    assert query.q is not None
    expression, short_words = search_terms(query.q)
    likes: list[str] = []
    like_params: list[Any] = []
    for word in short_words:
        pattern = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        likes.append(_TEXT_LIKE)
        like_params += [pattern] * 2
    if expression is None:
        where, params = _where(query, query.from_, query.to)
        # The newest trace past the SCAN_ROWS newest (an index walk): the words are looked for only in newer ones.
        # Bounded by its time too, so that the walk is a range of the filter's index, and by its seq for ties.
        beyond = f"SELECT {{}} FROM {_TRACES} WHERE {where} {_NEWEST_FIRST} LIMIT 1 OFFSET ?"
        beyond_params = [*params, SCAN_ROWS]
        window = [
            f"t.created_at >= COALESCE(({beyond.format('t.created_at')}), '')",
            f"t.seq > COALESCE(({beyond.format('t.seq')}), ?)",
        ]
        return _Search(
            _TRACES,
            where,
            params,
            [*window, *likes],
            [*beyond_params, *beyond_params, _FIRST_SEQ, *like_params],
            _NEWEST_FIRST,
            (f"EXISTS ({beyond.format('1')})", beyond_params),
        )
    match: list[str] = ["orch_traces_search MATCH ?"]
    match_params: list[Any] = [expression]
    # A time a few centuries away has a key past SQLite's 64-bit integers: bounded to them, it bounds as well.
    if query.from_ is not None:
        match.append("orch_traces_search.rowid >= ?")
        match_params.append(_in_range(order_key(query.from_)))
    if query.to is not None:
        match.append("orch_traces_search.rowid < ?")
        match_params.append(_in_range(order_key(query.to)))
    equal, equal_params = _equal(query)
    return _Search(
        _SEARCHED,
        " AND ".join(match),
        match_params,
        [*equal, *likes],
        [*equal_params, *like_params],
        _MATCH_NEWEST_FIRST,
    )


def _in_range(key: int) -> int:
    return min(max(key, _FIRST_SEQ), _LAST_SEQ)


def search_terms(q: str) -> tuple[str | None, list[str]]:
    """`q` split at spaces, every word required: the words of three or more characters as an FTS5 expression for
    the trigram index (each a quoted phrase, so any character is literal), and the shorter ones, which the index
    cannot look up and which are matched against the row's question and feature instead."""
    long_words: list[str] = []
    short_words: list[str] = []
    for word in q.split():
        (long_words if len(word) >= 3 else short_words).append(word)
    expression = " AND ".join('"' + word.replace('"', '""') + '"' for word in long_words)
    return expression or None, short_words


def _summary(row: Any) -> TraceSummary:
    trace_id, created_at, feature, status, route, duration_ms, snippet, applied, test_mode = tuple(row)[:9]
    return TraceSummary(
        trace_id=trace_id,
        created_at=datetime.fromisoformat(created_at),
        feature=feature,
        status=status,
        route=route,
        duration_ms=duration_ms,
        question_snippet=snippet,
        applied_asset_versions=json.loads(applied),
        test_mode=bool(test_mode),
    )
