"""The asset registry: the seeded assets, lists with the `version` and `status` filters, drafts, publishing (the
previous version archived; concurrent publishes leave exactly one), immutability of what was published, scopes
and errors."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import TYPE_CHECKING, Any

import pytest
from ops_constants import ADMIN_TOKEN
from orchestration_support import AUTH, ask, draft, published_content

from server.keys import SETTINGS
from shared.orchestration import ASSET_TYPES, AssetList

if TYPE_CHECKING:
    from server_support import Ops


async def _json(response: Any) -> Any:
    return await response.json()


async def _publish(ops: Ops, asset_type: str, asset_id: str, version: str, token: str = ADMIN_TOKEN) -> Any:
    return await ops.client.post(
        f"/assets/{asset_type}/{asset_id}/{version}/publish", headers={"Authorization": f"Bearer {token}"}
    )


@pytest.mark.parametrize("asset_type", ASSET_TYPES)
async def test_each_type_has_its_seeded_asset_published(ops: Ops, asset_type: str) -> None:
    response = await ops.get(f"/assets/{asset_type}")
    body = await response.json()
    assert response.status == 200 and body["code"] == 0
    listed = AssetList.model_validate(body["data"])
    assert listed.total == 1 and listed.assets[0].status == "published" and listed.assets[0].version == "1.0.0"
    assert listed.assets[0].author == "ops-team" and listed.assets[0].metadata["tags"]
    assert listed.assets[0].id == f"asset_{asset_type}_{listed.assets[0].asset_id}_1.0.0"


async def test_the_list_filters_by_version_and_status(ops: Ops) -> None:
    await draft(ops, "policy", "ops-policy", "1.1.0", lambda c: None)
    everything = (await _json(await ops.get("/assets/policy")))["data"]
    assert [(a["version"], a["status"]) for a in everything["assets"]] == [("1.1.0", "draft"), ("1.0.0", "published")]
    drafts = (await _json(await ops.get("/assets/policy", params={"status": "draft"})))["data"]
    assert drafts["total"] == 1 and drafts["assets"][0]["version"] == "1.1.0"
    by_version = (await _json(await ops.get("/assets/policy", params={"version": "1.0.0"})))["data"]
    assert by_version["total"] == 1 and by_version["assets"][0]["status"] == "published"
    assert (await _json(await ops.get("/assets/policy", params={"status": "archived"})))["data"]["total"] == 0


@pytest.mark.parametrize(
    "params", [{"status": "live"}, {"version": "latest"}, {"page": "2"}, {"type": "prompt"}, {"type": "widget"}]
)
async def test_a_bad_list_filter_is_422(ops: Ops, params: dict[str, str]) -> None:
    response = await ops.get("/assets/policy", params=params)
    assert response.status == 422 and (await response.json())["code"] == 422


async def test_the_contracts_type_parameter_may_repeat_the_paths(ops: Ops) -> None:
    response = await ops.get("/assets/policy", params={"type": "policy", "status": "published"})
    assert response.status == 200 and (await response.json())["data"]["total"] == 1


async def test_an_unknown_asset_type_is_404_naming_the_types(ops: Ops) -> None:
    response = await ops.get("/assets/widget")
    body = await response.json()
    assert response.status == 404 and body["details"]["asset_types"] == list(ASSET_TYPES)


async def test_a_draft_is_created_read_and_edited(ops: Ops) -> None:
    ref = await draft(ops, "mapping", "ci-words", "1.1.0", lambda c: c["ci_types"]["server"].append("box"))
    assert ref == "ci-words:1.1.0"
    got = (await _json(await ops.get("/assets/mapping/ci-words/1.1.0")))["data"]
    assert (
        got["status"] == "draft"
        and got["author"] == "env:OPS_API_TOKEN"
        and "box" in got["content"]["ci_types"]["server"]
    )
    response = await ops.client.put(
        "/assets/mapping/ci-words/1.1.0", json={"description": "boxes are servers"}, headers=AUTH
    )
    assert response.status == 200 and (await response.json())["data"]["description"] == "boxes are servers"


async def test_creating_an_existing_version_is_409(ops: Ops) -> None:
    content = await published_content(ops, "query", "ci-queries")
    body = {"asset_id": "ci-queries", "version": "1.0.0", "name": "again", "content": content}
    response = await ops.client.post("/assets/query", json=body, headers=AUTH)
    answer = await response.json()
    assert response.status == 409 and answer["details"]["code"] == "asset_version_exists"


async def test_content_that_does_not_fit_its_type_is_422_naming_the_field(ops: Ops) -> None:
    content = await published_content(ops, "policy", "ops-policy")
    content["replan"]["max_replans"] = -1
    body = {"asset_id": "ops-policy", "version": "2.0.0", "name": "broken", "content": content}
    response = await ops.client.post("/assets/policy", json=body, headers=AUTH)
    answer = await response.json()
    assert response.status == 422
    assert ["body", "content", "replan", "max_replans"] in [e["loc"] for e in answer["details"]["errors"]]


async def test_publishing_archives_the_previous_version_and_the_pipeline_uses_the_new_one(ops: Ops) -> None:
    def loud(content: dict[str, Any]) -> None:
        content["summary"]["orch"] = "ANSWER {intent}"

    await draft(ops, "screen", "answer-layouts", "1.1.0", loud)
    response = await _publish(ops, "screen", "answer-layouts", "1.1.0")
    published = (await response.json())["data"]
    assert response.status == 200 and published["status"] == "published" and published["published_at"]
    old = (await _json(await ops.get("/assets/screen/answer-layouts/1.0.0")))["data"]
    assert old["status"] == "archived"
    data = await ask(ops, "서버 상태를 확인해주세요")
    assert data["blocks"][0]["content"]["markdown"] == "ANSWER ci_lookup"
    assert data["trace"]["applied_assets"]["screen"] == "answer-layouts:1.1.0"
    actions = [(r["action"], r["target"], r["outcome"]) for r in await ops.audit_rows()]
    assert ("asset.publish", "screen:answer-layouts:1.1.0", "executing") in actions
    assert ("asset.publish", "screen:answer-layouts:1.1.0", "ok") in actions


async def test_a_published_version_cannot_be_edited(ops: Ops) -> None:
    response = await ops.client.put("/assets/policy/ops-policy/1.0.0", json={"name": "changed"}, headers=AUTH)
    answer = await response.json()
    assert response.status == 409 and answer["details"]["code"] == "asset_immutable"
    got = (await _json(await ops.get("/assets/policy/ops-policy/1.0.0")))["data"]
    assert got["name"] == "Ask policy"


async def test_the_database_itself_refuses_to_change_a_published_version(ops: Ops) -> None:
    with sqlite3.connect(ops.app[SETTINGS].database_path) as conn, pytest.raises(sqlite3.IntegrityError):
        conn.execute("UPDATE orch_assets SET content = '{}' WHERE id = 'asset_policy_ops-policy_1.0.0'")


async def test_concurrent_publishes_leave_exactly_one_published_version(ops: Ops) -> None:
    versions = [f"1.{n}.0" for n in range(1, 7)]
    for version in versions:
        await draft(ops, "query", "ci-queries", version, lambda c: None)
    responses = await asyncio.gather(*(_publish(ops, "query", "ci-queries", v) for v in versions))
    assert [r.status for r in responses] == [200] * len(versions)
    statuses = [r["status"] for r in ops.table("orch_assets") if r["asset_id"] == "ci-queries"]
    assert statuses.count("published") == 1 and statuses.count("archived") == len(versions)
    published = next(
        r["version"] for r in ops.table("orch_assets") if r["status"] == "published" and r["asset_id"] == "ci-queries"
    )
    data = await ask(ops, "서버 상태를 확인해주세요")
    assert data["trace"]["applied_assets"]["query"] == f"ci-queries:{published}"


async def test_republishing_an_archived_version_rolls_back(ops: Ops) -> None:
    await draft(ops, "prompt", "ci-router", "1.1.0", lambda c: None)
    assert (await _publish(ops, "prompt", "ci-router", "1.1.0")).status == 200
    assert (await _publish(ops, "prompt", "ci-router", "1.0.0")).status == 200
    listed = (await _json(await ops.get("/assets/prompt")))["data"]["assets"]
    assert [(a["version"], a["status"]) for a in listed] == [("1.1.0", "archived"), ("1.0.0", "published")]


async def test_publishing_a_missing_version_is_404_and_on_record_as_not_run(ops: Ops) -> None:
    response = await _publish(ops, "prompt", "ci-router", "3.0.0")
    assert response.status == 404 and (await response.json())["details"]["code"] == "asset_not_found"
    outcomes = [r["outcome"] for r in await ops.audit_rows() if r["action"] == "asset.publish"]
    assert outcomes == ["executing", "not_executed", "asset_not_found"]


async def test_getting_a_missing_version_is_404(ops: Ops) -> None:
    response = await ops.get("/assets/prompt/ci-router/9.0.0")
    assert response.status == 404 and (await response.json())["code"] == 404


async def test_changes_need_assets_write_and_reads_need_ops_read(ops: Ops) -> None:
    reader = await ops.create_token("reader", "ops:read")
    content = await published_content(ops, "query", "ci-queries")
    body = {"asset_id": "ci-queries", "version": "1.5.0", "name": "x", "content": content}
    refused = await ops.client.post("/assets/query", json=body, headers={"Authorization": f"Bearer {reader}"})
    assert refused.status == 403 and (await refused.json())["details"]["code"] == "insufficient_scope"
    assert (await _publish(ops, "query", "ci-queries", "1.0.0", token=reader)).status == 403
    writer = await ops.create_token("writer", "assets:write")
    created = await ops.client.post("/assets/query", json=body, headers={"Authorization": f"Bearer {writer}"})
    assert created.status == 201 and (await created.json())["data"]["author"] == "writer"
    assert (await ops.get("/assets/query", token=writer)).status == 403
    assert (await ops.get("/assets/query", token=None)).status == 401


async def test_assets_are_seeded_once_and_what_operators_published_survives_a_restart(ops_with: Any) -> None:
    first = await ops_with()
    await draft(first, "policy", "ops-policy", "1.1.0", lambda c: None)
    assert (await _publish(first, "policy", "ops-policy", "1.1.0")).status == 200
    await first.client.close()
    again = await ops_with()
    listed = (await _json(await again.get("/assets/policy")))["data"]["assets"]
    assert [(a["version"], a["status"]) for a in listed] == [("1.1.0", "published"), ("1.0.0", "archived")]
