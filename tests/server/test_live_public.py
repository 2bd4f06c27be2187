"""The public live board and feed: no auth, sanitized, bounded, cacheable for a second, not audited, rate-limited
per address (a caller with a token per token); the guardian and signal agents act on what the plant does."""

from aiohttp.test_utils import TestClient
from live_support import add_request, live
from ops_constants import ADMIN_TOKEN, MakeSettings
from server_support import Ops, StartApp, bearer

from server.clock import ManualClock
from server.keys import PLANT
from shared.control import CommandParams

STATUS = "/ops/api/live/status"
FEED = "/ops/api/live/feed"


async def test_status_names_the_tenant_and_each_agent_without_auth(client: TestClient) -> None:
    response = await client.get(STATUS)
    assert response.status == 200
    assert await response.json() == {
        "tenant": "public-demo",
        "guardian": {"status": "active", "last_action": None, "last_decision": None},
        "signal": {"status": "active", "last_action": None, "last_decision": None},
        "refund": {"status": "active", "last_action": None, "last_decision": None},
    }


async def test_status_shows_each_agents_last_action_and_decision(client: TestClient) -> None:
    await add_request(client.app, suspicious=True)
    await live(client.app).agents.worker.process_once()
    body = await (await client.get(STATUS)).json()
    assert body["refund"] == {"status": "active", "last_action": "refund.create", "last_decision": "DENY"}


async def test_public_answers_are_cacheable_for_a_second(client: TestClient) -> None:
    for path in (STATUS, FEED):
        response = await client.get(path)
        assert response.headers["Cache-Control"] == "public, max-age=1"


async def test_the_guardian_raises_an_alert_when_the_connector_stops(ops: Ops) -> None:
    agents = live(ops.app).agents
    await agents.tick()  # the baseline
    ops.app[PLANT].execute("stop", "connector", CommandParams())
    await agents.tick()
    feed = await (await ops.client.get(FEED)).json()
    alerts = [e for e in feed["items"] if e["agent"] == "guardian"]
    assert alerts and alerts[0]["action"] == "alert.raise"
    assert alerts[0]["decision"] == "ALLOW" and alerts[0]["outcome"] == "executed"
    assert alerts[0]["subject"] == "component"
    assert agents.guardian.channel[-1].text == "connector stopped"


async def test_the_signal_agent_comments_on_a_mode_change(ops: Ops) -> None:
    agents = live(ops.app).agents
    await agents.tick()
    ops.app[PLANT].execute("dry-run-on", "orchestrator", CommandParams())
    await agents.tick()
    status = await (await ops.client.get(STATUS)).json()
    assert status["signal"] == {"status": "active", "last_action": "comment.create", "last_decision": "ALLOW"}


async def test_the_feed_is_newest_first_and_bounded_by_limit(client: TestClient) -> None:
    for _ in range(3):
        await add_request(client.app)
        await live(client.app).agents.worker.process_once()
    body = await (await client.get(FEED, params={"limit": "2"})).json()
    assert [e["sequence"] for e in body["items"]] == [3, 2]
    assert set(body["items"][0]) == {"sequence", "at", "agent", "action", "decision", "outcome", "subject"}


async def test_a_bad_limit_is_400(client: TestClient) -> None:
    for value in ("0", "101", "x", "-1"):
        response = await client.get(FEED, params={"limit": value})
        assert response.status == 400, value
        body = await response.json()
        assert body["detail"][0]["loc"] == ["query", "limit"]
    unknown = await client.get(FEED, params={"agent": "refund"})
    assert unknown.status == 400


async def test_public_reads_are_counted_not_audited(ops: Ops) -> None:
    await ops.client.get(STATUS)
    await ops.client.get(FEED)
    assert not [r for r in await ops.audit_rows() if "/ops/api/live" in r["path"]]


async def test_public_routes_are_rate_limited_per_address(start_app: StartApp, make_settings: MakeSettings) -> None:
    client = await start_app(make_settings(rate_limit_anon_per_minute=3))
    statuses = [(await client.get(FEED)).status for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    refused = await client.get(STATUS)
    assert refused.status == 429
    assert "detail" in await refused.json()


async def test_a_token_polling_the_board_has_its_own_budget_not_its_addresss(
    start_app: StartApp, make_settings: MakeSettings, clock: ManualClock
) -> None:
    """A console polling every 6 s with its token behind the same address as a flood of anonymous callers (a NAT)
    is counted against its token, so the flood cannot starve it."""
    client = await start_app(make_settings(rate_limit_anon_per_minute=3, rate_limit_per_minute=60))
    for _ in range(20):
        flood = [(await client.get(FEED)).status for _ in range(4)]
        assert flood[-1] == 429
        polled = await client.get(STATUS, headers=bearer(ADMIN_TOKEN))
        assert polled.status == 200
        assert polled.headers["RateLimit-Policy"] == '"token";q=60;w=60'
        clock.advance(6)


async def test_an_invalid_token_on_a_public_route_counts_against_the_address(
    start_app: StartApp, make_settings: MakeSettings
) -> None:
    client = await start_app(make_settings(rate_limit_anon_per_minute=2))
    statuses = [(await client.get(STATUS, headers=bearer("not-a-token"))).status for _ in range(3)]
    assert statuses == [200, 200, 429]
