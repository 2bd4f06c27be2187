"""Deliveries as real HTTP POSTs to a receiver on loopback (allowed by the settings): signed per the Standard
Webhooks spec (checked by an independent verifier), retried with backoff after a failure, disabled by a 410,
Retry-After honoured, redirects not followed, slow and endless answers cut off, pending deliveries kept across a
restart, and the events an ask emits (none in test mode)."""

import asyncio
import json
import math
import sqlite3
from datetime import datetime
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from ops_constants import MakeSettings
from orchestration_support import ask, replace_tool
from server_support import Ops, StartApp
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
    verify,
    wake,
)

from server.clock import ManualClock
from server.http.webhooks import WEBHOOKS
from server.services.orchestration.events import EVENTS
from server.services.orchestration.tools import ToolResult
from server.settings import Settings


@pytest.fixture
def settings(make_settings: MakeSettings) -> Settings:
    return make_settings(webhook_allowed_networks=LOOPBACK, webhook_retry_base_seconds=10)


async def test_a_delivery_is_signed_per_the_spec(client: TestClient, aiohttp_server: Any, clock: ManualClock) -> None:
    receiver = await start_receiver(aiohttp_server)
    hook = await subscribe(client, receiver.url)
    await emit(client.app, {"trace_id": "tr_abc", "status": "success"})
    await eventually(lambda: len(receiver.requests) == 1)
    sent = receiver.requests[0]
    assert verify(hook["secret"], sent.headers, sent.body) == [True]
    assert sent.headers["webhook-id"].startswith("msg_")
    assert sent.headers["webhook-timestamp"] == str(int(clock.timestamp()))
    assert sent.headers["Content-Type"] == "application/json"
    body = json.loads(sent.body)
    assert body == {"type": "trace.completed", "timestamp": "2026-01-01T09:00:00Z", "data": body["data"]}
    assert body["data"] == {"trace_id": "tr_abc", "status": "success"}
    # Any other secret, or a changed body, fails the check.
    assert verify("whsec_" + "A" * 44, sent.headers, sent.body) == [False]
    assert verify(hook["secret"], sent.headers, sent.body + b" ") == [False]
    delivery = await settled(client, hook["webhook_id"], 1)
    assert delivery["status"] == "succeeded" and delivery["attempt_log"][0]["status_code"] == 200
    assert delivery["attempt_log"][0]["response_excerpt"] == "thanks"


async def test_a_failed_delivery_is_retried_with_backoff_then_succeeds(
    client: TestClient, aiohttp_server: Any, clock: ManualClock
) -> None:
    receiver = await start_receiver(aiohttp_server, ok(500))
    hook = await subscribe(client, receiver.url)
    await emit(client.app)
    first = await settled(client, hook["webhook_id"], 1)
    assert first["status"] == "pending" and first["last_status_code"] == 500
    attempt = first["attempt_log"][0]
    assert attempt["outcome"] == "retrying" and attempt["error"] == "HTTP 500"
    # The first backoff is the base (10 s) with jitter: between 5 and 10 seconds.
    wait = _time(first["next_attempt_at"]) - clock.timestamp()
    assert 5 <= wait <= 10
    clock.advance(10)
    wake(client.app)
    done = await settled(client, hook["webhook_id"], 2)
    assert done["status"] == "succeeded" and [a["outcome"] for a in done["attempt_log"]] == ["retrying", "succeeded"]
    # The same message on both attempts: the receiver can tell a retry from a new event.
    assert receiver.requests[0].headers["webhook-id"] == receiver.requests[1].headers["webhook-id"]
    assert receiver.requests[0].body == receiver.requests[1].body


async def test_the_backoff_doubles_and_the_delivery_fails_after_its_last_attempt(
    start_app: StartApp, make_settings: MakeSettings, aiohttp_server: Any, clock: ManualClock
) -> None:
    client = await start_app(
        make_settings(webhook_allowed_networks=LOOPBACK, webhook_retry_base_seconds=10, webhook_max_attempts=3)
    )
    receiver = await start_receiver(aiohttp_server, ok(500), ok(502), ok(500))
    hook = await subscribe(client, receiver.url)
    await emit(client.app)
    waits = []
    for attempt in (1, 2):
        delivery = await settled(client, hook["webhook_id"], attempt)
        waits.append(_time(delivery["next_attempt_at"]) - clock.timestamp())
        clock.advance(math.ceil(waits[-1]))  # the log shows microseconds; the queue keeps more
        wake(client.app)
    assert 5 <= waits[0] <= 10 and 10 <= waits[1] <= 20
    failed = await settled(client, hook["webhook_id"], 3)
    assert failed["status"] == "failed" and failed["next_attempt_at"] is None
    assert failed["last_error"] == "HTTP 500; gave up after 3 attempts"
    assert len(receiver.requests) == 3


async def test_a_410_disables_the_subscription(client: TestClient, aiohttp_server: Any) -> None:
    receiver = await start_receiver(aiohttp_server, ok(410))
    hook = await subscribe(client, receiver.url)
    await emit(client.app)
    delivery = await settled(client, hook["webhook_id"], 1)
    assert delivery["status"] == "failed" and delivery["attempt_log"][0]["outcome"] == "disabled"
    shown = await (await client.get(f"/webhooks/{hook['webhook_id']}", headers=AUTH)).json()
    assert shown["data"]["status"] == "disabled" and "410" in shown["data"]["disabled_reason"]
    # Nothing more is queued for it.
    await emit(client.app)
    assert (await deliveries(client, hook["webhook_id"]))["total"] == 1
    assert len(receiver.requests) == 1


async def test_a_410_fails_the_subscriptions_other_pending_deliveries(
    client: TestClient, aiohttp_server: Any, clock: ManualClock
) -> None:
    receiver = await start_receiver(aiohttp_server, ok(500), ok(410))
    hook = await subscribe(client, receiver.url)
    await emit(client.app, {"n": 1})
    await settled(client, hook["webhook_id"], 1)  # the first waits for its retry
    await emit(client.app, {"n": 2})  # the second meets the 410
    await eventually(lambda: len(receiver.requests) == 2)
    await asyncio.sleep(0.05)
    clock.advance(3600)
    wake(client.app)
    await asyncio.sleep(0.1)
    items = (await deliveries(client, hook["webhook_id"]))["items"]
    assert [d["status"] for d in items] == ["failed", "failed"]
    assert items[1]["last_error"] == "the subscription is disabled"
    assert len(receiver.requests) == 2


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_in_seconds_is_honoured(
    client: TestClient, aiohttp_server: Any, clock: ManualClock, status: int
) -> None:
    receiver = await start_receiver(aiohttp_server, ok(status, **{"Retry-After": "120"}))
    hook = await subscribe(client, receiver.url)
    await emit(client.app)
    first = await settled(client, hook["webhook_id"], 1)
    assert _time(first["next_attempt_at"]) == clock.timestamp() + 120
    clock.advance(119)
    wake(client.app)
    await asyncio.sleep(0.1)
    assert len(receiver.requests) == 1  # not before the receiver asked
    clock.advance(1)
    wake(client.app)
    assert (await settled(client, hook["webhook_id"], 2))["status"] == "succeeded"


async def test_retry_after_as_an_http_date_is_honoured(
    client: TestClient, aiohttp_server: Any, clock: ManualClock
) -> None:
    receiver = await start_receiver(aiohttp_server, ok(503, **{"Retry-After": "Thu, 01 Jan 2026 09:30:00 GMT"}))
    hook = await subscribe(client, receiver.url)
    await emit(client.app)
    first = await settled(client, hook["webhook_id"], 1)
    assert _time(first["next_attempt_at"]) == clock.timestamp() + 1800


async def test_redirects_are_not_followed(client: TestClient, aiohttp_server: Any) -> None:
    async def elsewhere(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(location=str(request.url.with_path("/elsewhere")))

    receiver = await start_receiver(aiohttp_server, elsewhere)
    hook = await subscribe(client, receiver.url)
    await emit(client.app)
    delivery = await settled(client, hook["webhook_id"], 1)
    assert delivery["status"] == "pending" and delivery["attempt_log"][0]["status_code"] == 302
    await asyncio.sleep(0.05)
    assert [r.path for r in receiver.requests] == ["/hook"]


async def test_a_slow_receiver_times_out(start_app: StartApp, make_settings: MakeSettings, aiohttp_server: Any) -> None:
    client = await start_app(make_settings(webhook_allowed_networks=LOOPBACK, webhook_timeout_seconds=0.2))

    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(5)
        return web.Response()

    receiver = await start_receiver(aiohttp_server, slow)
    hook = await subscribe(client, receiver.url)
    await emit(client.app)
    attempt = (await settled(client, hook["webhook_id"], 1))["attempt_log"][0]
    assert attempt["status_code"] is None and attempt["error"] == "no answer within 0.2 s"
    assert attempt["outcome"] == "retrying"


async def test_an_endless_answer_is_read_only_up_to_the_cap(
    start_app: StartApp, make_settings: MakeSettings, aiohttp_server: Any
) -> None:
    client = await start_app(
        make_settings(webhook_allowed_networks=LOOPBACK, webhook_timeout_seconds=2, webhook_max_response_bytes=4096)
    )

    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        while True:  # never ends: without the cap the attempt would run into its timeout
            await response.write(b"x" * 1024)
            await asyncio.sleep(0)

    receiver = await start_receiver(aiohttp_server, endless)
    hook = await subscribe(client, receiver.url)
    await emit(client.app)
    attempt = (await settled(client, hook["webhook_id"], 1))["attempt_log"][0]
    assert attempt["outcome"] == "succeeded" and attempt["error"] is None
    assert attempt["duration_ms"] < 1500 and attempt["response_excerpt"] == "x" * 512


async def test_a_rotated_secret_signs_beside_the_new_one_during_the_overlap(
    start_app: StartApp, make_settings: MakeSettings, aiohttp_server: Any, clock: ManualClock
) -> None:
    client = await start_app(make_settings(webhook_allowed_networks=LOOPBACK, webhook_secret_overlap_seconds=600))
    receiver = await start_receiver(aiohttp_server)
    hook = await subscribe(client, receiver.url)
    response = await client.post(f"/webhooks/{hook['webhook_id']}/rotate-secret", headers=AUTH)
    rotated = (await response.json())["data"]
    assert response.status == 200 and rotated["secret"] != hook["secret"]
    assert rotated["secret"].startswith("whsec_")
    await emit(client.app)
    await eventually(lambda: len(receiver.requests) == 1)
    during = receiver.requests[0]
    assert verify(rotated["secret"], during.headers, during.body) == [True, False]
    assert verify(hook["secret"], during.headers, during.body) == [False, True]
    clock.advance(600)
    await emit(client.app)
    await eventually(lambda: len(receiver.requests) == 2)
    after = receiver.requests[1]
    assert verify(rotated["secret"], after.headers, after.body) == [True]
    assert verify(hook["secret"], after.headers, after.body) == [False]


async def test_a_pending_delivery_survives_a_restart(
    start_app: StartApp, settings: Settings, aiohttp_server: Any
) -> None:
    hold = asyncio.Event()

    async def hang(request: web.Request) -> web.StreamResponse:
        await hold.wait()  # in flight when the server stops
        return web.Response()

    receiver = await start_receiver(aiohttp_server, hang)
    first = await start_app(settings)
    hook = await subscribe(first, receiver.url)
    await emit(first.app, {"trace_id": "tr_kept"})
    await eventually(lambda: len(receiver.requests) == 1)
    await first.close()  # stops the worker mid-attempt

    again = await start_app(settings)  # the same data dir
    await eventually(lambda: len(receiver.requests) == 2)
    delivery = await settled(again, hook["webhook_id"], 1)
    assert delivery["status"] == "succeeded" and delivery["attempts"] == 1, delivery
    assert receiver.requests[1].headers["webhook-id"] == receiver.requests[0].headers["webhook-id"]
    assert json.loads(receiver.requests[1].body)["data"] == {"trace_id": "tr_kept"}
    assert verify(hook["secret"], receiver.requests[1].headers, receiver.requests[1].body) == [True]


async def test_an_ask_emits_trace_completed_and_its_replan_decisions(client: TestClient, aiohttp_server: Any) -> None:
    receiver = await start_receiver(aiohttp_server)
    await subscribe(client, receiver.url, ["trace.completed", "replan.decided"])
    _fail_relations(client)
    answer = await ask(Ops(client), "what depends on the connector?")  # an error the control loop replans
    trace = answer["trace"]
    assert trace["replan_events"]
    expected = len(trace["replan_events"]) + 1
    await eventually(lambda: len(receiver.requests) == expected)
    bodies = sorted((json.loads(r.body) for r in receiver.requests), key=lambda b: b["type"])
    completed, decided = bodies[-1], bodies[:-1]
    assert completed["type"] == "trace.completed"
    assert completed["data"]["trace_id"] == trace["trace_id"] and completed["data"]["status"] == trace["status"]
    assert completed["data"]["replan_count"] == len(trace["replan_events"])
    assert "question" not in completed["data"]
    assert {d["type"] for d in decided} == {"replan.decided"}
    first = trace["replan_events"][0]
    assert decided[0]["data"]["trace_id"] == trace["trace_id"]
    assert decided[0]["data"]["trigger"] == first["trigger"]
    assert decided[0]["data"]["should_replan"] == first["decision_metadata"]["should_replan"]


async def test_a_subscription_gets_only_its_events(client: TestClient, aiohttp_server: Any) -> None:
    receiver = await start_receiver(aiohttp_server)
    hook = await subscribe(client, receiver.url, ["regression.completed"])
    await emit(client.app, event="trace.completed")
    await emit(client.app, {"analysis_id": "reg_1"}, event="regression.completed")
    await eventually(lambda: len(receiver.requests) == 1)
    assert json.loads(receiver.requests[0].body)["type"] == "regression.completed"
    assert (await deliveries(client, hook["webhook_id"]))["total"] == 1


async def test_test_mode_asks_send_nothing(client: TestClient, aiohttp_server: Any) -> None:
    receiver = await start_receiver(aiohttp_server)
    hook = await subscribe(client, receiver.url, ["trace.completed", "replan.decided"])
    _fail_relations(client)
    await ask(Ops(client), "what depends on the connector?", test_mode=True)
    await client.app[EVENTS].emit("trace.completed", {"trace_id": "tr_t"}, test_mode=True)
    await asyncio.sleep(0.1)
    assert receiver.requests == []
    assert (await deliveries(client, hook["webhook_id"]))["total"] == 0
    await ask(Ops(client), "what depends on the connector?")  # the same ask, not in test mode, is delivered
    await eventually(lambda: len(receiver.requests) == 2)  # its replan decision and its trace


async def test_an_unknown_event_type_is_a_programming_error(client: TestClient) -> None:
    with pytest.raises(ValueError, match="unknown event type"):
        await client.app[EVENTS].emit("trace.started", {}, test_mode=False)


async def test_an_event_that_cannot_be_queued_does_not_fail_its_caller(
    client: TestClient, aiohttp_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    receiver = await start_receiver(aiohttp_server)
    hook = await subscribe(client, receiver.url)
    await client.app[EVENTS].emit("trace.completed", {"at": object()}, test_mode=False)  # not JSON
    assert "could not queue the trace.completed event" in caplog.text
    assert (await deliveries(client, hook["webhook_id"]))["total"] == 0


async def test_an_attempt_that_cannot_be_recorded_is_not_repeated_at_once(
    client: TestClient, aiohttp_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver = await start_receiver(aiohttp_server)
    await subscribe(client, receiver.url)

    async def refuse(*args: Any) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(client.app[WEBHOOKS].repository, "record_attempt", refuse)
    await emit(client.app)
    await received(receiver, 1)
    await asyncio.sleep(0.3)
    assert len(receiver.requests) == 1  # still pending, but held back rather than sent in a loop


def _fail_relations(client: TestClient) -> None:
    async def failing(params: dict[str, Any]) -> ToolResult:
        raise RuntimeError("relations index unavailable")

    replace_tool(Ops(client), "ci_relations", failing)


def _time(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()
