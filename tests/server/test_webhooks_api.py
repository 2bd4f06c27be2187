"""The webhooks endpoints: create (the secret shown once, never again: not in reads, the audit trail or the logs),
list and get, delete, rotate, the paged delivery log and redelivery by hand; scope `webhooks:admin`; every error
in the orchestration envelope."""

import base64
import json
import logging
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from ops_constants import ADMIN_TOKEN, MakeSettings
from server_support import Ops, bearer
from webhooks_support import (
    AUTH,
    LOOPBACK,
    deliveries,
    emit,
    eventually,
    ok,
    received,
    settled,
    start_receiver,
    subscribe,
)

from server.keys import AUDIT
from server.services.orchestration.events import EVENT_TYPES
from server.settings import Settings
from shared.webhooks import WEBHOOK_EVENTS


@pytest.fixture
def settings(make_settings: MakeSettings) -> Settings:
    return make_settings(webhook_allowed_networks=LOOPBACK)


def test_the_shared_event_names_are_the_servers() -> None:
    assert WEBHOOK_EVENTS == EVENT_TYPES == ("trace.completed", "replan.decided", "regression.completed")


async def test_create_answers_the_subscription_with_its_secret(client: TestClient) -> None:
    response = await client.post(
        "/webhooks",
        json={"url": "http://127.0.0.1:9/in", "events": ["trace.completed", "replan.decided"]},
        headers=AUTH,
    )
    body = await response.json()
    assert response.status == 201 and body["code"] == 0 and body["message"] == "success"
    data = body["data"]
    assert data["webhook_id"].startswith("wh_") and data["status"] == "active"
    assert data["events"] == ["trace.completed", "replan.decided"] and data["url"] == "http://127.0.0.1:9/in"
    assert data["created_by"] == "env:OPS_API_TOKEN" and data["last_delivery"] is None
    secret = data["secret"]
    assert secret.startswith("whsec_") and len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32


async def test_the_secret_is_never_shown_again(
    client: TestClient, caplog: pytest.LogCaptureFixture, aiohttp_server: Any
) -> None:
    # What the server's own code logs (aiosqlite at DEBUG echoes every SQL parameter, whatever the table).
    caplog.set_level(logging.DEBUG, logger="server")
    receiver = await start_receiver(aiohttp_server)
    hook = await subscribe(client, receiver.url)
    rotated = await (await client.post(f"/webhooks/{hook['webhook_id']}/rotate-secret", headers=AUTH)).json()
    await emit(client.app)
    await eventually(lambda: len(receiver.requests) == 1)
    reads = [
        await (await client.get("/webhooks", headers=AUTH)).text(),
        await (await client.get(f"/webhooks/{hook['webhook_id']}", headers=AUTH)).text(),
        await (await client.get(f"/webhooks/{hook['webhook_id']}/deliveries", headers=AUTH)).text(),
    ]
    await client.app[AUDIT].flush()
    audit = json.dumps([dict(row) for row in Ops(client).table("audit_log")])
    for secret in (hook["secret"], rotated["data"]["secret"]):
        key = secret.removeprefix("whsec_")
        for text in (*reads, audit, caplog.text):
            assert key not in text
    assert all('"secret"' not in text for text in reads)


async def test_list_and_get_show_the_last_delivery(client: TestClient, aiohttp_server: Any) -> None:
    receiver = await start_receiver(aiohttp_server)
    first = await subscribe(client, receiver.url)
    second = await subscribe(client, receiver.url, ["regression.completed"])
    await emit(client.app)
    await settled(client, first["webhook_id"], 1)
    listed = (await (await client.get("/webhooks", headers=AUTH)).json())["data"]
    assert listed["total"] == 2 and listed["limit"] == 20 and listed["offset"] == 0
    assert [w["webhook_id"] for w in listed["items"]] == [first["webhook_id"], second["webhook_id"]]
    last = listed["items"][0]["last_delivery"]
    assert last["status"] == "succeeded" and last["last_status_code"] == 200 and last["event_type"] == "trace.completed"
    assert listed["items"][1]["last_delivery"] is None
    page = (await (await client.get("/webhooks?limit=1&offset=1", headers=AUTH)).json())["data"]
    assert [w["webhook_id"] for w in page["items"]] == [second["webhook_id"]] and page["total"] == 2
    one = (await (await client.get(f"/webhooks/{first['webhook_id']}", headers=AUTH)).json())["data"]
    assert one["last_delivery"]["delivery_id"] == last["delivery_id"]


async def test_delete_removes_the_subscription_and_its_pending_deliveries(
    client: TestClient, aiohttp_server: Any
) -> None:
    receiver = await start_receiver(aiohttp_server, ok(500))
    hook = await subscribe(client, receiver.url)
    await emit(client.app)
    await settled(client, hook["webhook_id"], 1)  # pending, waiting for its retry
    response = await client.delete(f"/webhooks/{hook['webhook_id']}", headers=AUTH)
    assert response.status == 200 and (await response.json())["data"]["webhook_id"] == hook["webhook_id"]
    missing = await client.get(f"/webhooks/{hook['webhook_id']}", headers=AUTH)
    body = await missing.json()
    assert missing.status == 404 and body["details"]["code"] == "webhook_not_found"
    assert Ops(client).table("webhook_deliveries") == [] and Ops(client).table("webhook_attempts") == []
    again = await client.delete(f"/webhooks/{hook['webhook_id']}", headers=AUTH)
    assert again.status == 404


async def test_the_delivery_log_is_paged_newest_first_and_filtered(client: TestClient, aiohttp_server: Any) -> None:
    receiver = await start_receiver(aiohttp_server, ok(200), ok(500), ok(200))
    hook = await subscribe(client, receiver.url)
    for n in range(3):
        await emit(client.app, {"n": n})
        await received(receiver, n + 1)  # one at a time: the log's order is theirs
    await settled(client, hook["webhook_id"], 1)
    page = await deliveries(client, hook["webhook_id"], limit=2)
    assert page["total"] == 3 and page["limit"] == 2 and len(page["items"]) == 2
    assert [json.loads(d["body"])["data"]["n"] for d in page["items"]] == [2, 1]
    rest = await deliveries(client, hook["webhook_id"], limit=2, offset=2)
    assert [json.loads(d["body"])["data"]["n"] for d in rest["items"]] == [0]
    pending = await deliveries(client, hook["webhook_id"], status="pending")
    assert pending["total"] == 1 and json.loads(pending["items"][0]["body"])["data"]["n"] == 1
    bad = await client.get(f"/webhooks/{hook['webhook_id']}/deliveries?limit=0&status=lost", headers=AUTH)
    errors = (await bad.json())["details"]["errors"]
    assert bad.status == 422 and {tuple(e["loc"]) for e in errors} == {("query", "limit"), ("query", "status")}


async def test_a_finished_delivery_is_delivered_again_by_hand(client: TestClient, aiohttp_server: Any) -> None:
    receiver = await start_receiver(aiohttp_server)
    hook = await subscribe(client, receiver.url)
    await emit(client.app)
    done = await settled(client, hook["webhook_id"], 1)
    path = f"/webhooks/{hook['webhook_id']}/deliveries/{done['delivery_id']}/redeliver"
    response = await client.post(path, headers=AUTH)
    queued = (await response.json())["data"]
    assert response.status == 202 and queued["status"] == "pending"
    again = await settled(client, hook["webhook_id"], 2)
    assert again["status"] == "succeeded" and again["attempts"] == 2
    assert receiver.requests[0].headers["webhook-id"] == receiver.requests[1].headers["webhook-id"]
    rows = await Ops(client).audit_rows()
    assert any(r["action"] == "webhook.redeliver" and r["target"].endswith(done["delivery_id"]) for r in rows)


async def test_redelivery_is_refused_while_pending_unknown_or_disabled(client: TestClient, aiohttp_server: Any) -> None:
    receiver = await start_receiver(aiohttp_server, ok(500), ok(410))
    hook = await subscribe(client, receiver.url)
    await emit(client.app)
    pending = await settled(client, hook["webhook_id"], 1)
    base = f"/webhooks/{hook['webhook_id']}/deliveries"
    busy = await client.post(f"{base}/{pending['delivery_id']}/redeliver", headers=AUTH)
    assert busy.status == 409 and (await busy.json())["details"]["code"] == "delivery_pending"
    unknown = await client.post(f"{base}/whd_nope/redeliver", headers=AUTH)
    assert unknown.status == 404 and (await unknown.json())["details"]["code"] == "delivery_not_found"
    await emit(client.app)  # meets the 410
    await eventually(lambda: len(receiver.requests) == 2)
    await settled(client, hook["webhook_id"], 1)
    shown = await (await client.get(f"/webhooks/{hook['webhook_id']}", headers=AUTH)).json()
    assert shown["data"]["status"] == "disabled"
    gone = await client.post(f"{base}/{pending['delivery_id']}/redeliver", headers=AUTH)
    assert gone.status == 409 and (await gone.json())["details"]["code"] == "webhook_disabled"


async def test_unknown_webhooks_are_404(client: TestClient) -> None:
    for method, path in (
        ("GET", "/webhooks/wh_missing"),
        ("DELETE", "/webhooks/wh_missing"),
        ("POST", "/webhooks/wh_missing/rotate-secret"),
        ("GET", "/webhooks/wh_missing/deliveries"),
        ("POST", "/webhooks/wh_missing/deliveries/whd_x/redeliver"),
    ):
        response = await client.request(method, path, headers=AUTH)
        body = await response.json()
        assert response.status == 404 and body["code"] == 404, (method, path)
        assert body["details"]["code"] == "webhook_not_found"


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"url": "http://127.0.0.1:9/"}, ["body", "events"]),
        ({"events": ["trace.completed"]}, ["body", "url"]),
        ({"url": "http://127.0.0.1:9/", "events": []}, ["body", "events"]),
        ({"url": "http://127.0.0.1:9/", "events": ["trace.started"]}, ["body", "events", 0]),
        ({"url": "http://127.0.0.1:9/", "events": ["trace.completed", "trace.completed"]}, ["body", "events"]),
        ({"url": "http://127.0.0.1:9/", "events": ["trace.completed"], "secret": "mine"}, ["body", "secret"]),
        ({"url": "http://127.0.0.1:99999/", "events": ["trace.completed"]}, ["body", "url"]),
        ({"url": "http://127.0.0.1/" + "a" * 2048, "events": ["trace.completed"]}, ["body", "url"]),
    ],
)
async def test_an_invalid_subscription_is_422(client: TestClient, body: dict[str, Any], loc: list[Any]) -> None:
    response = await client.post("/webhooks", json=body, headers=AUTH)
    answer = await response.json()
    assert response.status == 422 and answer["code"] == 422, answer
    assert answer["details"]["errors"][0]["loc"] == loc


async def test_the_endpoints_need_the_webhooks_admin_scope(client: TestClient) -> None:
    ops = Ops(client)
    reader = await ops.create_token("reader", "ops:read,inspector:read")
    admin = await ops.create_token("hooks", "webhooks:admin")
    calls = [
        ("POST", "/webhooks", {"url": "http://127.0.0.1:9/", "events": ["trace.completed"]}),
        ("GET", "/webhooks", None),
        ("GET", "/webhooks/wh_x", None),
        ("DELETE", "/webhooks/wh_x", None),
        ("POST", "/webhooks/wh_x/rotate-secret", None),
        ("GET", "/webhooks/wh_x/deliveries", None),
        ("POST", "/webhooks/wh_x/deliveries/whd_x/redeliver", None),
    ]
    for method, path, body in calls:
        anonymous = await client.request(method, path, json=body)
        assert anonymous.status == 401 and (await anonymous.json())["code"] == 401, path
        refused = await client.request(method, path, json=body, headers=bearer(reader))
        answer = await refused.json()
        assert refused.status == 403 and answer["details"]["code"] == "insufficient_scope", path
    allowed = await client.post("/webhooks", json=calls[0][2], headers=bearer(admin))
    assert allowed.status == 201
    assert (await allowed.json())["data"]["created_by"] == "hooks"


async def test_changes_are_audited_without_the_secret(client: TestClient) -> None:
    hook = await subscribe(client, "http://127.0.0.1:9/in")
    await client.post(f"/webhooks/{hook['webhook_id']}/rotate-secret", headers=AUTH)
    await client.delete(f"/webhooks/{hook['webhook_id']}", headers=AUTH)
    rows = await Ops(client).audit_rows()
    actions = {r["action"]: r for r in rows if r["action"].startswith("webhook.")}
    assert set(actions) == {"webhook.create", "webhook.rotate_secret", "webhook.delete"}
    assert all(r["target"] == hook["webhook_id"] for r in actions.values())
    assert json.loads(actions["webhook.create"]["detail"])["url"] == "http://127.0.0.1:9/in"


async def test_a_rotation_answers_when_the_previous_secret_stops_signing(client: TestClient) -> None:
    hook = await subscribe(client, "http://127.0.0.1:9/in")
    response = await client.post(f"/webhooks/{hook['webhook_id']}/rotate-secret", headers=AUTH)
    data = (await response.json())["data"]
    assert response.status == 200 and data["webhook_id"] == hook["webhook_id"]
    assert data["previous_secret_expires_at"] == "2026-01-02T09:00:00Z"  # the default overlap: a day
    shown = (await (await client.get(f"/webhooks/{hook['webhook_id']}", headers=AUTH)).json())["data"]
    assert shown["previous_secret_expires_at"] == data["previous_secret_expires_at"]


async def test_the_admin_token_has_the_scope(client: TestClient) -> None:
    response = await client.get("/webhooks", headers=bearer(ADMIN_TOKEN))
    assert response.status == 200
