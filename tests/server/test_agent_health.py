"""Health probes (/api/v1/health with each check, /ready, /live: public, counted not audited) and the agent's
metrics in /api/v1/metrics: investigations by status and mode, and their durations as a histogram."""

from typing import Any

import pytest
from agent_support import Agent
from prometheus_client.parser import text_string_to_metric_families

from server.keys import AUDIT, DB

METRICS_TOKEN = "scrape-me"


@pytest.fixture
async def agent(start_app: Any, make_settings: Any) -> Agent:
    return Agent(await start_app(make_settings(metrics_token=METRICS_TOKEN)))


async def test_health_reports_each_check(agent: Agent) -> None:
    response = await agent.call("GET", "/api/v1/health", token=None)

    report = await response.json()
    assert response.status == 200 and report["status"] == "ok"
    assert [c["name"] for c in report["checks"]] == ["database", "audit_writer", "plant", "reasoner"]
    assert all(c["status"] == "ok" and c["latency_ms"] >= 0 for c in report["checks"])
    assert "built-in deterministic reasoner" in report["checks"][3]["detail"]


async def test_ready_and_live(agent: Agent) -> None:
    ready = await agent.call("GET", "/api/v1/health/ready", token=None)
    live = await agent.call("GET", "/api/v1/health/live", token=None)

    assert ready.status == 200 and await ready.json() == {"status": "ok"}
    assert live.status == 200 and await live.json() == {"status": "ok"}


async def test_not_ready_while_a_migration_is_not_applied(agent: Agent) -> None:
    await agent.app[DB].execute("DELETE FROM schema_migrations WHERE version = 20")

    ready = await agent.call("GET", "/api/v1/health/ready", token=None)
    health = await agent.call("GET", "/api/v1/health", token=None)

    body = await ready.json()
    assert ready.status == 503 and body["error"]["code"] == "OPS_AGENT_DEPENDENCY_FAILURE"
    assert "20" in body["error"]["message"]
    report = await health.json()
    assert health.status == 503 and report["status"] == "failing" and report["checks"][0]["status"] == "failing"


async def test_probes_are_counted_not_audited(agent: Agent) -> None:
    await agent.call("GET", "/api/v1/health/live", token=None)
    await agent.app[AUDIT].flush()

    rows = await agent.app[DB].fetchall("SELECT path FROM audit_log WHERE path LIKE '/api/v1/health%'")
    assert rows == []


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_metrics_count_investigations_by_status_and_mode_with_durations(agent: Agent) -> None:
    txn = await agent.add()
    await agent.investigate(txn["transaction_id"])
    await agent.investigate(txn["transaction_id"], mode="deep")

    response = await agent.client.get("/api/v1/metrics", headers={"X-Metrics-Token": METRICS_TOKEN})

    samples = _samples(await response.text())
    assert response.status == 200
    assert samples[("ops_agent_investigations", (("mode", "quick"), ("status", "completed")))] == 1
    assert samples[("ops_agent_investigations", (("mode", "deep"), ("status", "completed")))] == 1
    assert samples[("ops_agent_investigations", (("mode", "quick"), ("status", "running")))] == 0
    count = ("ops_agent_investigation_duration_seconds_count", (("mode", "quick"), ("status", "completed")))
    assert samples[count] == 1


async def test_metrics_count_what_an_earlier_process_left(start_app: Any, make_settings: Any, agent: Agent) -> None:
    txn = await agent.add()
    await agent.investigate(txn["transaction_id"])

    restarted = await start_app(make_settings(metrics_token=METRICS_TOKEN))
    response = await restarted.get("/api/v1/metrics", headers={"X-Metrics-Token": METRICS_TOKEN})

    samples = _samples(await response.text())
    assert samples[("ops_agent_investigations", (("mode", "quick"), ("status", "completed")))] == 1
