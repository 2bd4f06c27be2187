"""`client.agent`: every method against a real server, and the family's `{"error": {"code": "OPS_AGENT_..."}}`
answers read into the typed errors."""

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from aiohttp.test_utils import TestServer

from server.keys import TOKENS
from shared.agent import InvestigationDetail
from shared.client import OpsClient
from shared.errors import Conflict, Forbidden, InvalidRequest, NotFound


async def _finished(client: OpsClient, investigation_id: str) -> InvestigationDetail:
    for _ in range(500):
        detail = await client.agent.investigation(investigation_id)
        if detail.status != "running":
            return detail
        await asyncio.sleep(0.01)
    raise AssertionError("the investigation did not end")


async def _mule(client: OpsClient, n: int) -> str:
    added = await client.agent.add_transaction(
        amount="120.50",
        currency="EUR",
        merchant="venue-web",
        channel="card_web",
        customer_id=f"mule-{n}",
        device_id="dev-shared",
        ip_country="FR",
        card_country="FR",
        occurred_at=datetime(2026, 1, 1, 8, 50 + n, tzinfo=UTC),
    )
    return added.transaction_id


async def test_deposits_investigations_insights_and_worklist(admin: OpsClient) -> None:
    ids = [await _mule(admin, n) for n in range(5)]
    page = await admin.agent.transactions(limit=5)
    suspicious = await admin.agent.transactions(limit=3, suspicious=True)
    more = await admin.agent.transactions(limit=3, suspicious=True, cursor=suspicious.next_cursor)

    started = await admin.agent.run(ids[-1], mode="deep")
    done = await _finished(admin, started.investigation_id)
    listed = await admin.agent.investigations(transaction_id=ids[-1])
    insights = await admin.agent.insights(ids[-1])
    worklist = await admin.agent.worklist(limit=100)
    critical = await admin.agent.worklist(severity="critical")

    assert [t.transaction_id for t in page.items] == ids[::-1] and page.items[0].amount == Decimal("120.50")
    assert all(t.suspicious for t in suspicious.items + more.items) and suspicious.next_cursor is not None
    assert not {t.transaction_id for t in suspicious.items} & {t.transaction_id for t in more.items}
    assert started.status == "running" and done.status == "completed" and done.mode == "deep"
    assert {s.kind for s in done.steps} == {"planner", "tool", "reasoning"}
    assert listed.total == 1 and listed.items[0].investigation_id == started.investigation_id
    assert insights.snapshots[0].insights[0].kind == "shared_device"
    assert {r.recommendation_id for r in done.recommendations} <= {r.recommendation_id for r in worklist.items}
    assert critical.items and all(r.severity == "critical" for r in critical.items)


async def test_acknowledge_then_a_second_decision_is_a_conflict(admin: OpsClient) -> None:
    ids = [await _mule(admin, n) for n in range(5)]
    done = await _finished(admin, (await admin.agent.run(ids[-1], mode="deep")).investigation_id)
    target = done.recommendations[0].recommendation_id

    decided = await admin.agent.acknowledge(target, "ACKNOWLEDGED", "blocked the device")
    with pytest.raises(Conflict) as again:
        await admin.agent.acknowledge(target, "REJECTED", "changed my mind")

    assert decided.status == "ACKNOWLEDGED" and decided.decided_by == "env:OPS_API_TOKEN"
    assert again.value.status == 409 and again.value.code == "OPS_AGENT_CONFLICT" and again.value.family == "agent"


async def test_errors_are_typed(admin: OpsClient, server: TestServer, make_client: Callable[..., OpsClient]) -> None:
    reader = await server.app[TOKENS].create("reader", "ops_agent:read")
    ids = [await _mule(admin, 0)]
    done = await _finished(admin, (await admin.agent.run(ids[0])).investigation_id)

    with pytest.raises(NotFound) as no_draft:
        await admin.agent.rule_draft(done.investigation_id)
    with pytest.raises(NotFound):
        await admin.agent.run("no-such-transaction")
    with pytest.raises(Conflict):
        await admin.agent.resume(done.investigation_id)
    with pytest.raises(Forbidden) as forbidden:
        await make_client(server, reader).agent.run(ids[0])
    with pytest.raises(InvalidRequest) as server_side:
        await admin.agent.worklist(cursor="forged.cursor")
    with pytest.raises(InvalidRequest) as client_side:
        await admin.agent.investigations(limit=0)

    assert no_draft.value.code == "OPS_AGENT_NOT_FOUND"
    assert forbidden.value.code == "OPS_AGENT_SCOPE_FORBIDDEN"
    assert server_side.value.status == 400 and server_side.value.code == "OPS_AGENT_INVALID_REQUEST"
    assert client_side.value.status is None and client_side.value.errors[0].loc == "limit"


async def test_health_probes(admin: OpsClient) -> None:
    health = await admin.agent.health()
    ready = await admin.agent.ready()
    live = await admin.agent.live()

    assert health.status == "ok" and len(health.checks) == 4
    assert ready.status == "ok" and live.status == "ok"


async def test_the_trace_comes_back_as_the_servers_html_page(admin: OpsClient) -> None:
    transaction_id = await _mule(admin, 0)
    started = await admin.agent.run(transaction_id)
    await _finished(admin, started.investigation_id)

    page = await admin.agent.trace_html(started.investigation_id)

    assert page.lstrip().lower().startswith("<!doctype html")
    assert started.investigation_id in page and transaction_id in page


async def test_the_trace_of_an_unknown_investigation_is_not_found(admin: OpsClient) -> None:
    with pytest.raises(NotFound) as missing:
        await admin.agent.trace_html("inv_unknown")

    assert missing.value.code == "OPS_AGENT_NOT_FOUND"
