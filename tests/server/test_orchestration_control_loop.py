"""The control loop: a step that times out, fails, comes back empty or breaks the policy is replanned within the
replan policy (another tool, a widened filter, a smaller query), and not beyond `max_replans`, inside the cooling
period or the min interval, on a trigger not allowed, or with automatic replans off. And the statistics."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from orchestration_support import ask, draft, never_answers, replace_tool, with_timeouts

from server.clock import ManualClock
from server.http.orchestration import ORCHESTRATION
from server.services.orchestration.tools import Tool, ToolResult

if TYPE_CHECKING:
    from server_support import Ops


async def _fast_queries(ops: Ops) -> dict[str, str]:
    """Overrides with every tool's timeout at 30 ms, so a tool that never answers is cut short at once."""
    return {"query": await draft(ops, "query", "ci-queries", "9.0.0", with_timeouts(30))}


def _decisions(data: dict[str, Any]) -> list[tuple[str, str, bool]]:
    return [
        (e["stage_name"], e["trigger"]["trigger_type"], e["decision_metadata"]["should_replan"])
        for e in data["trace"]["replan_events"]
    ]


async def test_a_timeout_replans_to_the_fallback_tool(ops: Ops) -> None:
    overrides = await _fast_queries(ops)
    replace_tool(ops, "metric_query", never_answers())
    data = await ask(ops, "show throughput for the last hour", asset_overrides=overrides)
    [event] = data["trace"]["replan_events"]
    assert event["event_type"] == "replan_decision" and event["stage_name"] == "execute"
    assert event["trigger"] == {
        "trigger_type": "timeout",
        "reason": "no answer within 30 ms",
        "severity": "medium",
        "stage_name": "execute",
    }
    assert event["decision_metadata"]["should_replan"] is True and event["decision_metadata"]["replan_count"] == 1
    assert event["patch"]["before"]["steps"][0]["tool"] == "metric_query"
    assert event["patch"]["after"]["steps"] == [{"tool": "metric_summary", "params": {"metric": "md_throughput_mps"}}]
    # The plan really changed, and the pipeline went on with it.
    assert data["trace"]["plan_output"]["plan"]["steps"][0]["tool"] == "metric_summary"
    assert data["meta"]["used_tools"] == ["metric_query", "metric_summary"] and data["meta"]["status"] == "success"
    table = next(b for b in data["blocks"] if b["type"] == "table")
    assert table["title"] == "Latest metrics" and table["content"]["rows"][0][0] == "md_throughput_mps"


async def test_no_replan_beyond_max_replans_then_none_inside_the_cooling_period(ops: Ops, clock: ManualClock) -> None:
    overrides = await _fast_queries(ops)
    replace_tool(ops, "ci_lookup", never_answers())
    data = await ask(ops, "서버 상태를 확인해주세요", asset_overrides=overrides)
    assert _decisions(data) == [("execute", "timeout", True)] * 2 + [("execute", "timeout", False)]
    limits = [e["patch"]["after"]["steps"][0]["params"]["limit"] for e in data["trace"]["replan_events"]]
    assert limits == [25, 12, 12]  # halved twice (shrink_on_timeout), then left alone
    assert data["trace"]["replan_events"][2]["decision_metadata"]["reason"] == "the ask used all 2 replans"
    assert data["meta"]["status"] == "error" and "gave no answer" in data["blocks"][1]["content"]["text"]

    clock.advance(60)
    cooling = await ask(ops, "서버 상태를 확인해주세요", asset_overrides=overrides)
    [event] = cooling["trace"]["replan_events"]
    assert event["decision_metadata"]["should_replan"] is False
    assert event["decision_metadata"]["reason"].startswith("cooling period: 60s of 300s")

    clock.advance(241)
    cooled = await ask(ops, "서버 상태를 확인해주세요", asset_overrides=overrides)
    assert _decisions(cooled)[0] == ("execute", "timeout", True)


def _slow_when(limit: int, real: Tool) -> Tool:
    """ci_lookup that never answers a query of `limit` rows and answers smaller ones."""

    async def tool(params: dict[str, Any]) -> ToolResult:
        if params.get("limit") == limit:
            return await never_answers()(params)
        return await real(params)

    return tool


async def test_no_replan_within_the_min_interval_of_another_asks_replan(ops: Ops, clock: ManualClock) -> None:
    overrides = await _fast_queries(ops)
    real = ops.app[ORCHESTRATION].pipeline.tools.by_name["ci_lookup"]
    replace_tool(ops, "ci_lookup", _slow_when(50, real))
    first = await ask(ops, "서버 상태를 확인해주세요", asset_overrides=overrides)
    assert _decisions(first) == [("execute", "timeout", True)] and first["meta"]["status"] == "success"
    rows = next(b for b in first["blocks"] if b["type"] == "table")["content"]["rows"]
    assert len(rows) == 25

    clock.advance(5)
    second = await ask(ops, "서버 상태를 확인해주세요", asset_overrides=overrides)
    [event] = second["trace"]["replan_events"]
    assert event["decision_metadata"]["reason"] == "min interval: 5s of 10s since the last replan"
    assert event["patch"]["before"] == event["patch"]["after"] and second["meta"]["status"] == "error"

    clock.advance(5)
    third = await ask(ops, "서버 상태를 확인해주세요", asset_overrides=overrides)
    assert _decisions(third) == [("execute", "timeout", True)] and third["meta"]["status"] == "success"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda c: c["replan"].update(enable_automatic_replan=False), "automatic replan is disabled"),
        (lambda c: c["replan"].update(allowed_triggers=["error"]), "the trigger 'timeout' is not allowed"),
        (lambda c: c["replan"].update(max_replans=0), "the ask used all 0 replans"),
    ],
)
async def test_the_replan_policy_can_refuse_every_replan(ops: Ops, change: Any, reason: str) -> None:
    overrides = {**await _fast_queries(ops), "policy": await draft(ops, "policy", "ops-policy", "9.0.0", change)}
    replace_tool(ops, "metric_query", never_answers())
    data = await ask(ops, "show throughput for the last hour", asset_overrides=overrides)
    [event] = data["trace"]["replan_events"]
    assert event["decision_metadata"] == {**event["decision_metadata"], "should_replan": False, "reason": reason}
    assert data["meta"]["used_tools"] == ["metric_query"] and data["meta"]["status"] == "error"


async def test_an_error_replans_to_the_fallback_tool(ops: Ops) -> None:
    data = await ask(ops, "what depends on srv-nowhere-01?")
    assert data["trace"]["plan_output"]["kind"] == "direct"  # an unknown CI is not named at all
    real = ops.app[ORCHESTRATION].pipeline.tools.by_name["ci_relations"]

    async def failing(params: dict[str, Any]) -> ToolResult:
        if params["name"] == "connector":
            raise RuntimeError("relations index unavailable")
        return await real(params)

    replace_tool(ops, "ci_relations", failing)
    data = await ask(ops, "what depends on the connector?")
    [event] = data["trace"]["replan_events"]
    assert event["trigger"]["trigger_type"] == "error" and event["trigger"]["severity"] == "high"
    assert event["trigger"]["reason"] == "RuntimeError: relations index unavailable"
    assert event["patch"]["after"]["steps"][0] == {"tool": "ci_lookup", "params": {"limit": 50, "names": ["connector"]}}
    assert data["meta"]["used_tools"] == ["ci_relations", "ci_lookup"] and data["meta"]["status"] == "success"


def _empty_combination(ops: Ops) -> tuple[str, str, str]:
    """A CI type, owner and status no stored CI has together, though CIs of that type and status exist."""
    rows = [r for r in ops.table("cmdb_cis") if not r["plant_component"]]
    for ci_type in ("queue", "database", "service", "server"):
        for owner in ("sales", "payments", "finance", "platform"):
            for status in ("maintenance", "degraded", "down"):
                together = [r for r in rows if (r["ci_type"], r["owner"], r["status"]) == (ci_type, owner, status)]
                apart = [r for r in rows if (r["ci_type"], r["status"]) == (ci_type, status)]
                if not together and apart:
                    return ci_type, owner, status
    raise AssertionError("the seed has every combination")


async def test_an_empty_answer_replans_with_a_widened_filter(ops: Ops) -> None:
    ci_type, owner, status = _empty_combination(ops)
    data = await ask(ops, f"which {ci_type}s owned by {owner} are {status}?")
    [event] = data["trace"]["replan_events"]
    assert event["trigger"]["trigger_type"] == "empty" and event["decision_metadata"]["should_replan"] is True
    assert event["patch"]["before"]["steps"][0]["params"]["owners"] == [owner]
    assert "owners" not in event["patch"]["after"]["steps"][0]["params"]
    table = next(b for b in data["blocks"] if b["type"] == "table")
    headers, rows = table["content"]["headers"], table["content"]["rows"]
    assert rows and {(r[headers.index("Type")], r[headers.index("Status")]) for r in rows} == {(ci_type, status)}


async def test_a_policy_violation_is_replanned_in_validate(ops: Ops) -> None:
    def wide(content: dict[str, Any]) -> None:
        content["templates"]["ci_lookup"]["params"]["limit"] = 500

    data = await ask(
        ops,
        "서버 상태를 확인해주세요",
        asset_overrides={"query": await draft(ops, "query", "ci-queries", "9.1.0", wide)},
    )
    [event] = data["trace"]["replan_events"]
    assert (event["stage_name"], event["trigger"]["trigger_type"]) == ("validate", "policy_violation")
    assert event["patch"]["before"]["steps"][0]["params"]["limit"] == 500
    assert event["patch"]["after"]["steps"][0]["params"]["limit"] == 200
    assert data["trace"]["stage_outputs"][1]["diagnostics"]["status"] == "warning"
    assert data["trace"]["plan_output"]["plan"]["steps"][0]["params"]["limit"] == 200
    assert data["meta"]["status"] == "success"


async def test_the_statistics_count_the_decisions(ops: Ops, clock: ManualClock) -> None:
    empty = await ops.get("/ops/control-loop/stats")
    assert (await empty.json()) == {
        "code": 0,
        "message": "success",
        "data": {
            "replan_count": 0,
            "max_replans": 2,
            "last_replan_time": None,
            "replan_history_count": 0,
            "trigger_counts": {},
            "policy": {
                "max_replans": 2,
                "allowed_triggers": ["error", "timeout", "empty", "policy_violation"],
                "enable_automatic_replan": True,
                "min_interval_seconds": 10.0,
                "cooling_period_seconds": 300.0,
            },
        },
    }
    overrides = await _fast_queries(ops)
    replace_tool(ops, "ci_lookup", never_answers())
    await ask(ops, "서버 상태를 확인해주세요", asset_overrides=overrides)
    stats = (await (await ops.get("/ops/control-loop/stats")).json())["data"]
    assert stats["replan_count"] == 2 and stats["replan_history_count"] == 3
    assert stats["trigger_counts"] == {"timeout": 3}
    assert stats["last_replan_time"] == clock.now().isoformat().replace("+00:00", "Z")


async def test_the_statistics_need_a_token(ops: Ops) -> None:
    response = await ops.get("/ops/control-loop/stats", token=None)
    assert response.status == 401 and (await response.json())["code"] == 401


async def test_the_cooling_period_holds_across_a_restart(ops_with: Any) -> None:
    first = await ops_with()
    overrides = await _fast_queries(first)
    replace_tool(first, "ci_lookup", never_answers())
    await ask(first, "서버 상태를 확인해주세요", asset_overrides=overrides)
    await first.client.close()
    again = await ops_with()
    replace_tool(again, "ci_lookup", never_answers())
    data = await ask(again, "서버 상태를 확인해주세요", asset_overrides=overrides)
    assert data["trace"]["replan_events"][0]["decision_metadata"]["reason"].startswith("cooling period")
