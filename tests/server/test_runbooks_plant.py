"""The shipped runbooks (assets/runbooks) operating the demo plant through the server's own API with their
short-lived tokens: failover really switches the feed's profile, failback returns it, a drill does both, the
connector's start/stop go through the control family's two-step command, health_check reports, dry runs change
nothing, and enforce fails a run that leaves the feed below its thresholds."""

from typing import Any

import pytest
from runbooks_support import Runbooks

from server.keys import PLANT, TOKENS
from server.plant.plant import Plant


@pytest.fixture
async def runbooks(ops_with: Any) -> Runbooks:
    return Runbooks((await ops_with()).client)  # the default runbooks dir: the shipped one


def _plant(runbooks: Runbooks) -> Plant:
    return runbooks.app[PLANT]


def _messages(answer: dict[str, Any]) -> list[str]:
    return [line["message"] for line in answer["runbook"]["logs"]]


async def test_failover_moves_the_feed_to_the_backup_profile_and_failback_returns_it(runbooks: Runbooks) -> None:
    feed = _plant(runbooks).feed

    over = await runbooks.execute(command="failover", request_id="fo-1", reason="drill week")

    assert over["runbook"]["status"] == "success", _messages(over)
    assert feed.profile == "backup"
    assert feed.last_failover_latency_ms is not None
    assert any(m.startswith("Failover completed: active profile backup") for m in _messages(over))
    assert over["health"] is None
    status = await (await runbooks.get("/api/ops/status")).json()
    assert status["active_profile"] == "backup"

    back = await runbooks.execute(command="failback", request_id="fb-1")

    assert back["runbook"]["status"] == "success", _messages(back)
    assert feed.profile == "primary"


async def test_a_failover_on_the_backup_already_fails_and_changes_nothing(runbooks: Runbooks) -> None:
    await runbooks.execute(command="failover")
    latency = _plant(runbooks).feed.last_failover_latency_ms

    again = await runbooks.execute(command="failover")

    assert again["runbook"]["status"] == "failed" and again["runbook"]["exit_code"] == 1
    assert _plant(runbooks).feed.last_failover_latency_ms == latency


async def test_a_drill_fails_over_and_back_and_reports(runbooks: Runbooks) -> None:
    answer = await runbooks.execute(command="drill")

    assert answer["runbook"]["status"] == "success", _messages(answer)
    assert _plant(runbooks).feed.profile == "primary"
    assert any(m.startswith("Drill report: failover ") for m in _messages(answer))


async def test_dry_runs_plan_and_change_nothing(runbooks: Runbooks) -> None:
    plant = _plant(runbooks)

    failover = await runbooks.execute(command="failover", dry_run=True)
    stop = await runbooks.execute(command="stop", dry_run=True)
    drill = await runbooks.execute(command="drill", dry_run=True)

    for answer in (failover, stop, drill):
        assert answer["runbook"]["status"] == "success", _messages(answer)
        assert answer["runbook"]["dry_run"] is True
        assert any("dry run: would" in m for m in _messages(answer))
    assert plant.feed.profile == "primary" and plant.feed.last_failover_latency_ms is None
    assert plant.state_since("connector")[0] == "running"


async def test_stop_and_start_act_on_the_connector_through_the_two_step_command(runbooks: Runbooks) -> None:
    plant = _plant(runbooks)

    stop = await runbooks.execute(command="stop", reason="venue maintenance")

    assert stop["runbook"]["status"] == "success", _messages(stop)
    assert plant.state_since("connector")[0] == "stopped"
    assert any(m.startswith("requested: ") for m in _messages(stop))
    assert plant.feed.snapshot().throughput_mps == 0.0

    start = await runbooks.execute(command="start")

    assert start["runbook"]["status"] == "success", _messages(start)
    assert plant.state_since("connector")[0] == "running"


async def test_health_check_returns_the_report_and_keeps_it_by_request(runbooks: Runbooks) -> None:
    answer = await runbooks.execute(command="health_check", request_id="hc-1")

    health = answer["health"]
    assert answer["runbook"]["status"] == "success", _messages(answer)
    assert health["coverage_ratio"] > 0.98 and health["expected_total"] == 1280
    assert health["active_profile"] == "primary" and health["healthy"] is True
    assert health["generated_at"].endswith("+00:00")
    status = await (await runbooks.get("/api/ops/status")).json()
    assert status["health_by_request"]["hc-1"] == health
    assert status["last_health"] == health
    assert status["last_exit_codes"] == {"health_check": 0}


async def test_enforce_fails_a_run_that_leaves_health_below_the_thresholds(runbooks: Runbooks) -> None:
    healthy = await runbooks.execute(command="health_check", enforce=True)
    await runbooks.execute(command="stop")

    unhealthy = await runbooks.execute(command="health_check", enforce=True)

    assert healthy["runbook"]["status"] == "success"
    run = unhealthy["runbook"]
    assert run["status"] == "failed" and run["exit_code"] == 0  # the script ran fine; the health it left did not
    assert any(m.startswith("enforce: coverage_ratio 0 is below 0.98") for m in _messages(unhealthy))
    assert unhealthy["health"]["healthy"] is False
    # Without enforce the same health is reported, not judged.
    reported = await runbooks.execute(command="health_check")
    assert reported["runbook"]["status"] == "success" and reported["health"]["healthy"] is False


async def test_only_a_running_runbook_may_switch_the_feed(runbooks: Runbooks) -> None:
    executor = await runbooks.app[TOKENS].create("operator", "runbooks:read,runbooks:execute")

    admin = await runbooks.post("/api/ops/feed/failover")
    operator = await runbooks.post("/api/ops/feed/failback", token=executor)

    assert admin.status == operator.status == 403
    assert "POST /api/ops/runbooks/execute" in (await admin.json())["detail"]
    assert _plant(runbooks).feed.profile == "primary"
    health = await (await runbooks.get("/api/ops/feed/health")).json()
    assert health["active_profile"] == "primary" and "thresholds" in health
