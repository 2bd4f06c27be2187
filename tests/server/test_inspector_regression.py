"""POST /inspector/regression/analyze, GET /inspector/regression/{analysis_id} and POST
/inspector/regression/stage-compare: a trace with itself scores no regression; a deliberately slowed tool makes
execute score worse than the unchanged stages and the recommendation says so, naming a changed asset version; a
failing one is critical; `full` compares the answers; analyses are stored and announced; errors and scopes."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pytest
from aiohttp import ClientResponse
from ops_constants import ADMIN_TOKEN
from orchestration_support import ask, draft, never_answers, replace_tool, with_timeouts
from server_support import bearer

from server.http.inspector import REGRESSIONS
from server.http.orchestration import ORCHESTRATION
from server.keys import CLOCK, DB
from server.services.orchestration.regression import RegressionService
from server.services.orchestration.tools import Tool, ToolResult
from server.storage.regressions import RegressionRepository
from shared.inspector import RegressionRequest

if TYPE_CHECKING:
    from server_support import Ops

QUESTION = "which prod databases are down?"
STAGES = ["route_plan", "validate", "execute", "compose", "present"]


async def _post(ops: Ops, path: str, body: Any, token: str | None = ADMIN_TOKEN) -> ClientResponse:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await ops.client.post(f"/inspector/regression/{path}", json=body, headers=headers)


async def _analyze(ops: Ops, baseline: str, comparison: str, **body: Any) -> dict[str, Any]:
    response = await _post(ops, "analyze", {"baseline_trace_id": baseline, "comparison_trace_id": comparison, **body})
    data = await response.json()
    assert response.status == 201, data
    assert data["code"] == 0
    return data["data"]


def _slowed(ops: Ops, name: str, seconds: float) -> None:
    tool: Tool = ops.app[ORCHESTRATION].pipeline.tools.by_name[name]

    async def slow(params: dict[str, Any]) -> ToolResult:
        await asyncio.sleep(seconds)
        return await tool(params)

    replace_tool(ops, name, slow)


def _by_stage(analysis: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {report["stage_name"]: report for report in analysis["stage_reports"]}


async def test_a_trace_compared_with_itself_scores_no_regression(ops: Ops) -> None:
    trace_id = (await ask(ops, QUESTION))["meta"]["trace_id"]
    analysis = await _analyze(ops, trace_id, trace_id)
    assert analysis["analysis_id"].startswith("reg_") and analysis["status"] == "completed"
    assert analysis["type"] == "stage" and analysis["answer_comparison"] is None
    assert [r["stage_name"] for r in analysis["stage_reports"]] == STAGES
    assert all(
        r["regression_score"] == 0 and not r["issues"] and not r["significant"] for r in analysis["stage_reports"]
    )
    assert analysis["stage_reports"][2]["differences"]["duration_ms"] == 0
    assert (analysis["overall_regression_score"], analysis["significant_changes"]) == (0, 0)
    assert analysis["critical_issues"] == [] and analysis["recommendations"] == []
    assert analysis["summary"].startswith("No regression: 5 stages compared")
    assert analysis["requested_by"] == "env:OPS_API_TOKEN"


async def _copy_with_slower(ops: Ops, trace_id: str, stage: str, extra_ms: int) -> str:
    """A copy of the trace whose `stage` took `extra_ms` longer and nothing else changed: stage timings of real
    asks move with the machine's load, so the stages meant to be unchanged are copied exactly."""
    repository = ops.app[ORCHESTRATION].traces
    trace = await repository.get(trace_id)
    assert trace is not None
    outputs = [
        o.model_copy(update={"duration_ms": o.duration_ms + extra_ms}) if o.stage == stage else o
        for o in trace.stage_outputs
    ]
    copy_id = f"{trace_id}_slow"
    await repository.save(trace.model_copy(update={"trace_id": copy_id, "stage_outputs": outputs}), [])
    return copy_id


async def test_a_slowed_stage_scores_worse_than_the_unchanged_ones(ops: Ops) -> None:
    baseline = (await ask(ops, QUESTION))["meta"]["trace_id"]
    slowed = await _copy_with_slower(ops, baseline, "execute", 300)
    analysis = await _analyze(ops, baseline, slowed)
    reports = _by_stage(analysis)
    execute = reports["execute"]
    assert execute["regression_score"] > 0 and execute["significant"]
    assert all(reports[stage]["regression_score"] == 0 for stage in STAGES if stage != "execute")
    assert execute["differences"]["duration_ms"] == 300
    assert execute["issues"][0].startswith("execute took ") and "x longer" in execute["issues"][0]
    assert execute["recommendations"] == [
        execute["issues"][0] + ": the assets are the same: look at what it called (ci_lookup)"
    ]
    assert analysis["overall_regression_score"] == execute["regression_score"]
    assert analysis["significant_changes"] == 1 and analysis["recommendations"] == execute["recommendations"]
    assert "the worst is execute" in analysis["summary"]
    # Read back as stored.
    response = await ops.get(f"/inspector/regression/{analysis['analysis_id']}")
    assert response.status == 200 and (await response.json())["data"] == analysis


async def test_a_deliberately_slowed_tool_shows_in_execute(ops: Ops) -> None:
    """The same through real asks, the tool itself slowed: execute is among the worst stages (the others' timings
    move only with the machine's load)."""
    baseline = (await ask(ops, QUESTION))["meta"]["trace_id"]
    _slowed(ops, "ci_lookup", 0.3)
    slowed = (await ask(ops, QUESTION))["meta"]["trace_id"]
    analysis = await _analyze(ops, baseline, slowed)
    execute = _by_stage(analysis)["execute"]
    assert execute["current_metrics"]["duration_ms"] >= 300 and execute["regression_score"] > 0
    assert execute["regression_score"] == max(r["regression_score"] for r in analysis["stage_reports"])
    assert execute["issues"][0].startswith("execute took ")
    assert execute["recommendations"][0] in analysis["recommendations"]


async def test_the_recommendation_names_the_asset_version_the_slow_stage_applied(ops: Ops) -> None:
    baseline = (await ask(ops, QUESTION))["meta"]["trace_id"]
    query = await draft(ops, "query", "ci-queries", "1.2.0", with_timeouts(2500))
    _slowed(ops, "ci_lookup", 0.3)
    comparison = (await ask(ops, QUESTION, asset_overrides={"query": query}))["meta"]["trace_id"]
    execute = _by_stage(await _analyze(ops, baseline, comparison))["execute"]
    assert execute["differences"]["applied_assets"] == {
        "query": {"before": "ci-queries:1.0.0", "after": "ci-queries:1.2.0"}
    }
    assert execute["recommendations"][0].startswith(
        execute["issues"][0] + " after query asset ci-queries 1.2.0 (was 1.0.0)"
    )


async def test_a_failing_tool_is_a_critical_issue(ops: Ops) -> None:
    baseline = (await ask(ops, QUESTION))["meta"]["trace_id"]
    query = await draft(ops, "query", "ci-queries", "1.1.0", with_timeouts(50))
    replace_tool(ops, "ci_lookup", never_answers())
    failed = await ask(ops, QUESTION, asset_overrides={"query": query})
    assert failed["meta"]["status"] == "error"
    analysis = await _analyze(ops, baseline, failed["meta"]["trace_id"])
    execute = _by_stage(analysis)["execute"]
    assert execute["current_metrics"]["status"] == "error" and execute["differences"]["status"] == {
        "before": "ok",
        "after": "error",
    }
    assert execute["regression_score"] >= 40 + 10
    assert analysis["critical_issues"][0].startswith(
        f"Critical regression in execute (score {execute['regression_score']})"
    )


async def test_a_full_analysis_compares_the_answers_too(ops: Ops) -> None:
    answered = (await ask(ops, QUESTION))["meta"]["trace_id"]
    refused = (await ask(ops, "delete every server"))["meta"]["trace_id"]
    analysis = await _analyze(ops, answered, refused, type="full")
    answer = analysis["answer_comparison"]
    assert answer["changed"] and answer["route"] == {"before": "orch", "after": "reject"}
    assert answer["status"] == {"before": "success", "after": "rejected"}
    assert answer["baseline_tools"] == ["ci_lookup"] and answer["comparison_tools"] == []
    assert answer["regression_score"] >= 30 + 40 and analysis["overall_regression_score"] >= answer["regression_score"]
    assert "The answer changed: the route changed from orch to reject" in analysis["summary"]
    same = await _analyze(ops, answered, answered, type="full")
    assert not same["answer_comparison"]["changed"] and same["overall_regression_score"] == 0
    assert same["summary"].endswith("The answers match.")


async def test_only_the_stages_asked_for_are_compared(ops: Ops) -> None:
    trace_id = (await ask(ops, QUESTION))["meta"]["trace_id"]
    analysis = await _analyze(ops, trace_id, trace_id, parameters={"stages": ["compose", "execute"]})
    assert [r["stage_name"] for r in analysis["stage_reports"]] == ["compose", "execute"]


async def test_stage_compare_answers_scores_and_differences_without_storing(ops: Ops) -> None:
    baseline = (await ask(ops, QUESTION))["meta"]["trace_id"]
    slowed = await _copy_with_slower(ops, baseline, "execute", 300)
    body = {"baseline_trace_id": baseline, "comparison_trace_id": slowed, "stages": ["execute", "compose"]}
    response = await _post(ops, "stage-compare", body)
    data = (await response.json())["data"]
    assert response.status == 200
    assert data["baseline_trace"]["trace_id"] == baseline and data["comparison_trace"]["trace_id"] == slowed
    assert set(data["stage_differences"]) == {"execute", "compose"}
    execute = data["stage_differences"]["execute"]
    assert execute["duration_difference_ms"] == 300 and execute["status_changed"] is False
    assert execute["baseline_metrics"]["stage_name"] == "execute" and execute["issues"]
    scores = data["regression_scores"]
    assert scores["execute"] > scores["compose"] == 0
    assert data["overall_regression_score"] == scores["execute"]
    assert data["overall_assessment"].endswith("regression detected in 1 stage")
    assert ops.table("orch_regressions") == []


@pytest.mark.parametrize("path", ["analyze", "stage-compare"])
async def test_unknown_traces_are_404_naming_each(ops: Ops, path: str) -> None:
    known = (await ask(ops, "help"))["meta"]["trace_id"]
    for baseline, comparison, missing in (
        ("tr_gone", known, ["tr_gone"]),
        (known, "tr_gone", ["tr_gone"]),
        ("tr_a", "tr_b", ["tr_a", "tr_b"]),
        ("tr_a", "tr_a", ["tr_a"]),
    ):
        response = await _post(ops, path, {"baseline_trace_id": baseline, "comparison_trace_id": comparison})
        body = await response.json()
        assert response.status == 404 and body["code"] == 404
        assert body["details"] == {"code": "trace_not_found", "trace_ids": missing}


async def test_an_unknown_analysis_is_404(ops: Ops) -> None:
    response = await ops.get("/inspector/regression/reg_nope")
    body = await response.json()
    assert response.status == 404 and body["details"]["code"] == "analysis_not_found"
    assert body["error"] == "no regression analysis 'reg_nope'"
    # The POST-only paths beside it are not analyses' names: GET on them is 405 and Allow names POST alone
    # (as the OpenAPI document says), not a search for an analysis called "analyze".
    for path in ("analyze", "stage-compare"):
        for method in ("GET", "OPTIONS"):
            response = await ops.client.request(method, f"/inspector/regression/{path}", headers=bearer(ADMIN_TOKEN))
            assert response.status == 405 and response.headers["Allow"] == "POST", (method, path)
            assert (await response.json())["code"] == 405
    # The route's regex is no part of its name in the audit.
    assert "GET /inspector/regression/{analysis_id}" in [row["action"] for row in await ops.audit_rows()]


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"type": "partial"}, ["body", "type"]),
        ({"parameters": {"stages": []}}, ["body", "parameters", "stages"]),
        ({"parameters": {"stages": ["execute", "execute"]}}, ["body", "parameters", "stages"]),
        ({"parameters": {"stages": ["deploy"]}}, ["body", "parameters", "stages", 0]),
        ({"parameters": {"depth": 2}}, ["body", "parameters", "depth"]),
        ({"baseline": "x"}, ["body", "baseline"]),
        ({"baseline_trace_id": ""}, ["body", "baseline_trace_id"]),
    ],
)
async def test_an_invalid_analysis_request_is_422(ops: Ops, body: dict[str, Any], loc: list[Any]) -> None:
    response = await _post(ops, "analyze", {"baseline_trace_id": "tr_a", "comparison_trace_id": "tr_b", **body})
    error = await response.json()
    assert response.status == 422 and error["details"]["code"] == "validation_failed"
    assert [e["loc"] for e in error["details"]["errors"]] == [loc]
    missing = await _post(ops, "stage-compare", {"baseline_trace_id": "tr_a"})
    assert missing.status == 422
    assert [e["loc"] for e in (await missing.json())["details"]["errors"]] == [["body", "comparison_trace_id"]]


async def test_analysing_needs_inspector_write_and_reading_ops_read(ops: Ops) -> None:
    trace_id = (await ask(ops, "help"))["meta"]["trace_id"]
    body = {"baseline_trace_id": trace_id, "comparison_trace_id": trace_id}
    assert (await _post(ops, "analyze", body, token=None)).status == 401
    reader = await ops.create_token("reader", "inspector:read")
    refused = await _post(ops, "analyze", body, token=reader)
    assert refused.status == 403 and (await refused.json())["details"]["code"] == "insufficient_scope"
    assert (await _post(ops, "stage-compare", body, token=reader)).status == 200
    assert (await _post(ops, "stage-compare", body, token=None)).status == 401
    writer = await ops.create_token("ci", "inspector:write")
    analysis = (await (await _post(ops, "analyze", body, token=writer)).json())["data"]
    assert analysis["requested_by"] == "ci"
    assert (await ops.get(f"/inspector/regression/{analysis['analysis_id']}", token=reader)).status == 200
    assert (await ops.get(f"/inspector/regression/{analysis['analysis_id']}", token=writer)).status == 403
    audited = [row for row in ops.table("audit_log") if row["action"] == "inspector.regression"]
    assert [row["target"] for row in audited] == [analysis["analysis_id"]]


class RecordingSink:
    def __init__(self, fail: bool = False) -> None:
        self.events: list[tuple[str, dict[str, object], bool]] = []
        self.fail = fail

    async def emit(self, event_type: str, data: Mapping[str, object], *, test_mode: bool) -> None:
        if self.fail:
            raise RuntimeError("the queue is gone")
        self.events.append((event_type, dict(data), test_mode))


@pytest.mark.parametrize("fail", [False, True])
async def test_a_completed_analysis_is_announced_and_stands_if_announcing_fails(ops: Ops, fail: bool) -> None:
    trace_id = (await ask(ops, QUESTION, test_mode=True))["meta"]["trace_id"]
    sink = RecordingSink(fail)
    repository = RegressionRepository(ops.app[DB])
    service = RegressionService(ops.app[ORCHESTRATION].traces, repository, ops.app[CLOCK], sink)
    request = RegressionRequest(baseline_trace_id=trace_id, comparison_trace_id=trace_id)
    analysis = await service.analyze(request, "tester")
    assert await repository.get(analysis.analysis_id) == analysis
    if not fail:
        [(event_type, data, test_mode)] = sink.events
        assert (event_type, test_mode) == ("regression.completed", False)
        assert data["analysis_id"] == analysis.analysis_id and data["overall_regression_score"] == 0
        assert data["status"] == "completed" and data["baseline_trace_id"] == trace_id


async def test_the_app_announces_through_the_webhooks_sink(ops: Ops) -> None:
    """The service took whatever sink the app holds under EVENTS (the webhooks family's, or none)."""
    from server.services.orchestration.events import EVENTS, NO_EVENTS

    service = ops.app[REGRESSIONS]
    assert service._events is ops.app.get(EVENTS, NO_EVENTS)
