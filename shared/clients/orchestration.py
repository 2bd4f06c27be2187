"""OrchestrationClient: the orchestration family (contract 4-orchestration-api.md), `client.orchestration.*` — the
ask pipeline, the asset registry and the control loop's statistics. Successes come wrapped as
`{"code": 0, "message": "success", "data": ...}`; errors as `{"code", "message", "error", "details"}`, validation
failures 422, raised as the typed errors of shared/errors.py."""

from typing import Any

from shared.clients.envelopes import ORCHESTRATION
from shared.clients.transport import Transport
from shared.orchestration import (
    AskResponse,
    Asset,
    AssetList,
    AssetStatus,
    AssetType,
    ControlLoopStats,
)


class OrchestrationClient:
    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    async def ask(
        self, question: str, *, test_mode: bool = False, asset_overrides: dict[AssetType, str] | None = None
    ) -> AskResponse:
        """Run the five-stage pipeline on `question`: the answer's blocks, meta and trace. `asset_overrides` pins
        other asset versions for this ask (`{"policy": "ops-policy:1.1.0"}`)."""
        # Sent as given: the server validates it and names each invalid field (InvalidRequest, 422).
        body = {"question": question, "context": {"test_mode": test_mode, "asset_overrides": asset_overrides or {}}}
        return await self._transport.request(ORCHESTRATION, "POST", "/ops/ci/ask", AskResponse, json=body)

    async def control_loop_stats(self) -> ControlLoopStats:
        return await self._transport.request(ORCHESTRATION, "GET", "/ops/control-loop/stats", ControlLoopStats)

    async def assets(
        self,
        asset_type: AssetType,
        *,
        version: str | None = None,
        status: AssetStatus | None = None,
        asset_id: str | None = None,
    ) -> AssetList:
        """Versions of `asset_type`'s assets, optionally only one version, status or asset."""
        params = {k: v for k, v in (("version", version), ("status", status), ("asset_id", asset_id)) if v is not None}
        return await self._transport.request(ORCHESTRATION, "GET", f"/assets/{asset_type}", AssetList, params=params)

    async def asset(self, asset_type: AssetType, asset_id: str, version: str) -> Asset:
        return await self._transport.request(ORCHESTRATION, "GET", f"/assets/{asset_type}/{asset_id}/{version}", Asset)

    async def create_asset(
        self,
        asset_type: AssetType,
        asset_id: str,
        version: str,
        *,
        name: str,
        content: dict[str, Any],
        description: str = "",
        metadata: dict[str, Any] | None = None,
    ) -> Asset:
        """A new draft version (needs `assets:write`); Conflict when that version exists."""
        body = {
            "asset_id": asset_id,
            "version": version,
            "name": name,
            "description": description,
            "metadata": metadata or {},
            "content": content,
        }
        return await self._transport.request(ORCHESTRATION, "POST", f"/assets/{asset_type}", Asset, json=body)

    async def update_asset(
        self,
        asset_type: AssetType,
        asset_id: str,
        version: str,
        *,
        name: str | None = None,
        description: str | None = None,
        metadata: dict[str, Any] | None = None,
        content: dict[str, Any] | None = None,
    ) -> Asset:
        """Change a draft; Conflict (`asset_immutable`) once it is published or archived."""
        changes = {"name": name, "description": description, "metadata": metadata, "content": content}
        body = {key: value for key, value in changes.items() if value is not None}
        return await self._transport.request(
            ORCHESTRATION, "PUT", f"/assets/{asset_type}/{asset_id}/{version}", Asset, json=body
        )

    async def publish_asset(self, asset_type: AssetType, asset_id: str, version: str) -> Asset:
        """Publish a version; the version published before is archived."""
        return await self._transport.request(
            ORCHESTRATION, "POST", f"/assets/{asset_type}/{asset_id}/{version}/publish", Asset
        )
