"""GET /inspector/traces/{trace_id} and POST /inspector/traces/{trace_id}/ui-render: the trace as the contract shows
it with its audit entries from the shared audit trail (who asked, each stage, each render), a render validated,
bounded and audited, unknown ids 404 in the envelope, and the scopes."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from aiohttp import ClientResponse
from ops_constants import ADMIN_TOKEN
from orchestration_support import ask, ask_raw
from server_support import ADMIN_PRINCIPAL

from server.keys import AUDIT
from server.services.orchestration import inspector
from shared.inspector import UI_RENDER_MAX_BLOCKS, UI_RENDER_MAX_BYTES

if TYPE_CHECKING:
    from server_support import Ops

TABLE = {"type": "table", "title": "CIs", "content": {"headers": ["CI", "Status"], "rows": [["db-1", "down"]]}}
CONTRACT_TRACE_FIELDS = {
    "trace_id", "question", "route", "created_at", "duration_ms", "status", "stage_inputs", "stage_outputs",
    "replan_events",
}  # fmt: skip


async def _detail(ops: Ops, trace_id: str) -> dict[str, Any]:
    response = await ops.get(f"/inspector/traces/{trace_id}")
    body = await response.json()
    assert response.status == 200, body
    assert body["code"] == 0
    return body["data"]


async def _render(ops: Ops, trace_id: str, body: Any, token: str = ADMIN_TOKEN, **kwargs: Any) -> ClientResponse:
    if body is not None:
        kwargs["json"] = body
    path = f"/inspector/traces/{trace_id}/ui-render"
    return await ops.client.post(path, headers={"Authorization": f"Bearer {token}"}, **kwargs)


async def test_the_trace_is_as_the_contract_shows_with_who_asked_and_each_stage(ops: Ops) -> None:
    answer = await ask(ops, "which prod databases are down?")
    trace_id = answer["meta"]["trace_id"]
    data = await _detail(ops, trace_id)
    assert set(data) == {"trace", "audit_logs", "ui_render"} and data["ui_render"] is None
    assert data["trace"] == answer["trace"] and set(data["trace"]) >= CONTRACT_TRACE_FIELDS
    asked, *stages = data["audit_logs"]
    assert asked["resource_type"] == "trace" and asked["action"] == "asked" and asked["resource_id"] == trace_id
    assert asked["principal"] == ADMIN_PRINCIPAL and asked["outcome"] == "ok" and asked["trace_id"] == trace_id
    assert asked["detail"]["route"] == "orch"
    assert [(s["resource_type"], s["resource_id"], s["action"]) for s in stages] == [
        ("stage", stage, "executed") for stage in ("route_plan", "validate", "execute", "compose", "present")
    ]
    assert {s["audit_entry_id"] for s in stages} == {asked["audit_entry_id"]}
    # Each stage is timed when it ended: the ask's start plus the stages' durations so far.
    ended = datetime.fromisoformat(answer["trace"]["created_at"])
    for stage, output in zip(stages, answer["trace"]["stage_outputs"], strict=True):
        ended += timedelta(milliseconds=output["duration_ms"])
        assert datetime.fromisoformat(stage["timestamp"]) == ended
        assert stage["outcome"] == output["diagnostics"]["status"]
    # The entries are the audit trail's own: the ask's entry is there with the trace id as its target.
    rows = [row for row in await ops.audit_rows() if row["target"] == trace_id]
    assert [(row["entry_id"], row["action"]) for row in rows] == [(asked["audit_entry_id"], "ci.ask")]


async def test_the_audit_logs_name_who_asked_and_leave_out_other_traces(ops: Ops) -> None:
    reader = await ops.create_token("reader", "ops:read")
    response = await ask_raw(ops, "which prod databases are down?", token=reader)
    trace_id = (await response.json())["data"]["meta"]["trace_id"]
    await ask(ops, "which prod databases are down?")  # another trace of the same question
    await ops.get(f"/inspector/traces/{trace_id}")  # a read of it mentions the id in its path
    logs = (await _detail(ops, trace_id))["audit_logs"]
    assert len(logs) == 6 and {log["principal"] for log in logs} == {"reader"}


async def test_views_of_a_trace_never_push_its_ask_out_of_its_audit_logs(
    ops: Ops, monkeypatch: pytest.MonkeyPatch
) -> None:
    trace_id = (await ask(ops, "help"))["meta"]["trace_id"]
    monkeypatch.setattr(inspector, "AUDIT_PAGE", 1)
    monkeypatch.setattr(inspector, "AUDIT_ENTRIES_MAX", 2)
    for _ in range(3):  # each view is an audit entry whose path names the trace
        await _detail(ops, trace_id)
    assert (await _detail(ops, trace_id))["audit_logs"][0]["action"] == "asked"


async def test_a_render_is_stored_shown_with_the_trace_and_audited(ops: Ops) -> None:
    trace_id = (await ask(ops, "which prod databases are down?"))["meta"]["trace_id"]
    response = await _render(ops, trace_id, {"blocks": [TABLE], "meta": {"client": "ops-console", "width": 120}})
    body = await response.json()
    assert response.status == 201, body
    receipt = body["data"]
    assert receipt["trace_id"] == trace_id and receipt["block_count"] == 1 and receipt["size_bytes"] > 0
    data = await _detail(ops, trace_id)
    rendered = data["audit_logs"][-1]
    assert (rendered["resource_type"], rendered["resource_id"], rendered["action"]) == (
        "ui_render",
        receipt["render_id"],
        "rendered",
    )
    assert rendered["principal"] == ADMIN_PRINCIPAL and rendered["detail"]["blocks"] == 1
    assert data["ui_render"]["render_id"] == receipt["render_id"]
    assert data["ui_render"]["blocks"] == [TABLE] and data["ui_render"]["meta"] == {
        "client": "ops-console",
        "width": 120,
    }
    # A later render is the one shown; both are on record.
    second = await _render(ops, trace_id, {"blocks": []})
    assert second.status == 201
    data = await _detail(ops, trace_id)
    assert (
        data["ui_render"]["blocks"] == []
        and data["ui_render"]["render_id"] == (await second.json())["data"]["render_id"]
    )
    assert [log["action"] for log in data["audit_logs"]].count("rendered") == 2


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"blocks": [{"type": "hologram", "content": {}}]}, ["body", "blocks", 0]),
        ({"blocks": [{"type": "table", "content": {"headers": "CI"}}]}, ["body", "blocks", 0, "table", "content"]),
        ({"meta": {}}, ["body", "blocks"]),
        ({"blocks": [], "extra": 1}, ["body", "extra"]),
        ({"blocks": [], "meta": []}, ["body", "meta"]),
        ({"blocks": [TABLE] * (UI_RENDER_MAX_BLOCKS + 1)}, ["body", "blocks"]),
        ({"blocks": [{"content": {"text": "no type"}}]}, ["body", "blocks", 0]),  # the schema requires `type`
        # What the schema says a point is (a date-time string, a number), not what pydantic would also read.
        (
            {"blocks": [{"type": "timeseries", "content": {"metric": "m", "points": [{"timestamp": 0, "value": 1}]}}]},
            ["body", "blocks", 0, "timeseries", "content", "points", 0, "timestamp"],
        ),
        (
            {
                "blocks": [
                    {
                        "type": "timeseries",
                        "content": {"metric": "m", "points": [{"timestamp": "2026-01-22T10:00:00Z", "value": "1.5"}]},
                    }
                ]
            },
            ["body", "blocks", 0, "timeseries", "content", "points", 0, "value"],
        ),
    ],
)
async def test_an_invalid_render_is_422_naming_the_field(ops: Ops, body: dict[str, Any], loc: list[Any]) -> None:
    trace_id = (await ask(ops, "help"))["meta"]["trace_id"]
    response = await _render(ops, trace_id, body)
    error = await response.json()
    assert response.status == 422 and error["code"] == 422, error
    assert any(e["loc"][: len(loc)] == loc for e in error["details"]["errors"]), error


async def test_a_render_past_the_size_bound_is_413_in_the_envelope(ops: Ops) -> None:
    trace_id = (await ask(ops, "help"))["meta"]["trace_id"]
    text = {"type": "text", "content": {"text": "x" * UI_RENDER_MAX_BYTES}}
    response = await _render(ops, trace_id, {"blocks": [text]})
    body = await response.json()
    assert response.status == 413 and body["code"] == 413 and body["details"]["max_bytes"] == UI_RENDER_MAX_BYTES
    chunked = await _render(
        ops, trace_id, None, data=_chunks(b'{"blocks": [], "meta": {"pad": "' + b"x" * 300_000 + b'"}}')
    )
    assert chunked.status == 413  # no Content-Length: measured as it arrives
    assert (await _detail(ops, trace_id))["ui_render"] is None


async def _chunks(payload: bytes) -> Any:
    for start in range(0, len(payload), 65536):
        yield payload[start : start + 65536]


async def test_unknown_traces_are_404_in_the_envelope(ops: Ops) -> None:
    response = await ops.get("/inspector/traces/tr_nope")
    body = await response.json()
    assert response.status == 404
    assert body == {
        "code": 404,
        "message": "Not Found",
        "error": "no trace 'tr_nope'",
        "details": {"code": "trace_not_found"},
    }
    rendered = await _render(ops, "tr_nope", {"blocks": []})
    assert rendered.status == 404 and (await rendered.json())["details"]["code"] == "trace_not_found"
    long_id = await ops.get("/inspector/traces/" + "t" * 65)
    assert long_id.status == 422 and (await long_id.json())["details"]["errors"][0]["loc"] == ["path", "trace_id"]


async def test_reading_needs_ops_read_and_rendering_inspector_write(ops: Ops) -> None:
    trace_id = (await ask(ops, "help"))["meta"]["trace_id"]
    assert (await ops.get(f"/inspector/traces/{trace_id}", token=None)).status == 401
    agent = await ops.create_token("agent-only", "ops_agent:read")
    assert (await ops.get(f"/inspector/traces/{trace_id}", token=agent)).status == 403
    reader = await ops.create_token("reader", "inspector:read")
    assert (await ops.get(f"/inspector/traces/{trace_id}", token=reader)).status == 200
    refused = await _render(ops, trace_id, {"blocks": []}, token=reader)
    assert refused.status == 403 and (await refused.json())["details"]["code"] == "insufficient_scope"
    anonymous = await ops.client.post(f"/inspector/traces/{trace_id}/ui-render", json={"blocks": []})
    assert anonymous.status == 401 and (await anonymous.json())["code"] == 401
    writer = await ops.create_token("console", "inspector:write")
    assert (await _render(ops, trace_id, {"blocks": []}, token=writer)).status == 201
    await ops.app[AUDIT].flush()
    refusals = [row for row in ops.table("audit_log") if row["status"] in (401, 403)]
    assert len(refusals) == 4  # refusals by auth are on record
