"""The cap on concurrent investigations (`OPS_AGENT_MAX_CONCURRENT`): of a burst of runs exactly the places left are
granted, the rest are refused with 503 OPS_AGENT_DEPENDENCY_FAILURE and a Retry-After, resume counts against the
same cap, and places come back as investigations end."""

import asyncio
from typing import Any

import pytest
from agent_support import BASE, Agent

from server.http.agent import AGENT_ENGINE
from server.settings import Settings

CAP = 3


@pytest.fixture
async def agent(start_app: Any, make_settings: Any) -> Agent:
    return Agent(await start_app(make_settings(agent_max_concurrent=CAP)))


async def test_a_burst_beyond_the_cap_is_refused_with_retry_after(agent: Agent) -> None:
    deposits = [await agent.add(customer_id=f"cust-burst-{n}") for n in range(10)]
    _, release = agent.hold_tool("velocity_window")

    answers = await asyncio.gather(
        *(
            agent.call("POST", f"{BASE}/investigations/run", json={"transaction_id": d["transaction_id"]})
            for d in deposits
        )
    )

    statuses = sorted(a.status for a in answers)
    assert statuses == [202] * CAP + [503] * (len(deposits) - CAP)
    refused = [a for a in answers if a.status == 503]
    for answer in refused:
        body = await answer.json()
        assert body["error"]["code"] == "OPS_AGENT_DEPENDENCY_FAILURE"
        assert body["error"]["details"]["code"] == "investigations_at_capacity"
        assert body["error"]["details"]["limit"] == CAP
        assert int(answer.headers["Retry-After"]) >= 1
    # Nothing was stored for the refused ones: only the granted investigations exist, and they are running.
    listed = await agent.ok("GET", f"{BASE}/investigations")
    assert listed["total"] == CAP and {i["status"] for i in listed["items"]} == {"running"}
    release.set()
    for item in listed["items"]:
        assert (await agent.wait(item["investigation_id"]))["status"] == "completed"


async def test_places_come_back_as_investigations_end(agent: Agent) -> None:
    deposits = [await agent.add(customer_id=f"cust-free-{n}") for n in range(CAP + 1)]
    _, release = agent.hold_tool("velocity_window")
    started = [await agent.run(d["transaction_id"]) for d in deposits[:CAP]]

    refused = await agent.call(
        "POST", f"{BASE}/investigations/run", json={"transaction_id": deposits[-1]["transaction_id"]}
    )
    release.set()
    for item in started:
        await agent.wait(item["investigation_id"])
    await asyncio.sleep(0)  # the engine forgets a task in its done callback
    granted = await agent.run(deposits[-1]["transaction_id"])

    assert refused.status == 503
    assert (await agent.wait(granted["investigation_id"]))["status"] == "completed"
    assert agent.app[AGENT_ENGINE].task_of(granted["investigation_id"]) is None


async def test_resume_counts_against_the_cap(agent: Agent) -> None:
    deposits = [await agent.add(customer_id=f"cust-resume-{n}") for n in range(CAP + 1)]
    reached, _ = agent.hold_tool("velocity_window")
    victim = await agent.run(deposits[0]["transaction_id"])
    await reached.wait()
    task = agent.app[AGENT_ENGINE].task_of(victim["investigation_id"])
    assert task is not None
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for deposit in deposits[1:]:
        await agent.run(deposit["transaction_id"])

    refused = await agent.call("POST", f"{BASE}/investigations/{victim['investigation_id']}/resume")

    body = await refused.json()
    assert refused.status == 503 and body["error"]["details"]["code"] == "investigations_at_capacity"
    assert "Retry-After" in refused.headers
    assert (await agent.detail(victim["investigation_id"]))["status"] == "interrupted"


def test_the_cap_is_configured_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPS_AGENT_MAX_CONCURRENT", "5")

    assert Settings().agent_max_concurrent == 5
    monkeypatch.setenv("OPS_AGENT_MAX_CONCURRENT", "0")
    with pytest.raises(ValueError):
        Settings()
