"""The ledger's order and its cost: pages go newest first by creation time (entry id breaking ties), whatever order
the entries came in, and every filter — none, cursor, status, decision, time — is read as a range of an index in
that order, never a scan of the table or a sort of it: what keeps a page as fast at 1,000,000 entries as at 10,000
(bench/refunds_ledger.py)."""

import itertools
import re
from datetime import UTC, datetime, timedelta

import pytest
from live_support import add_request
from server_support import Ops

from server.keys import DB
from server.storage.database import Database
from server.storage.refunds import LedgerFilter, page_statement

LEDGER = "/ops/api/refunds/ledger"
T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


async def test_pages_go_newest_first_by_creation_time_whatever_the_arrival_order(ops: Ops) -> None:
    # Arriving out of order: entry ids 1..5 created at 12:03, 12:01, 12:04, 12:01, 12:00.
    minutes = [3, 1, 4, 1, 0]
    ids = [await add_request(ops.app, requested_at=T0 + timedelta(minutes=m)) for m in minutes]
    seen, cursor = [], None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = await (await ops.get(LEDGER, params=params)).json()
        seen += [item["entry_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    # 12:04, 12:03, then the two at 12:01 newest entry first, then 12:00.
    assert seen == [ids[2], ids[0], ids[3], ids[1], ids[4]]
    window = {"since": (T0 + timedelta(minutes=1)).isoformat(), "until": (T0 + timedelta(minutes=4)).isoformat()}
    page = await (await ops.get(LEDGER, params={**window, "limit": "1"})).json()
    rest = await (await ops.get(LEDGER, params={**window, "cursor": page["next_cursor"]})).json()
    assert [i["entry_id"] for i in page["items"] + rest["items"]] == [ids[0], ids[3], ids[1]]


async def test_an_unknown_cursor_is_an_empty_page(ops: Ops) -> None:
    await add_request(ops.app)
    page = await (await ops.get(LEDGER, params={"cursor": "999"})).json()
    assert page == {"items": [], "next_cursor": None}


FILTERS = {
    "none": LedgerFilter(),
    "status": LedgerFilter(status="failed_closed"),
    "decision": LedgerFilter(decision="DENY"),
    "since": LedgerFilter(since=T0),
    "until": LedgerFilter(until=T0),
    "window": LedgerFilter(since=T0, until=T0 + timedelta(days=1)),
    "status and window": LedgerFilter(status="refunded", since=T0, until=T0 + timedelta(days=1)),
}


async def _plan(db: Database, sql: str, params: list[object]) -> str:
    rows = await db.fetchall(f"EXPLAIN QUERY PLAN {sql}", params)
    return "\n".join(str(row[3]) for row in rows)


@pytest.mark.parametrize("name", list(FILTERS))
@pytest.mark.parametrize("after", [None, ("2026-03-01T12:00:00.000000+00:00", 42)])
async def test_each_filter_reads_an_index_range_in_page_order(
    ops: Ops, name: str, after: tuple[str, int] | None
) -> None:
    db = ops.app[DB]
    # Enough rows, with statistics, that the planner weighs its choices as it does on a real ledger.
    for _ in itertools.repeat(None, 3):
        await add_request(ops.app)
    await db.execute("ANALYZE")
    for with_customer in (False, True):
        sql, params = page_statement(FILTERS[name], after=after, limit=51, with_customer=with_customer)
        plan = await _plan(db, sql, params)
        ledger = next(line for line in plan.splitlines() if line.startswith(("SCAN r", "SEARCH r")))
        # The ledger's rows come from one of its indexes (a range, or in order with the LIMIT stopping the walk)...
        assert re.fullmatch(r"(SCAN|SEARCH) r USING (COVERING )?INDEX refund_requests_\w+( \(.*\))?", ledger), plan
        assert "TEMP B-TREE" not in plan, plan  # ...in page order: nothing is sorted
