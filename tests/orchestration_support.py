"""Helpers of the orchestration tests: ask a question, make a draft asset version from the published one with a
change, and a tool that never answers in time."""

import asyncio
import copy
from collections.abc import Callable
from typing import Any

from aiohttp import ClientResponse
from ops_constants import ADMIN_TOKEN

from server.http.orchestration import ORCHESTRATION
from server.services.orchestration.tools import Tool, ToolResult

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def ask_raw(ops: Any, question: str, token: str = ADMIN_TOKEN, **context: Any) -> ClientResponse:
    body: dict[str, Any] = {"question": question}
    if context:
        body["context"] = context
    return await ops.client.post("/ops/ci/ask", json=body, headers={"Authorization": f"Bearer {token}"})


async def ask(ops: Any, question: str, **context: Any) -> dict[str, Any]:
    """The answer's `data`, asserting the envelope of a success."""
    response = await ask_raw(ops, question, **context)
    body = await response.json()
    assert response.status == 200, body
    assert body["code"] == 0 and body["message"] == "success"
    return body["data"]


async def published_content(ops: Any, asset_type: str, asset_id: str, version: str = "1.0.0") -> dict[str, Any]:
    response = await ops.get(f"/assets/{asset_type}/{asset_id}/{version}")
    assert response.status == 200
    return (await response.json())["data"]["content"]


async def draft(
    ops: Any, asset_type: str, asset_id: str, version: str, change: Callable[[dict[str, Any]], None]
) -> str:
    """A draft `version` of the asset: its 1.0.0 content with `change` applied. Returns `asset_id:version`."""
    content = copy.deepcopy(await published_content(ops, asset_type, asset_id))
    change(content)
    body = {"asset_id": asset_id, "version": version, "name": f"{asset_id} {version}", "content": content}
    response = await ops.client.post(f"/assets/{asset_type}", json=body, headers=AUTH)
    assert response.status == 201, await response.text()
    return f"{asset_id}:{version}"


def with_timeouts(timeout_ms: int) -> Callable[[dict[str, Any]], None]:
    """A query-asset change: every tool's timeout set to `timeout_ms`."""

    def change(content: dict[str, Any]) -> None:
        for settings in content["tools"].values():
            settings["timeout_ms"] = timeout_ms

    return change


def never_answers() -> Tool:
    async def tool(params: dict[str, Any]) -> ToolResult:
        await asyncio.sleep(30)
        raise AssertionError("the timeout should have cut this short")

    return tool


def replace_tool(ops: Any, name: str, tool: Tool) -> None:
    ops.app[ORCHESTRATION].pipeline.tools.by_name[name] = tool
