"""Paging the audit log: every entry is reachable, newest first, a page at a time by `next_cursor`, with `q` and
`changes_only` too; a cursor the server did not give out is a 400 in the control envelope."""

import asyncio
import base64
from datetime import UTC, datetime
from typing import Any

import pytest

from server.keys import AUDIT, SETTINGS
from server.storage.audit import AuditRecord
from server.storage.audit_appender import AuditAppender


def _record(n: int, method: str = "GET") -> AuditRecord:
    return AuditRecord(
        at=datetime(2026, 11, 23, 8, 0, tzinfo=UTC).timestamp() + n,
        principal="admin",
        request_id=f"req-{n}",
        method=method,
        path="/ops/status" if method == "GET" else "/ops/command",
        action="GET /ops/status" if method == "GET" else "command.request",
        target=None if method == "GET" else "connector",
        outcome="ok",
        status=200,
        detail={} if n % 2 else {"parity": "even"},
    )


async def _write(ops, records: list[AuditRecord]) -> None:
    """Append straight to the file, off the event loop: the app may be mid-transaction on it."""
    await ops.app[AUDIT].flush()

    def append() -> None:
        appender = AuditAppender(ops.app[SETTINGS].database_path)
        try:
            appender.append(records)
        finally:
            appender.close()

    await asyncio.to_thread(append)


async def _all_pages(ops, **params: str) -> tuple[list[str], list[int]]:
    """Follow next_cursor to the end: the request ids seen, and the size of each page."""
    seen: list[str] = []
    sizes: list[int] = []
    query: dict[str, Any] = dict(params)
    while True:
        response = await ops.client.get("/ops/audit", params=query, headers={"Authorization": "Bearer admin-secret"})
        body = await response.json()
        assert response.status == 200, body
        seen += [entry["request_id"] for entry in body["results"]]
        sizes.append(len(body["results"]))
        if body["next_cursor"] is None:
            return seen, sizes
        query["cursor"] = body["next_cursor"]


async def test_every_entry_is_reachable_beyond_the_newest_500(ops):
    await _write(ops, [_record(n) for n in range(1, 1201)])

    seen, sizes = await _all_pages(ops, limit="500")

    assert seen == [f"req-{n}" for n in range(1200, 0, -1)]
    assert sizes == [500, 500, 200]


async def test_the_last_page_says_so_even_when_it_is_full(ops):
    await _write(ops, [_record(n) for n in range(1, 5)])

    seen, sizes = await _all_pages(ops, limit="2")

    assert sizes == [2, 2]
    assert seen == ["req-4", "req-3", "req-2", "req-1"]


async def test_pages_of_a_search_hold_only_matches(ops):
    await _write(ops, [_record(n) for n in range(1, 11)])

    seen, sizes = await _all_pages(ops, limit="2", q="even")

    assert seen == ["req-10", "req-8", "req-6", "req-4", "req-2"]
    assert sizes == [2, 2, 1]


async def test_pages_of_changes_only_skip_reads(ops):
    await _write(ops, [_record(n, "POST" if n % 3 == 0 else "GET") for n in range(1, 13)])

    seen, _ = await _all_pages(ops, limit="3", changes_only="true")

    assert seen == ["req-12", "req-9", "req-6", "req-3"]


async def test_a_page_is_the_contracts_shape_with_next_cursor_added(ops):
    await _write(ops, [_record(n) for n in range(1, 4)])

    body = await (await ops.get("/ops/audit", params={"limit": "2"})).json()

    assert set(body) == {"limit", "results", "next_cursor"}
    assert body["limit"] == 2
    assert isinstance(body["next_cursor"], str)


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor!",
        "%%%",
        _b64("before:abc"),
        _b64("before:-5"),
        _b64("before:0"),
        _b64("before:" + "9" * 40),
        _b64("after:5"),
        _b64("before:\uff15"),  # a digit, but not an ASCII one
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        "x" * 201,
    ],
)
async def test_a_cursor_the_server_did_not_give_out_is_a_400_in_the_control_envelope(ops, cursor):
    response = await ops.get("/ops/audit", params={"cursor": cursor})

    assert response.status == 400
    body = await response.json()
    assert body["error"] == "validation_failed"
    assert "cursor" in str(body)
