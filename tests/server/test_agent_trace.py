"""GET /investigations/{id}/trace: one self-contained HTML page with every value escaped and a strict
Content-Security-Policy."""

import re
from typing import Any

import pytest
from agent_support import BASE, Agent

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture
def agent(client: Any) -> Agent:
    return Agent(client)


async def test_the_trace_shows_every_step_insight_and_recommendation(agent: Agent) -> None:
    deposits = await agent.shared_device("dev-trace", customers=5)
    done = await agent.investigate(deposits[-1]["transaction_id"], mode="deep")

    response = await agent.call("GET", f"{BASE}/investigations/{done['investigation_id']}/trace")
    page = await response.text()

    assert response.status == 200 and response.content_type == "text/html"
    assert page.startswith("<!DOCTYPE html>") and page.count("<details") >= len(done["steps"])
    for step in done["steps"]:
        assert f"#{step['step_no']} {step['name']}" in page
    assert "built-in deterministic reasoner" in page and "block_device_pending_review" in page
    assert "Insights" in page and done["insights"][0]["title"] in page and "ms</span>" in page


async def test_values_are_escaped_in_the_trace(agent: Agent) -> None:
    txn = await agent.add(merchant=XSS)
    done = await agent.investigate(txn["transaction_id"])

    page = await (await agent.call("GET", f"{BASE}/investigations/{done['investigation_id']}/trace")).text()

    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;alert(" in page and "&lt;img src=x onerror=alert(1)&gt;" in page


async def test_the_trace_is_self_contained_under_a_strict_policy(agent: Agent) -> None:
    txn = await agent.add()
    done = await agent.investigate(txn["transaction_id"])

    response = await agent.call("GET", f"{BASE}/investigations/{done['investigation_id']}/trace")
    page = await response.text()

    policy = response.headers["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", policy)
    assert nonce is not None and f'<style nonce="{nonce.group(1)}">' in page
    assert "default-src 'none'" in policy and "script-src 'none'" in policy and "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy and "base-uri 'none'" in policy
    assert not re.search(r"(src|href)\s*=", page) and "http://" not in page and "https://" not in page
    assert "<script" not in page and " style=" not in page  # inline attributes would break under the policy
    second = await agent.call("GET", f"{BASE}/investigations/{done['investigation_id']}/trace")
    assert second.headers["Content-Security-Policy"] != policy  # a fresh nonce per answer


async def test_the_trace_of_an_unknown_investigation_is_404_in_the_envelope(agent: Agent) -> None:
    response = await agent.call("GET", f"{BASE}/investigations/nope/trace")

    assert response.status == 404 and (await response.json())["error"]["code"] == "OPS_AGENT_NOT_FOUND"
