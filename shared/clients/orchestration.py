"""OrchestrationClient: the orchestration family (contract 4-orchestration-api.md), `client.orchestration.*` — the
ask pipeline, the asset registry, the control loop's statistics, the trace inspector and regression analysis.
Successes come wrapped as `{"code": 0, "message": "success", "data": ...}`; errors as `{"code", "message", "error",
"details"}`, validation failures 422, raised as the typed errors of shared/errors.py."""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

from shared.clients.envelopes import ORCHESTRATION
from shared.clients.transport import Transport
from shared.clients.webhooks import WebhooksClient
from shared.inspector import (
    AnalysisType,
    RegressionAnalysis,
    StageComparison,
    TraceDetail,
    TraceList,
    UiRenderReceipt,
)
from shared.orchestration import (
    AskResponse,
    Asset,
    AssetList,
    AssetStatus,
    AssetType,
    Block,
    ControlLoopStats,
    Route,
    StageName,
    TraceStatus,
)


class OrchestrationClient:
    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        self.webhooks = WebhooksClient(transport)

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

    # --- the inspector and regression analysis ---

    async def list_traces(
        self,
        *,
        q: str | None = None,
        feature: str | None = None,
        status: TraceStatus | None = None,
        route: Route | None = None,
        from_: datetime | None = None,
        to: datetime | None = None,
        limit: int = 20,
        offset: int = 0,
    ) -> TraceList:
        """A page of trace summaries, newest first, matching every filter given; `total` counts all that match.
        `from_` (sent as `from`) is included, `to` is not."""
        params: dict[str, str | int] = {"limit": limit, "offset": offset}
        for name, value in (("q", q), ("feature", feature), ("status", status), ("route", route)):
            if value is not None:
                params[name] = value
        for name, moment in (("from", from_), ("to", to)):
            if moment is not None:
                params[name] = moment.isoformat()
        return await self._transport.request(ORCHESTRATION, "GET", "/inspector/traces", TraceList, params=params)

    async def get_trace(self, trace_id: str) -> TraceDetail:
        """The trace, its audit entries and the latest render a client stored; NotFound for an unknown id."""
        return await self._transport.request(
            ORCHESTRATION, "GET", f"/inspector/traces/{_segment(trace_id)}", TraceDetail
        )

    async def ui_render(
        self, trace_id: str, blocks: Sequence[Block], meta: Mapping[str, Any] | None = None
    ) -> UiRenderReceipt:
        """Store what this client rendered of the trace's answer (needs `inspector:write`)."""
        body = {"blocks": [block.model_dump(mode="json") for block in blocks], "meta": dict(meta or {})}
        return await self._transport.request(
            ORCHESTRATION, "POST", f"/inspector/traces/{_segment(trace_id)}/ui-render", UiRenderReceipt, json=body
        )

    async def analyze_regression(
        self,
        baseline_trace_id: str,
        comparison_trace_id: str,
        *,
        type: AnalysisType = "stage",
        stages: Sequence[StageName] | None = None,
    ) -> RegressionAnalysis:
        """Compare two traces stage by stage (`full`: their answers too) and store the analysis (needs
        `inspector:write`); NotFound when either trace is unknown."""
        body: dict[str, Any] = {
            "type": type,
            "baseline_trace_id": baseline_trace_id,
            "comparison_trace_id": comparison_trace_id,
        }
        if stages is not None:
            body["parameters"] = {"stages": list(stages)}
        return await self._transport.request(
            ORCHESTRATION, "POST", "/inspector/regression/analyze", RegressionAnalysis, json=body
        )

    async def get_regression(self, analysis_id: str) -> RegressionAnalysis:
        return await self._transport.request(
            ORCHESTRATION, "GET", f"/inspector/regression/{_segment(analysis_id)}", RegressionAnalysis
        )

    async def stage_compare(
        self, baseline_trace_id: str, comparison_trace_id: str, *, stages: Sequence[StageName] | None = None
    ) -> StageComparison:
        """The per-stage differences and scores of two traces, not stored."""
        body: dict[str, Any] = {"baseline_trace_id": baseline_trace_id, "comparison_trace_id": comparison_trace_id}
        if stages is not None:
            body["stages"] = list(stages)
        return await self._transport.request(
            ORCHESTRATION, "POST", "/inspector/regression/stage-compare", StageComparison, json=body
        )


def _segment(value: str) -> str:
    """`value` as one path segment: a slash or a `?` in an id cannot reach another route."""
    return quote(value, safe="")
