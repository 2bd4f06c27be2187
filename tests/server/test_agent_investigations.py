"""Investigations as clients meet them: run (202 at once, then in the background), the trace's steps (planner
decisions, tool calls, the named built-in reasoner), what is found for planted patterns, list and detail, the rule
draft, insights across investigations, and every error code of these endpoints."""

from typing import Any

import pytest
from agent_support import BASE, Agent

from server.http.agent import AGENT_ENGINE
from server.services.reasoning.builtin import BUILTIN_NAME


@pytest.fixture
def agent(client: Any) -> Agent:
    return Agent(client)


async def test_run_answers_at_once_and_completes_in_the_background(agent: Agent) -> None:
    txn = await agent.add()
    reached, release = agent.hold_tool("velocity_window")

    started = await agent.run(txn["transaction_id"])
    await reached.wait()
    running = await agent.detail(started["investigation_id"])
    release.set()
    done = await agent.wait(started["investigation_id"])

    assert started["status"] == "running" and started["transaction_id"] == txn["transaction_id"]
    assert started["mode"] == "quick" and started["requested_by"] == "env:OPS_API_TOKEN"
    assert running["status"] == "running"
    assert done["status"] == "completed" and done["finished_at"] is not None and done["duration_ms"] > 0


async def test_every_step_of_the_trace_is_recorded_with_the_builtin_reasoner_named(agent: Agent) -> None:
    txn = await agent.add()

    done = await agent.investigate(txn["transaction_id"])

    kinds = [s["kind"] for s in done["steps"]]
    tools = [s["name"] for s in done["steps"] if s["kind"] == "tool"]
    planner = [s for s in done["steps"] if s["kind"] == "planner"]
    reasoning = [s for s in done["steps"] if s["kind"] == "reasoning"]
    assert [s["step_no"] for s in done["steps"]] == list(range(1, len(kinds) + 1))
    assert tools[0] == "transaction_lookup"
    assert {"velocity_window", "geo_consistency", "channel_risk", "rule_matches"} <= set(tools)
    # Each action comes after the planner decided it: planner, action, planner, action, ..., planner (conclude).
    assert kinds[::2] == ["planner"] * len(kinds[::2]) and planner[-1]["decision"] == "conclude"
    assert all(p["why"] for p in planner) and planner[0]["alternatives"]
    assert len(reasoning) == 1 and reasoning[0]["reasoner"] == BUILTIN_NAME
    assert "Findings:" in reasoning[0]["prompt"] and reasoning[0]["response"]
    assert reasoning[0]["prompt_tokens"] > 0 and reasoning[0]["completion_tokens"] > 0
    assert done["reasoner"] == BUILTIN_NAME and done["trace"]["reasoner"] == BUILTIN_NAME
    assert done["trace"]["tool_calls"] == len(tools) and done["trace"]["reasoning_calls"] == 1
    lookup = next(s for s in done["steps"] if s["name"] == "transaction_lookup")
    assert lookup["input"] == {"transaction_id": txn["transaction_id"]} and lookup["output"]["amount_minor"] == 25000
    assert done["verdict"] == "clear" and done["insights"] == [] and done["recommendations"] == []


async def test_a_shared_device_is_found_with_evidence_and_recommended_on(agent: Agent) -> None:
    deposits = await agent.shared_device("dev-mule", customers=5)
    target = deposits[-1]["transaction_id"]

    done = await agent.investigate(target)

    tools = [s["name"] for s in done["steps"] if s["kind"] == "tool"]
    assert "device_graph" not in tools  # quick mode: no velocity burst, so no reason to look at the device
    deep = await agent.investigate(target, mode="deep")
    deep_tools = [s["name"] for s in deep["steps"] if s["kind"] == "tool"]
    assert {"device_graph", "customer_history", "similar_cases"} <= set(deep_tools)
    insight = next(i for i in deep["insights"] if i["kind"] == "shared_device")
    assert insight["severity"] == "critical"
    evidence = insight["evidence"][0]
    cited = next(s for s in deep["steps"] if s["step_no"] == evidence["step_no"])
    assert cited["name"] == "device_graph" and evidence["data"]["customers_24h"] == 5
    actions = {r["action"] for r in deep["recommendations"]}
    assert "block_device_pending_review" in actions
    assert all(r["status"] == "PENDING" and r["transaction_id"] == target for r in deep["recommendations"])


async def test_a_velocity_burst_leads_quick_mode_to_the_device_graph(agent: Agent) -> None:
    for n in range(5):
        last = await agent.add(customer_id="cust-fast", occurred_at=agent.now.replace(second=n * 10).isoformat())

    done = await agent.investigate(last["transaction_id"])

    decisions = [s for s in done["steps"] if s["kind"] == "planner" and s["decision"] == "device_graph"]
    assert decisions and "velocity burst" in decisions[0]["why"]
    assert any(i["kind"] == "velocity_burst" for i in done["insights"])


async def test_rule_draft_when_a_pattern_generalises_else_404(agent: Agent) -> None:
    for n in range(3):
        await agent.add(customer_id=f"cust-s{n}", amount="9950.00")
    target = await agent.add(customer_id="cust-s9", amount="9990.00")
    clear = await agent.add(customer_id="cust-ok")

    found = await agent.investigate(target["transaction_id"])
    nothing = await agent.investigate(clear["transaction_id"])

    draft = await agent.ok("GET", f"{BASE}/investigations/{found['investigation_id']}/rule-draft")
    missing = await agent.call("GET", f"{BASE}/investigations/{nothing['investigation_id']}/rule-draft")
    assert draft["name"] == "deposit_just_under_limit" and draft["condition"][0]["field"] == "amount_minor"
    assert len(draft["caught_transaction_ids"]) >= 3 and target["transaction_id"] not in draft["caught_transaction_ids"]
    assert "limit" in draft["text"]
    assert found["rule_draft"] == draft
    assert missing.status == 404 and (await missing.json())["error"]["code"] == "OPS_AGENT_NOT_FOUND"


async def test_insights_of_a_transaction_across_investigations(agent: Agent) -> None:
    txn = await agent.add(ip_country="NG")
    first = await agent.investigate(txn["transaction_id"])
    second = await agent.investigate(txn["transaction_id"], mode="deep")

    answer = await agent.ok("GET", f"{BASE}/transactions/{txn['transaction_id']}/insights")

    assert answer["transaction_id"] == txn["transaction_id"]
    assert [s["investigation_id"] for s in answer["snapshots"]] == [
        second["investigation_id"],
        first["investigation_id"],
    ]
    kinds = {i["kind"] for s in answer["snapshots"] for i in s["insights"]}
    assert kinds == {"country_mismatch"} and all(s["insights"][0]["evidence"] for s in answer["snapshots"])
    unknown = await agent.call("GET", f"{BASE}/transactions/no-such/insights")
    assert unknown.status == 404 and (await unknown.json())["error"]["code"] == "OPS_AGENT_NOT_FOUND"


async def test_list_pages_and_filters(agent: Agent) -> None:
    a, b = await agent.add(), await agent.add(customer_id="cust-b")
    first = await agent.investigate(a["transaction_id"])
    second = await agent.investigate(b["transaction_id"])
    third = await agent.investigate(a["transaction_id"], mode="deep")

    page = await agent.ok("GET", f"{BASE}/investigations", params={"limit": 2})
    rest = await agent.ok("GET", f"{BASE}/investigations", params={"limit": 2, "offset": 2})
    of_a = await agent.ok("GET", f"{BASE}/investigations", params={"transaction_id": a["transaction_id"]})
    failed = await agent.ok("GET", f"{BASE}/investigations", params={"status": "failed"})

    ids = [i["investigation_id"] for i in page["items"] + rest["items"]]
    assert ids == [third["investigation_id"], second["investigation_id"], first["investigation_id"]]
    assert page["total"] == 3 and page["limit"] == 2 and page["offset"] == 0 and rest["offset"] == 2
    assert of_a["total"] == 2 and failed == {"items": [], "total": 0, "limit": 50, "offset": 0}


@pytest.mark.parametrize(
    "params",
    [{"limit": "0"}, {"limit": "201"}, {"limit": "x"}, {"offset": "-1"}, {"status": "done"}, {"extra": "1"}],
)
async def test_bad_list_parameters_are_invalid_requests(agent: Agent, params: dict[str, str]) -> None:
    response = await agent.call("GET", f"{BASE}/investigations", params=params)

    body = await response.json()
    assert response.status == 400 and body["error"]["code"] == "OPS_AGENT_INVALID_REQUEST"
    assert body["error"]["details"]["errors"][0]["loc"][0] == "query"


async def test_run_errors(agent: Agent) -> None:
    txn = await agent.add()
    reached, release = agent.hold_tool("velocity_window")
    started = await agent.run(txn["transaction_id"])
    await reached.wait()

    again = await agent.call("POST", f"{BASE}/investigations/run", json={"transaction_id": txn["transaction_id"]})
    unknown = await agent.call("POST", f"{BASE}/investigations/run", json={"transaction_id": "nope"})
    bad_mode = await agent.call(
        "POST", f"{BASE}/investigations/run", json={"transaction_id": txn["transaction_id"], "mode": "slow"}
    )
    not_json = await agent.call("POST", f"{BASE}/investigations/run", data=b"{")
    release.set()
    await agent.wait(started["investigation_id"])

    assert again.status == 409 and (await again.json())["error"]["code"] == "OPS_AGENT_CONFLICT"
    assert unknown.status == 404 and (await unknown.json())["error"]["code"] == "OPS_AGENT_NOT_FOUND"
    assert bad_mode.status == 400 and (await bad_mode.json())["error"]["code"] == "OPS_AGENT_INVALID_REQUEST"
    assert not_json.status == 400 and (await not_json.json())["error"]["code"] == "OPS_AGENT_INVALID_REQUEST"


async def test_detail_of_an_unknown_investigation_is_404(agent: Agent) -> None:
    response = await agent.call("GET", f"{BASE}/investigations/no-such-id")
    bad = await agent.call("GET", f"{BASE}/investigations/bad%20id")

    assert response.status == 404 and (await response.json())["error"]["code"] == "OPS_AGENT_NOT_FOUND"
    assert bad.status == 400 and (await bad.json())["error"]["code"] == "OPS_AGENT_INVALID_REQUEST"


async def test_a_failing_tool_fails_the_investigation_with_an_internal_error(agent: Agent) -> None:
    txn = await agent.add()

    async def broken(given: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("index corrupted")

    agent.app[AGENT_ENGINE].tools.registry["channel_risk"] = broken

    done = await agent.investigate(txn["transaction_id"])

    assert done["status"] == "failed" and done["error"]["code"] == "OPS_AGENT_INTERNAL_ERROR"
    failed_step = done["steps"][-1]
    assert failed_step["name"] == "channel_risk" and failed_step["status"] == "error"
    assert "index corrupted" in failed_step["error"]
