"""The operator's refund routes: the fixed 401 body, 403 without the scope, the agent status, and the ledger's
keyset pages, filters and masking (customer fields only with refunds:pii, every such read audited)."""

import json

import pytest
from aiohttp.test_utils import TestClient
from live_support import add_request, add_requests, live
from ops_constants import ADMIN_TOKEN
from server_support import Ops, bearer

from server.clock import ManualClock

AGENT_STATUS = "/ops/api/refunds/agent/status"
LEDGER = "/ops/api/refunds/ledger"
PROCESS = "/ops/api/refunds/process-once"
PROTECTED = [
    ("GET", AGENT_STATUS),
    ("GET", LEDGER),
    ("GET", f"{LEDGER}/1"),
    ("GET", "/ops/api/refunds/evidence/1"),
    ("POST", PROCESS),
]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
async def test_no_or_a_bad_token_is_401_with_the_contracts_body(client: TestClient, method: str, path: str) -> None:
    for headers in ({}, bearer("not-a-token"), {"Authorization": "Basic eDp5"}):
        response = await client.request(method, path, headers=headers)
        assert response.status == 401
        assert await response.read() == b'{"detail":"Invalid or missing credentials"}'


@pytest.mark.parametrize(("method", "path"), PROTECTED)
async def test_a_token_without_the_operator_scope_is_403(ops: Ops, method: str, path: str) -> None:
    token = await ops.create_token("pii-only", "refunds:pii,ops:read")
    response = await ops.client.request(method, path, headers=bearer(token))
    assert response.status == 403
    assert "refunds:operator" in (await response.json())["detail"]


async def test_agent_status_reports_the_workers_state(ops: Ops) -> None:
    await add_requests(ops.app, 2)
    await live(ops.app).agents.worker.process_once()
    body = await (await ops.get(AGENT_STATUS)).json()
    assert body == {
        "agent_id": "retail-refund-agent",
        "status": "active",
        "running": True,
        "queue_depth": 1,
        "last_action": "refund.create",
        "last_decision": "ALLOW",
        "last_outcome": "executed",
        "processed": 1,
        "error_counts": {"failed_closed": 0, "worker_errors": 0},
        "policy_point": "in-process",
        "redaction_status": "customer data hidden",
    }


async def test_the_ledger_masks_customer_fields_without_refunds_pii(ops: Ops) -> None:
    token = await ops.create_token("operator", "refunds:operator")
    entry = await add_request(ops.app)
    response = await ops.get(LEDGER, token=token)
    raw = await response.text()
    body = json.loads(raw)
    assert response.status == 200
    item = body["items"][0]
    assert item["entry_id"] == entry and item["status"] == "pending"
    assert item["customer"] == {
        "masked": True,
        "name": "A*** L***",
        "email": "a***@***.com",
        "card_number": "**** **** **** 1111",
        "card_expiry": "**/**",
        "order_payload": None,
    }
    for secret in ("Lovelace", "ada.lovelace@example.com", "4111111111111111", "12/29", "please refund Ada"):
        assert secret not in raw
    assert not [r for r in await ops.audit_rows() if r["action"] == "refunds.ledger.unmasked"]


async def test_the_ledger_unmasks_for_refunds_pii_and_audits_the_read(ops: Ops) -> None:
    token = await ops.create_token("privileged", "refunds:operator,refunds:pii")
    entry = await add_request(ops.app)
    body = await (await ops.get(LEDGER, token=token)).json()
    customer = body["items"][0]["customer"]
    assert customer["masked"] is False
    assert customer["email"] == "ada.lovelace@example.com"
    assert customer["order_payload"]["note"] == "please refund Ada"
    unmasked = [r for r in await ops.audit_rows() if r["action"] == "refunds.ledger.unmasked"]
    assert len(unmasked) == 1
    assert unmasked[0]["principal"] == "privileged"
    assert json.loads(unmasked[0]["detail"])["entry_ids"] == [entry]


async def test_a_pii_token_may_ask_for_masked_fields(ops: Ops) -> None:
    token = await ops.create_token("privileged", "refunds:operator,refunds:pii")
    await add_request(ops.app)
    body = await (await ops.get(LEDGER, token=token, params={"masked": "true"})).json()
    assert body["items"][0]["customer"]["masked"] is True
    assert not [r for r in await ops.audit_rows() if r["action"] == "refunds.ledger.unmasked"]


async def test_the_ledger_pages_by_keyset_newest_first(ops: Ops) -> None:
    entries = await add_requests(ops.app, 5)
    seen: list[int] = []
    cursor = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = await (await ops.get(LEDGER, params=params)).json()
        seen += [item["entry_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == entries[::-1]


async def test_the_ledger_filters_by_status_decision_and_time(ops: Ops, clock: ManualClock) -> None:
    first = await add_request(ops.app, suspicious=True)
    clock.advance(60)
    second = await add_request(ops.app)
    worker = live(ops.app).agents.worker
    await worker.process_once()
    await worker.process_once()
    denied = await (await ops.get(LEDGER, params={"decision": "DENY"})).json()
    assert [i["entry_id"] for i in denied["items"]] == [first]
    refunded = await (await ops.get(LEDGER, params={"status": "refunded"})).json()
    assert [i["entry_id"] for i in refunded["items"]] == [second]
    since = (clock.now()).isoformat()
    recent = await (await ops.get(LEDGER, params={"since": since})).json()
    assert [i["entry_id"] for i in recent["items"]] == [second]
    older = await (await ops.get(LEDGER, params={"until": since})).json()
    assert [i["entry_id"] for i in older["items"]] == [first]


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "201"},
        {"cursor": "abc"},
        {"cursor": "9" * 19},  # past SQLite's integers: was a 500
        {"status": "lost"},
        {"decision": "MAYBE"},
        {"x": "1"},
        {"since": "0.5"},  # not a date-time, though pydantic alone takes it as Unix seconds: was a 200
        {"until": "2026-01-01T00:00:00"},  # no offset: was read as the server's local time
        {"until": "2026-01-01"},
    ],
)
async def test_bad_ledger_parameters_are_400(ops: Ops, params: dict[str, str]) -> None:
    response = await ops.get(LEDGER, params=params)
    assert response.status == 400
    assert isinstance((await response.json())["detail"], list)


async def test_a_refused_process_once_is_on_record_as_not_run(ops: Ops) -> None:
    entry = await add_request(ops.app)
    assert (await ops.client.post(PROCESS, json={"entry_id": entry}, headers=bearer(ADMIN_TOKEN))).status == 200
    again = await ops.client.post(PROCESS, json={"entry_id": entry}, headers=bearer(ADMIN_TOKEN))
    missing = await ops.client.post(PROCESS, json={"entry_id": 999}, headers=bearer(ADMIN_TOKEN))
    assert (again.status, missing.status) == (409, 404)
    rows = [r for r in await ops.audit_rows() if r["action"] in ("refund.process", "refunds.process_once")]
    assert [(r["action"], r["outcome"], r["status"]) for r in rows] == [
        ("refund.process", "executing", 0),
        ("refunds.process_once", "ok", 200),
        ("refund.process", "executing", 0),
        ("refund.process", "not_executed", 409),
        ("refunds.process_once", "entry_not_pending", 409),
        ("refund.process", "executing", 0),
        ("refund.process", "not_executed", 404),
        ("refunds.process_once", "entry_not_found", 404),
    ]
