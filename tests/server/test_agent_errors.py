"""The agent family's envelope for the errors no other test of the family meets: an unexpected failure is a 500
OPS_AGENT_INTERNAL_ERROR that tells nothing of the server's internals, and paths or methods the family does not
have answer in its envelope too."""

from typing import Any

import pytest
from agent_support import BASE, Agent

from server.http.agent import AGENT
from shared.agent import WorklistPage, WorklistQuery


@pytest.fixture
def agent(client: Any) -> Agent:
    return Agent(client)


async def test_an_unexpected_failure_is_an_internal_error_without_internals(agent: Agent) -> None:
    async def broken(query: WorklistQuery) -> WorklistPage:
        raise RuntimeError("disk /var/lib/secret-path is on fire")

    agent.app[AGENT].worklist = broken  # type: ignore[method-assign]

    response = await agent.call("GET", f"{BASE}/worklist/recommendations")

    body = await response.json()
    assert response.status == 500 and body["error"]["code"] == "OPS_AGENT_INTERNAL_ERROR"
    assert body["error"]["message"] and "secret-path" not in await response.text()
    assert "RuntimeError" not in await response.text()


async def test_unknown_paths_and_methods_answer_in_the_envelope(agent: Agent) -> None:
    unknown = await agent.call("GET", f"{BASE}/no-such-thing")
    wrong_method = await agent.call("DELETE", f"{BASE}/investigations")

    assert unknown.status == 404 and (await unknown.json())["error"]["code"] == "OPS_AGENT_NOT_FOUND"
    assert wrong_method.status == 405 and "error" in await wrong_method.json()
