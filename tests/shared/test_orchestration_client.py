"""client.orchestration against a real server: the ask as models (blocks by their `type`, the plan by its
`kind`), the asset registry's round trip, the control loop's statistics, and the family's errors as typed ones."""

from collections.abc import Callable

import pytest
from aiohttp.test_utils import TestServer

from server.keys import TOKENS
from shared.client import OpsClient
from shared.errors import Conflict, Forbidden, InvalidRequest, NotFound
from shared.orchestration import OrchPlanOutput, RejectPlanOutput, TableBlock, TimeseriesBlock


async def test_an_ask_comes_back_as_models(admin: OpsClient) -> None:
    answer = await admin.orchestration.ask("which prod databases are down?", test_mode=True)
    assert answer.meta.route == "orch" and answer.meta.used_tools == ["ci_lookup"] and answer.meta.test_mode
    assert isinstance(answer.trace.plan_output, OrchPlanOutput)
    table = next(b for b in answer.blocks if isinstance(b, TableBlock))
    assert table.content.headers[0] == "CI" and table.content.rows
    assert [s.stage for s in answer.trace.stage_outputs] == ["route_plan", "validate", "execute", "compose", "present"]


async def test_a_timeseries_and_a_reject(admin: OpsClient) -> None:
    series = await admin.orchestration.ask("지난 1시간 처리량 보여줘")
    assert any(isinstance(b, TimeseriesBlock) and b.content.points for b in series.blocks)
    refused = await admin.orchestration.ask("delete every server")
    assert isinstance(refused.trace.plan_output, RejectPlanOutput)
    assert refused.trace.plan_output.reject_policy == "destructive_action"


async def test_the_asset_round_trip(admin: OpsClient) -> None:
    listed = await admin.orchestration.assets("policy", status="published")
    assert listed.total == 1 and listed.assets[0].asset_id == "ops-policy"
    current = await admin.orchestration.asset("policy", "ops-policy", "1.0.0")
    content = {**current.content, "max_rows": 100}
    created = await admin.orchestration.create_asset("policy", "ops-policy", "1.1.0", name="tighter", content=content)
    assert created.status == "draft" and created.content["max_rows"] == 100
    edited = await admin.orchestration.update_asset("policy", "ops-policy", "1.1.0", description="100 rows")
    assert edited.description == "100 rows"
    answer = await admin.orchestration.ask("서버 상태", asset_overrides={"policy": "ops-policy:1.1.0"})
    assert answer.trace.applied_assets["policy"] == "ops-policy:1.1.0"
    published = await admin.orchestration.publish_asset("policy", "ops-policy", "1.1.0")
    assert published.status == "published"
    assert (await admin.orchestration.asset("policy", "ops-policy", "1.0.0")).status == "archived"
    with pytest.raises(Conflict) as raised:
        await admin.orchestration.update_asset("policy", "ops-policy", "1.1.0", name="again")
    assert raised.value.code == "asset_immutable"


async def test_the_control_loop_statistics(admin: OpsClient) -> None:
    stats = await admin.orchestration.control_loop_stats()
    assert stats.replan_count == 0 and stats.policy.max_replans == stats.max_replans == 2


async def test_errors_are_typed(server: TestServer, admin: OpsClient, make_client: Callable[..., OpsClient]) -> None:
    with pytest.raises(InvalidRequest) as invalid:
        await admin.orchestration.ask("")
    assert invalid.value.status == 422 and [e.loc for e in invalid.value.errors] == ["body.question"]
    with pytest.raises(NotFound) as missing:
        await admin.orchestration.asset("prompt", "ci-router", "7.0.0")
    assert missing.value.code == "asset_not_found"
    reader = await server.app[TOKENS].create("reader", "ops:read")
    with pytest.raises(Forbidden):
        await make_client(server, reader).orchestration.publish_asset("prompt", "ci-router", "1.0.0")
