"""client.orchestration.webhooks against a real server: subscribe, list, get, rotate, the delivery log and a
redelivery as models, and the family's errors as typed ones."""

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from webhooks_support import LOOPBACK, emit, ok, received, start_receiver, verify, wake

from server.keys import TOKENS
from shared.client import OpsClient
from shared.errors import Conflict, Forbidden, InvalidRequest, NotFound
from shared.webhooks import Delivery, WebhookCreated


async def _settled(client: OpsClient, webhook_id: str, attempts: int) -> Delivery:
    for _ in range(500):
        page = await client.orchestration.webhooks.deliveries(webhook_id)
        if page.items and len(page.items[0].attempt_log) >= attempts:
            return page.items[0]
        await asyncio.sleep(0.01)
    raise AssertionError("no attempt on record")


async def test_the_round_trip_as_models(
    start_server: Callable[..., Any], make_client: Callable[..., OpsClient], aiohttp_server: Any
) -> None:
    server: TestServer = await start_server(webhook_allowed_networks=LOOPBACK)
    client = make_client(server)
    receiver = await start_receiver(aiohttp_server)
    hooks = client.orchestration.webhooks
    created = await hooks.create(receiver.url, ["trace.completed", "regression.completed"])
    assert isinstance(created, WebhookCreated) and created.secret.startswith("whsec_")
    assert created.events == ["trace.completed", "regression.completed"] and created.status == "active"
    listed = await hooks.list()
    assert listed.total == 1 and listed.items[0].webhook_id == created.webhook_id
    assert not hasattr(listed.items[0], "secret")
    rotated = await hooks.rotate_secret(created.webhook_id)
    assert rotated.secret != created.secret and rotated.previous_secret_expires_at is not None

    await emit(server.app, {"analysis_id": "reg_1"}, event="regression.completed")
    await received(receiver, 1)
    sent = receiver.requests[0]
    assert verify(rotated.secret, sent.headers, sent.body) == [True, False]
    delivery = await _settled(client, created.webhook_id, 1)
    assert delivery.status == "succeeded" and delivery.event_type == "regression.completed"
    assert delivery.attempt_log[0].status_code == 200

    again = await hooks.redeliver(created.webhook_id, delivery.delivery_id)
    assert again.status == "pending"
    wake(server.app)
    assert (await _settled(client, created.webhook_id, 2)).status == "succeeded"
    assert (await hooks.get(created.webhook_id)).last_delivery is not None
    removed = await hooks.delete(created.webhook_id)
    assert removed.webhook_id == created.webhook_id
    assert (await hooks.list()).total == 0


async def test_errors_are_typed(server: TestServer, admin: OpsClient, make_client: Callable[..., OpsClient]) -> None:
    hooks = admin.orchestration.webhooks
    with pytest.raises(InvalidRequest) as refused:
        await hooks.create("http://127.0.0.1:9/hook", ["trace.completed"])
    assert refused.value.status == 422 and "loopback" in str(refused.value)
    with pytest.raises(NotFound) as missing:
        await hooks.get("wh_missing")
    assert missing.value.code == "webhook_not_found"
    with pytest.raises(NotFound):
        await hooks.deliveries("wh_missing", status="failed")
    reader = await server.app[TOKENS].create("reader", "ops:read")
    with pytest.raises(Forbidden):
        await make_client(server, reader).orchestration.webhooks.list()


async def test_a_pending_delivery_cannot_be_redelivered(
    start_server: Callable[..., Any], make_client: Callable[..., OpsClient], aiohttp_server: Any
) -> None:
    server: TestServer = await start_server(webhook_allowed_networks=LOOPBACK)
    hooks = make_client(server).orchestration.webhooks
    # One 500, then 200s: a second attempt would succeed. The manual clock never makes the retry due, so one can
    # only come from a stale read of the queue (the worker once read inside another request's snapshot).
    receiver = await start_receiver(aiohttp_server, ok(500))
    created = await hooks.create(receiver.url, ["trace.completed"])
    await emit(server.app)
    pending = await _settled(make_client(server), created.webhook_id, 1)
    assert pending.status == "pending", pending  # retried later: the receiver answered 500
    with pytest.raises(Conflict) as busy:
        await hooks.redeliver(created.webhook_id, pending.delivery_id)
    assert busy.value.code == "delivery_pending"
