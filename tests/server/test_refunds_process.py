"""POST /ops/api/refunds/process-once: exactly one pending entry per call, its evidence with its entry id; the
policy decides at the refund; a broken or slow decision point fails closed; Idempotency-Key semantics; fifty
concurrent calls never process one entry twice."""

import asyncio
import json
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer
from live_support import add_request, add_requests, live, policy_server_app, refunded
from ops_constants import ADMIN_TOKEN, MakeSettings
from server_support import StartApp, bearer

from server.clock import ManualClock
from server.keys import DB, TOKENS
from server.services.policy.engine import PolicyEngine
from server.services.policy.point import policy_app
from server.storage.refunds import LedgerFilter

PROCESS = "/ops/api/refunds/process-once"
ALLOW = json.dumps({"decision": "ALLOW", "rule": "default.allow", "reason": "ok"}).encode()


async def process(
    client: TestClient, body: Any = None, *, key: str | None = None, token: str = ADMIN_TOKEN
) -> ClientResponse:
    headers = bearer(token)
    if key is not None:
        headers["Idempotency-Key"] = key
    if body is None:
        return await client.post(PROCESS, headers=headers)
    return await client.post(PROCESS, json=body, headers=headers)


async def test_processes_the_oldest_pending_entry_and_answers_its_evidence(client: TestClient) -> None:
    first, second = await add_requests(client.app, 2)
    response = await process(client)
    body = await response.json()
    assert response.status == 200, body
    assert body["processed"] is True
    assert body["entry_id"] == first
    assert body["status"] == "refunded"
    evidence = body["evidence"]
    assert evidence["entry_id"] == first
    assert evidence["decision"] == "ALLOW"
    assert evidence["rule"] == "default.allow"
    assert evidence["outcome"] == "executed"
    assert evidence["proof_status"] == "signed"
    assert evidence["redaction_status"] == "customer data hidden"
    assert all(ref.startswith(("dep_", "cust_")) for ref in evidence["resource_refs"])
    assert await live(client.app).refunds.status_of(second) == "pending"


async def test_the_refund_is_paid_only_on_allow(client: TestClient) -> None:
    allowed = await add_request(client.app)
    denied = await add_request(client.app, suspicious=True)
    held = await add_request(client.app, amount_minor=60_000)
    answers = [await (await process(client)).json() for _ in range(3)]
    assert [(a["entry_id"], a["status"], a["evidence"]["rule"]) for a in answers] == [
        (allowed, "refunded", "default.allow"),
        (denied, "denied", "risk.deposit_suspicious"),
        (held, "awaiting_approval", "amount.approval"),
    ]
    assert list(refunded(client.app)) == [
        (
            await live(client.app).refunds.page(
                before=None, limit=10, where=LedgerFilter(status="refunded"), with_customer=False
            )
        )[0].deposit_id
    ]


async def test_nothing_pending_is_a_clear_answer(client: TestClient) -> None:
    response = await process(client)
    assert response.status == 200
    assert await response.json() == {
        "processed": False,
        "entry_id": None,
        "status": None,
        "evidence": None,
        "detail": "no pending refund requests: nothing was processed",
    }


async def test_a_named_entry_is_processed_only_while_pending(client: TestClient) -> None:
    first, second = await add_requests(client.app, 2)
    response = await process(client, {"entry_id": second})
    assert (await response.json())["entry_id"] == second
    again = await process(client, {"entry_id": second})
    assert again.status == 409
    assert await again.json() == {"detail": f"ledger entry {second} is refunded, not pending"}
    missing = await process(client, {"entry_id": 999})
    assert missing.status == 404
    assert await live(client.app).refunds.status_of(first) == "pending"


async def test_a_bad_body_is_400_with_the_fields(client: TestClient) -> None:
    response = await process(client, {"entry_id": "x", "extra": 1})
    assert response.status == 400
    locs = [error["loc"] for error in (await response.json())["detail"]]
    assert ["body", "entry_id"] in locs and ["body", "extra"] in locs


async def test_fifty_concurrent_calls_process_each_entry_once(client: TestClient) -> None:
    entries = await add_requests(client.app, 30)
    responses = await asyncio.gather(*(process(client) for _ in range(50)))
    bodies = [await r.json() for r in responses]
    assert all(r.status == 200 for r in responses)
    processed = [b["entry_id"] for b in bodies if b["processed"]]
    assert sorted(processed) == entries  # each once, none twice
    assert sum(not b["processed"] for b in bodies) == 20
    assert len(refunded(client.app)) == 30
    assert all(len(payouts) == 1 for payouts in refunded(client.app).values())


async def test_an_idempotent_retry_answers_the_same_bytes(client: TestClient) -> None:
    await add_requests(client.app, 2)
    first = await process(client, {}, key="retry-1")
    retry = await process(client, {}, key="retry-1")
    assert first.status == retry.status == 200
    assert await first.read() == await retry.read()
    assert await live(client.app).refunds.counts() == {"refunded": 1, "pending": 1}


async def test_the_same_key_with_another_body_is_422(client: TestClient) -> None:
    first, _ = await add_requests(client.app, 2)
    assert (await process(client, {}, key="k")).status == 200
    response = await process(client, {"entry_id": first}, key="k")
    assert response.status == 422
    assert await response.json() == {"detail": "this Idempotency-Key was used with a different request body"}


async def test_keys_belong_to_their_principal(client: TestClient) -> None:
    await add_requests(client.app, 2)
    other = await client.app[TOKENS].create("op2", "refunds:operator")
    one = await (await process(client, {}, key="shared")).json()
    two = await (await process(client, {}, key="shared", token=other)).json()
    assert one["entry_id"] != two["entry_id"]


async def test_a_retry_while_the_first_runs_is_409(
    start_app: StartApp, make_settings: MakeSettings, aiohttp_server: Any
) -> None:
    slow = await aiohttp_server(policy_server_app(delay=0.5, body=ALLOW))
    client = await start_app(make_settings(policy_url=str(slow.make_url("")), policy_timeout_seconds=5))
    await add_request(client.app)
    running = asyncio.ensure_future(process(client, {}, key="slow"))
    await asyncio.sleep(0.2)
    retry = await process(client, {}, key="slow")
    assert retry.status == 409
    assert "still being processed" in (await retry.json())["detail"]
    first = await running
    assert (await first.json())["status"] == "refunded"
    replay = await process(client, {}, key="slow")
    assert await replay.read() == await first.read()


async def _with_policy(
    start_app: StartApp, make_settings: MakeSettings, server: TestServer, **overrides: Any
) -> TestClient:
    return await start_app(make_settings(policy_url=str(server.make_url("")), **overrides))


async def test_a_broken_decision_point_fails_closed(
    start_app: StartApp, make_settings: MakeSettings, aiohttp_server: Any
) -> None:
    broken = await aiohttp_server(policy_server_app(status=500))
    client = await _with_policy(start_app, make_settings, broken)
    entry = await add_request(client.app)
    body = await (await process(client)).json()
    assert body["status"] == "failed_closed"
    assert body["evidence"]["outcome"] == "failed_closed"
    assert body["evidence"]["decision"] is None
    assert body["evidence"]["rule"] == "decision_point.unavailable"
    assert refunded(client.app) == {}
    assert await live(client.app).refunds.status_of(entry) == "failed_closed"


async def test_a_slow_decision_point_fails_closed(
    start_app: StartApp, make_settings: MakeSettings, aiohttp_server: Any
) -> None:
    slow = await aiohttp_server(policy_server_app(delay=2.0, body=ALLOW))
    client = await _with_policy(start_app, make_settings, slow, policy_timeout_seconds=0.2)
    await add_request(client.app)
    body = await (await process(client)).json()
    assert body["evidence"]["outcome"] == "failed_closed"
    assert body["evidence"]["latency_ms"] >= 150
    assert refunded(client.app) == {}


async def test_a_remote_decision_point_decides_as_the_local_one(
    start_app: StartApp, make_settings: MakeSettings, aiohttp_server: Any
) -> None:
    remote = await aiohttp_server(policy_app(PolicyEngine()))
    client = await _with_policy(start_app, make_settings, remote)
    await add_request(client.app, suspicious=True)
    await add_request(client.app)
    first = await (await process(client)).json()
    second = await (await process(client)).json()
    assert (first["evidence"]["decision"], second["evidence"]["decision"]) == ("DENY", "ALLOW")


async def test_an_invalid_idempotency_key_is_400(client: TestClient) -> None:
    response = await process(client, {}, key="has space")
    assert response.status == 400


async def test_keys_are_kept_24_hours_then_forgotten(client: TestClient, clock: ManualClock) -> None:
    await add_requests(client.app, 3)
    first = await process(client, {}, key="day")
    clock.advance(23 * 3600)
    assert await (await process(client, {}, key="day")).read() == await first.read()
    assert (await process(client, {"entry_id": 3}, key="day")).status == 422
    clock.advance(2 * 3600)
    fresh = await process(client, {}, key="day")
    assert (await fresh.json())["entry_id"] == 2


async def test_an_entry_a_stopped_worker_left_mid_way_is_closed_as_failed_closed(
    start_app: StartApp, make_settings: MakeSettings
) -> None:
    settings = make_settings()
    first = await start_app(settings)
    entry = await add_request(first.app)
    await first.app[DB].execute("UPDATE refund_requests SET status = 'processing' WHERE entry_id = ?", (entry,))
    second = await start_app(settings)  # a restart on the same data
    assert await live(second.app).refunds.status_of(entry) == "failed_closed"
    evidence = await live(second.app).evidence.latest_for("refund")
    assert evidence is not None
    assert (evidence.entry_id, evidence.outcome, evidence.rule) == (entry, "failed_closed", "worker.interrupted")
    assert refunded(second.app) == {}


async def test_a_worker_that_fails_at_the_refund_fails_closed(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(deposit_id: str, amount_minor: int) -> str:
        raise RuntimeError("the payment system is down")

    monkeypatch.setattr(live(client.app).deposits, "refund", broken)
    entry = await add_request(client.app)
    body = await (await process(client)).json()
    assert (body["entry_id"], body["status"]) == (entry, "failed_closed")
    assert (body["evidence"]["decision"], body["evidence"]["rule"]) == (None, "worker.error")
    status = await (await client.get("/ops/api/refunds/agent/status", headers=bearer(ADMIN_TOKEN))).json()
    assert status["status"] == "degraded"
    assert status["error_counts"] == {"failed_closed": 1, "worker_errors": 1}


async def test_a_server_error_is_a_500_that_refunds_nothing(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def busy(entry_id: int | None = None) -> None:
        raise RuntimeError("database is locked: /srv/ops/ops.sqlite3")

    entry = await add_request(client.app)
    monkeypatch.setattr(live(client.app).refunds, "claim", busy)
    response = await process(client)
    assert response.status == 500
    body = await response.json()
    assert list(body) == ["detail"] and "sqlite3" not in body["detail"]
    assert refunded(client.app) == {}
    assert await live(client.app).refunds.status_of(entry) == "pending"


async def test_an_entry_whose_evidence_could_not_be_written_is_never_taken_again(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = await add_request(client.app)
    evidence = live(client.app).evidence

    async def full(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(evidence, "record", full)
    assert (await process(client)).status == 500
    monkeypatch.undo()
    # Left `processing`: no later call refunds it again; a restart closes it as failed closed (worker.recover).
    assert await live(client.app).refunds.status_of(entry) == "processing"
    again = await (await process(client)).json()
    assert again["processed"] is False
    assert sum(len(made) for made in refunded(client.app).values()) == 1
