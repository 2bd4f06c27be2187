"""Interrupted investigations: killing the engine's task mid-run leaves it `interrupted`; one a previous process
left running is interrupted at start-up; resume continues from the last finished step without calling a finished
tool again; resuming a completed (or running) one is a 409."""

import asyncio
from typing import Any

import pytest
from agent_support import BASE, Agent

from server.http.agent import AGENT_ENGINE
from server.keys import DB
from server.services.agent.tools import Tool
from shared.agent import ToolName


@pytest.fixture
def agent(client: Any) -> Agent:
    return Agent(client)


async def _interrupted(agent: Agent, *, at_tool: ToolName, mode: str = "quick") -> tuple[str, dict[str, Any]]:
    """An investigation killed while `at_tool` runs; its id and detail."""
    txn = await agent.add(ip_country="NG")
    reached, _ = agent.hold_tool(at_tool)
    started = await agent.run(txn["transaction_id"], mode)
    await reached.wait()
    task = agent.app[AGENT_ENGINE].task_of(started["investigation_id"])
    assert task is not None
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    return started["investigation_id"], await agent.detail(started["investigation_id"])


async def test_killing_the_engine_task_mid_run_interrupts_the_investigation(agent: Agent) -> None:
    _, detail = await _interrupted(agent, at_tool="geo_consistency")

    tools = [s["name"] for s in detail["steps"] if s["kind"] == "tool"]
    assert detail["status"] == "interrupted" and detail["finished_at"] is not None
    assert tools == ["transaction_lookup", "velocity_window"]  # checkpointed as they finished
    assert detail["steps"][-1]["kind"] == "planner" and detail["steps"][-1]["decision"] == "geo_consistency"


async def test_resume_continues_without_repeating_finished_tool_calls(agent: Agent) -> None:
    investigation_id, before = await _interrupted(agent, at_tool="geo_consistency", mode="deep")
    agent.app[AGENT_ENGINE].tools.registry.update(_originals(agent))
    calls = agent.count_tool_calls()

    resumed = await agent.ok("POST", f"{BASE}/investigations/{investigation_id}/resume", 202)
    done = await agent.wait(investigation_id)

    finished_before = {s["name"] for s in before["steps"] if s["kind"] == "tool" and s["status"] == "ok"}
    assert finished_before == {"transaction_lookup", "customer_history", "velocity_window"}
    assert not finished_before & set(calls)  # none of them called again
    assert calls["geo_consistency"] == 1 and all(n == 1 for n in calls.values())
    assert resumed["status"] == "running" and resumed["resumed_count"] == 1
    assert done["status"] == "completed" and done["resumed_count"] == 1
    tools = [s["name"] for s in done["steps"] if s["kind"] == "tool"]
    assert len(tools) == len(set(tools))  # each tool once in the whole trace
    # The decision recorded before the interruption is kept, not planned a second time.
    decisions = [s["decision"] for s in done["steps"] if s["kind"] == "planner"]
    assert decisions.count("geo_consistency") == 1
    assert [s["step_no"] for s in done["steps"]] == list(range(1, len(done["steps"]) + 1))
    assert any(i["kind"] == "country_mismatch" for i in done["insights"])


def _originals(agent: Agent) -> dict[ToolName, Tool]:
    """The engine's own tools again, in place of a test's held one."""
    tools = agent.app[AGENT_ENGINE].tools
    return {name: getattr(tools, name) for name in tools.registry}


async def test_resuming_a_completed_or_running_investigation_is_a_conflict(agent: Agent) -> None:
    txn = await agent.add()
    done = await agent.investigate(txn["transaction_id"])
    other = await agent.add(customer_id="cust-other")
    reached, release = agent.hold_tool("velocity_window")
    running = await agent.run(other["transaction_id"])
    await reached.wait()

    completed = await agent.call("POST", f"{BASE}/investigations/{done['investigation_id']}/resume")
    busy = await agent.call("POST", f"{BASE}/investigations/{running['investigation_id']}/resume")
    unknown = await agent.call("POST", f"{BASE}/investigations/no-such/resume")
    release.set()
    await agent.wait(running["investigation_id"])

    assert completed.status == 409 and (await completed.json())["error"]["code"] == "OPS_AGENT_CONFLICT"
    assert busy.status == 409 and (await busy.json())["error"]["code"] == "OPS_AGENT_CONFLICT"
    assert unknown.status == 404 and (await unknown.json())["error"]["code"] == "OPS_AGENT_NOT_FOUND"


async def test_resume_is_refused_while_another_investigation_of_the_transaction_runs(agent: Agent) -> None:
    investigation_id, _ = await _interrupted(agent, at_tool="geo_consistency")
    txn = (await agent.detail(investigation_id))["transaction_id"]
    agent.app[AGENT_ENGINE].tools.registry.update(_originals(agent))
    reached, release = agent.hold_tool("velocity_window")
    fresh = await agent.run(txn)
    await reached.wait()

    refused = await agent.call("POST", f"{BASE}/investigations/{investigation_id}/resume")
    release.set()
    await agent.wait(fresh["investigation_id"])

    assert refused.status == 409 and (await refused.json())["error"]["code"] == "OPS_AGENT_CONFLICT"
    assert (await agent.detail(investigation_id))["status"] == "interrupted"


async def test_investigations_left_running_are_interrupted_at_start_up(
    start_app: Any, settings: Any, agent: Agent
) -> None:
    txn = await agent.add()
    # As a process killed mid-run leaves it: a running row, a finished step, no task.
    await agent.app[DB].execute(
        "INSERT INTO agent_investigations (investigation_id, transaction_id, mode, status, requested_by, reasoner, "
        "model, started_at) VALUES ('left-running', ?, 'quick', 'running', 'alice', 'r', 'm', ?)",
        (txn["transaction_id"], agent.now.isoformat()),
    )

    restarted = Agent(await start_app(settings))
    left = await restarted.detail("left-running")
    resumed = await restarted.ok("POST", f"{BASE}/investigations/left-running/resume", 202)
    done = await restarted.wait("left-running")

    assert left["status"] == "interrupted"
    assert resumed["status"] == "running" and done["status"] == "completed"
