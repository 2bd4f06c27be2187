"""POST /ops/ci/ask: each intent in English and Korean, refusals by the policy asset, the five stages on record in
the stored trace, asset overrides changing the outcome, the CMDB showing the plant's live state, and every error."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from orchestration_support import ask, ask_raw, draft

from shared.orchestration import STAGES, AskResponse

if TYPE_CHECKING:
    from server_support import Ops

INTENTS = [
    ("which prod databases are down?", "ci_lookup", "ci_lookup"),
    ("운영 데이터베이스 중 다운된 것은?", "ci_lookup", "ci_lookup"),
    ("서버 상태를 확인해주세요", "ci_lookup", "ci_lookup"),
    ("list the servers owned by payments", "ci_lookup", "ci_lookup"),
    ("결제 서버 목록", "ci_lookup", "ci_lookup"),
    ("what depends on the connector?", "ci_relations", "ci_relations"),
    ("커넥터에 의존하는 것은?", "ci_relations", "ci_relations"),
    ("show throughput for the last hour", "metric_query", "metric_query"),
    ("지난 1시간 처리량 보여줘", "metric_query", "metric_query"),
    ("show recent audit entries", "audit_search", "audit_search"),
    ("최근 감사 로그 보여줘", "audit_search", "audit_search"),
    ("show the runbook history", "runbook_history", "runbook_history"),
    ("런북 실행 이력 알려줘", "runbook_history", "runbook_history"),
    ("what is failing?", "failing_components", "ci_lookup"),
    ("장애 난 컴포넌트 알려줘", "failing_components", "ci_lookup"),
]


@pytest.mark.parametrize(("question", "feature", "tool"), INTENTS)
async def test_each_intent_routes_in_both_languages(ops: Ops, question: str, feature: str, tool: str) -> None:
    data = await ask(ops, question)
    assert data["meta"]["route"] == "orch" and data["meta"]["feature"] == feature
    assert data["meta"]["used_tools"] == [tool] and data["meta"]["status"] == "success"
    assert data["trace"]["plan_output"]["kind"] == "plan"
    assert data["trace"]["plan_output"]["plan"]["steps"][0]["tool"] == tool
    AskResponse.model_validate(data)  # the shared models read every answer


def _table(data: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    block = next(b for b in data["blocks"] if b["type"] == "table")
    return block["content"]["headers"], block["content"]["rows"]


def _column(data: dict[str, Any], header: str) -> list[Any]:
    headers, rows = _table(data)
    return [row[headers.index(header)] for row in rows]


@pytest.mark.parametrize("question", ["which prod databases are down?", "운영 데이터베이스 중 다운된 것은?"])
async def test_lookup_filters_by_type_environment_and_status(ops: Ops, question: str) -> None:
    data = await ask(ops, question)
    expected = sorted(
        r["name"]
        for r in ops.table("cmdb_cis")
        if (r["ci_type"], r["environment"], r["status"]) == ("database", "prod", "down") and not r["plant_component"]
    )
    assert expected and sorted(_column(data, "CI")) == expected
    assert data["trace"]["plan_output"]["plan"]["steps"][0]["params"] == {
        "limit": 50,
        "ci_types": ["database"],
        "environments": ["prod"],
        "statuses": ["down"],
    }


@pytest.mark.parametrize("question", ["list the servers owned by payments", "결제 서버 목록"])
async def test_lookup_filters_by_owner(ops: Ops, question: str) -> None:
    data = await ask(ops, question)
    total = sum(1 for r in ops.table("cmdb_cis") if (r["ci_type"], r["owner"]) == ("server", "payments"))
    owners = _column(data, "Owner")
    assert owners and set(owners) == {"payments"} and set(_column(data, "Type")) == {"server"}
    assert data["trace"]["stage_outputs"][2]["diagnostics"]["counts"]["ci_lookup"] == total


@pytest.mark.parametrize("question", ["what depends on the connector?", "커넥터에 의존하는 것은?"])
async def test_relations_name_what_depends_on_a_ci(ops: Ops, question: str) -> None:
    data = await ask(ops, question)
    headers, rows = _table(data)
    inbound = {
        row[headers.index("Related CI")]
        for row in rows
        if row[headers.index("Direction")] == "inbound" and row[headers.index("Relation")] == "depends_on"
    }
    assert inbound == {"execution_engine", "mt5_bridge"}


async def test_a_relations_question_naming_no_ci_is_answered_directly(ops: Ops) -> None:
    data = await ask(ops, "what depends on it?")
    assert data["meta"]["route"] == "direct" and data["meta"]["used_tools"] == []
    assert "Name the configuration item" in data["blocks"][0]["content"]["markdown"]


@pytest.mark.parametrize(
    ("question", "minutes", "metric"),
    [
        ("show throughput for the last hour", 60, "md_throughput_mps"),
        ("지난 1시간 처리량 보여줘", 60, "md_throughput_mps"),
        ("coverage over the last 30 minutes", 30, "md_subscription_coverage_ratio"),
        ("백로그 지표 15분", 15, "consumer_backlog_messages"),
    ],
)
async def test_metric_questions_answer_a_timeseries_from_the_metrics_service(
    ops: Ops, question: str, minutes: int, metric: str
) -> None:
    data = await ask(ops, question)
    series = next(b for b in data["blocks"] if b["type"] == "timeseries")
    assert series["content"]["metric"] == metric and series["content"]["points"]
    assert data["trace"]["plan_output"]["plan"]["steps"][0]["params"]["minutes"] == minutes


@pytest.mark.parametrize("question", ["show recent audit entries", "최근 감사 로그 보여줘"])
async def test_audit_questions_read_the_audit_trail(ops: Ops, question: str) -> None:
    await ops.get("/ops/status")  # an entry to find
    data = await ask(ops, question)
    assert _column(data, "Action") == ["GET /ops/status"] and _column(data, "Principal") == ["env:OPS_API_TOKEN"]


async def test_failing_components_include_a_plant_component_stopped_through_the_control_family(ops: Ops) -> None:
    before = await ask(ops, "what is failing?")
    assert "connector" not in _column(before, "CI")
    await ops.run("stop", "connector")
    after = await ask(ops, "장애 난 컴포넌트 알려줘")
    assert set(_column(after, "Status")) <= {"down", "degraded"}
    assert "connector" in _column(after, "CI")
    status = await ask(ops, "connector status")
    assert _column(status, "CI") == ["connector"] and _column(status, "Status") == ["down"]


@pytest.mark.parametrize(
    ("question", "policy"),
    [
        ("delete all the prod servers", "destructive_action"),
        ("커넥터 서버 재시작해줘", "destructive_action"),
        ("what is the admin password?", "credentials"),
        ("what's the weather like tomorrow?", "out_of_scope"),
        ("오늘 점심 메뉴 추천해줘", "out_of_scope"),
    ],
)
async def test_a_reject_names_its_policy_and_runs_nothing(ops: Ops, question: str, policy: str) -> None:
    data = await ask(ops, question)
    output = data["trace"]["plan_output"]
    assert output["kind"] == "reject" and output["reject_policy"] == policy and output["reject_reason"]
    assert data["meta"]["route"] == "reject" and data["meta"]["status"] == "rejected"
    assert data["meta"]["used_tools"] == []
    assert data["trace"]["stage_outputs"][2]["result"]["skipped"] is True
    assert policy in data["blocks"][0]["content"]["markdown"]


async def test_help_is_a_direct_answer(ops: Ops) -> None:
    data = await ask(ops, "help")
    assert data["meta"]["route"] == "direct" and data["trace"]["plan_output"]["kind"] == "direct"
    assert "서버 상태를 확인해주세요" in data["blocks"][0]["content"]["markdown"]


async def test_the_trace_records_five_stages_with_their_assets_and_is_stored(ops: Ops) -> None:
    data = await ask(ops, "which prod databases are down?")
    trace = data["trace"]
    assert [s["stage"] for s in trace["stage_inputs"]] == list(STAGES)
    assert [s["stage"] for s in trace["stage_outputs"]] == list(STAGES)
    assert trace["stage_inputs"][0]["applied_assets"] == {
        "prompt": "ci-router:1.0.0",
        "mapping": "ci-words:1.0.0",
        "policy": "ops-policy:1.0.0",
        "query": "ci-queries:1.0.0",
    }
    assert trace["stage_inputs"][3]["applied_assets"] == {"screen": "answer-layouts:1.0.0"}
    assert trace["stage_inputs"][1]["prev_output"] == trace["stage_outputs"][0]["result"]
    assert all(o["duration_ms"] >= 0 and o["diagnostics"]["status"] for o in trace["stage_outputs"])
    assert trace["stage_outputs"][2]["references"]  # the CIs read
    assert trace["router"] == "keyword"
    assert any("keyword router" in w for w in trace["stage_outputs"][0]["diagnostics"]["warnings"])
    [row] = ops.table("orch_traces")
    assert (row["trace_id"], row["feature"], row["route"], row["status"]) == (
        trace["trace_id"],
        "ci_lookup",
        "orch",
        "success",
    )
    assert json.loads(row["body"]) == trace
    assert "ci-router:1.0.0" in row["applied_assets"]


async def test_test_mode_marks_the_trace(ops: Ops) -> None:
    data = await ask(ops, "서버 상태를 확인해주세요", test_mode=True)
    assert data["meta"]["test_mode"] is True and data["trace"]["test_mode"] is True
    assert ops.table("orch_traces")[0]["test_mode"] == 1


async def test_an_override_pinning_another_policy_changes_the_outcome(ops: Ops) -> None:
    assert (await ask(ops, "show recent audit entries"))["meta"]["route"] == "orch"
    pinned = await draft(ops, "policy", "ops-policy", "1.1.0", lambda c: c["allowed_tools"].remove("audit_search"))
    data = await ask(ops, "show recent audit entries", asset_overrides={"policy": pinned})
    assert data["meta"]["route"] == "reject"
    assert data["trace"]["plan_output"]["reject_policy"] == "ops-policy.allowed_tools"
    assert data["trace"]["applied_assets"]["policy"] == "ops-policy:1.1.0"
    assert data["trace"]["stage_inputs"][1]["applied_assets"] == {"policy": "ops-policy:1.1.0"}
    # The next ask without the override runs the published version again.
    assert (await ask(ops, "show recent audit entries"))["meta"]["route"] == "orch"


async def test_an_override_of_the_prompt_by_version_alone_changes_the_route(ops: Ops) -> None:
    def forget_failing(content: dict[str, Any]) -> None:
        content["intents"] = [i for i in content["intents"] if i["intent"] != "failing_components"]

    await draft(ops, "prompt", "ci-router", "2.0.0", forget_failing)
    data = await ask(ops, "what is failing?", asset_overrides={"prompt": "2.0.0"})
    assert data["trace"]["plan_output"]["reject_policy"] == "out_of_scope"


async def test_an_override_of_an_unknown_version_is_404(ops: Ops) -> None:
    response = await ask_raw(ops, "서버 상태", asset_overrides={"policy": "ops-policy:9.9.9"})
    body = await response.json()
    assert response.status == 404
    assert body["code"] == 404 and body["message"] == "Not Found" and body["details"]["code"] == "asset_not_found"


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({}, ["body", "question"]),
        ({"question": ""}, ["body", "question"]),
        ({"question": "x" * 1001}, ["body", "question"]),
        ({"question": "서버", "extra": 1}, ["body", "extra"]),
        (
            {"question": "서버", "context": {"asset_overrides": {"widget": "1.0.0"}}},
            ["body", "context", "asset_overrides", "widget", "[key]"],
        ),
        (
            {"question": "서버", "context": {"asset_overrides": {"policy": "latest"}}},
            ["body", "context", "asset_overrides", "policy"],
        ),
        (
            {"question": "서버", "context": {"asset_overrides": {"prompt": ""}}},
            ["body", "context", "asset_overrides", "prompt"],
        ),
        (
            {"question": "서버", "context": {"test_mode": 0}},
            ["body", "context", "test_mode"],
        ),  # a boolean, as documented
    ],
)
async def test_an_invalid_body_is_422_naming_the_field(ops: Ops, body: dict[str, Any], loc: list[Any]) -> None:
    response = await ops.client.post("/ops/ci/ask", json=body, headers={"Authorization": "Bearer admin-secret"})
    answer = await response.json()
    assert response.status == 422, answer
    assert answer["code"] == 422 and answer["message"] == "Unprocessable Entity" and answer["error"]
    assert loc in [e["loc"] for e in answer["details"]["errors"]]


async def test_a_body_that_is_not_json_is_422(ops: Ops) -> None:
    response = await ops.client.post("/ops/ci/ask", data=b"{not json", headers={"Authorization": "Bearer admin-secret"})
    assert response.status == 422 and (await response.json())["details"]["code"] == "malformed_json"


async def test_asking_needs_a_token_with_ops_read(ops: Ops) -> None:
    response = await ask_raw(ops, "서버 상태", token="nope")
    assert response.status == 401 and (await response.json())["code"] == 401
    token = await ops.create_token("writer", "assets:write")
    response = await ask_raw(ops, "서버 상태", token=token)
    assert response.status == 403 and (await response.json())["details"]["code"] == "insufficient_scope"
    assert ops.table("orch_traces") == []


async def test_an_ask_is_on_the_audit_trail_with_its_trace(ops: Ops) -> None:
    data = await ask(ops, "서버 상태를 확인해주세요")
    rows = [r for r in await ops.audit_rows() if r["action"] == "ci.ask"]
    assert [r["target"] for r in rows] == [data["meta"]["trace_id"]]
    assert json.loads(rows[0]["detail"])["feature"] == "ci_lookup"


async def test_a_prompt_naming_a_query_template_the_query_asset_lacks_is_409(ops: Ops) -> None:
    def rename(content: dict[str, Any]) -> None:
        next(i for i in content["intents"] if i["intent"] == "ci_lookup")["query"] = "inventory"

    pinned = await draft(ops, "prompt", "ci-router", "1.2.0", rename)
    response = await ask_raw(ops, "서버 상태를 확인해주세요", asset_overrides={"prompt": pinned})
    body = await response.json()
    assert response.status == 409 and body["details"]["code"] == "asset_mismatch"
    assert "inventory" in body["error"]
