"""The orchestration family, part 1 (contract 4-orchestration-api.md): the ask pipeline, the asset registry and
the control loop's statistics. Successes in `{"code": 0, "message": "success", "data": ...}`, errors in
`{"code", "message", "error", "details"}`, validation failures 422.

| method | path | scope |
|---|---|---|
| POST | /ops/ci/ask | ops:read |
| GET  | /ops/control-loop/stats | ops:read |
| GET  | /assets/{asset_type}?version=&status=&asset_id= | ops:read |
| POST | /assets/{asset_type} (a new draft version) | assets:write |
| GET  | /assets/{asset_type}/{asset_id}/{version} | ops:read |
| PUT  | /assets/{asset_type}/{asset_id}/{version} (drafts only) | assets:write |
| POST | /assets/{asset_type}/{asset_id}/{version}/publish | assets:write |
"""

from collections.abc import AsyncIterator
from typing import cast

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from server.errors import FieldError, NotFound, OpsError, ValidationFailed
from server.http.access import Bearer
from server.http.audit import Intent, note_audit
from server.http.context import principal_of
from server.http.envelopes import respond
from server.http.families import Family
from server.http.metrics import METRICS
from server.http.parsing import parse_body, parse_path, parse_query
from server.http.routes import FamilyRoutes
from server.http.runbooks import RUNBOOK_RUNS
from server.keys import AUDIT, CLOCK, DB, PLANT, SETTINGS
from server.services.orchestration.events import EVENTS, NO_EVENTS
from server.services.orchestration.service import Orchestration, Sources, start_orchestration
from server.services.reasoning import reasoner_for
from shared.orchestration import (
    ASSET_ID_PATTERN,
    ASSET_TYPES,
    VERSION_PATTERN,
    AskRequest,
    AskResponse,
    Asset,
    AssetCreate,
    AssetList,
    AssetListQuery,
    AssetType,
    AssetUpdate,
    ControlLoopStats,
)
from shared.scopes import Scope

routes = FamilyRoutes(Family.ORCHESTRATION)
ORCHESTRATION = web.AppKey("orchestration", Orchestration)

READ = Bearer(Scope.OPS_READ)
WRITE_ASSETS = Bearer(Scope.ASSETS_WRITE)


class AssetTypePath(BaseModel):
    """`/assets/{asset_type}`: one of the registry's asset types (another is a type that does not exist: 404)."""

    model_config = ConfigDict(extra="forbid")

    asset_type: AssetType


class VersionPath(BaseModel):
    model_config = ConfigDict(extra="forbid")

    asset_type: AssetType
    asset_id: str = Field(pattern=ASSET_ID_PATTERN)
    version: str = Field(pattern=VERSION_PATTERN)


def setup(app: web.Application) -> None:
    routes.add_to(app)
    app.cleanup_ctx.append(_orchestration)


async def _orchestration(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    sources = Sources(audit=app[AUDIT], metrics=lambda: app.get(METRICS), runbooks=lambda: app.get(RUNBOOK_RUNS))
    # A reasoner only with an endpoint: the built-in one weighs facts and cannot read a question.
    reasoner = (
        reasoner_for(
            settings.llm_url,
            model=settings.llm_model,
            api_key=settings.llm_api_key.get_secret_value() if settings.llm_api_key else None,
            timeout_seconds=settings.llm_timeout_seconds,
            retries=settings.llm_retries,
        )
        if settings.llm_url
        else None
    )
    try:
        app[ORCHESTRATION] = await start_orchestration(
            app[DB],
            app[CLOCK],
            app[PLANT],
            sources,
            assets_dir=settings.orchestration_assets_dir,
            cmdb_size=settings.orchestration_cmdb_size,
            seed=settings.plant_seed,
            reasoner=reasoner,
            events=app.get(EVENTS, NO_EVENTS),  # the webhooks family's sink, when it runs
        )
        yield
    finally:
        if reasoner is not None:
            await reasoner.aclose()


def _asset_type(request: web.Request) -> AssetType:
    """The path's asset type; an unknown one is a resource that does not exist (404), naming the types."""
    asset_type = request.match_info["asset_type"]
    if asset_type not in ASSET_TYPES:
        raise NotFound(
            f"no asset type '{asset_type}'", code="asset_type_not_found", extra={"asset_types": list(ASSET_TYPES)}
        )
    return cast(AssetType, asset_type)


@routes.post(
    "/ops/ci/ask",
    access=READ,
    summary="Ask a question: route, plan, execute and compose an answer, recorded as a trace",
    description="The answer's `meta.status` says how it went (success, partial, rejected, error); every answered "
    "ask is 200 with its trace. 404: an `asset_overrides` pin names a version that does not exist; 409: pinned "
    "assets that do not fit together; 503: an asset the pipeline needs has no published version.",
    body=AskRequest,
    responses={200: AskResponse},
    errors=(404, 409, 503),
)
async def ask(request: web.Request) -> web.Response:
    body = await parse_body(request, AskRequest)
    answer = await request.app[ORCHESTRATION].pipeline.ask(body)
    note_audit(
        request,
        action="ci.ask",
        target=answer.meta.trace_id,
        route=answer.meta.route,
        feature=answer.meta.feature,
        status=answer.meta.status,
        test_mode=answer.meta.test_mode,
    )
    return respond(request, answer)


@routes.get(
    "/ops/control-loop/stats",
    access=READ,
    summary="The control loop's replan statistics and policy",
    responses={200: ControlLoopStats},
)
async def control_loop_stats(request: web.Request) -> web.Response:
    return respond(request, await request.app[ORCHESTRATION].control_loop_stats())


@routes.get(
    "/assets/{asset_type}",
    access=READ,
    summary="The versions of the assets of one type, with filters",
    path_params=AssetTypePath,
    query=AssetListQuery,
    responses={200: AssetList},
    errors=(404,),
)
async def list_assets(request: web.Request) -> web.Response:
    asset_type = _asset_type(request)
    query = parse_query(request, AssetListQuery)
    if query.type is not None and query.type != asset_type:
        raise ValidationFailed(
            [FieldError("query", ("type",), f"must be the path's asset type, {asset_type}", "value_error")]
        )
    return respond(request, await request.app[ORCHESTRATION].assets.list(asset_type, query))


@routes.post(
    "/assets/{asset_type}",
    access=WRITE_ASSETS,
    summary="Create a draft version of an asset (its content checked against the type's schema)",
    path_params=AssetTypePath,
    body=AssetCreate,
    responses={201: Asset},
    errors=(404, 409),
)
async def create_asset(request: web.Request) -> web.Response:
    asset_type = _asset_type(request)
    body = await parse_body(request, AssetCreate)
    note_audit(request, action="asset.create", target=f"{asset_type}:{body.asset_id}:{body.version}")
    created = await request.app[ORCHESTRATION].assets.create(asset_type, body, principal_of(request).name)
    return respond(request, created, status=201)


@routes.get(
    "/assets/{asset_type}/{asset_id}/{version}",
    access=READ,
    summary="One version of an asset, with its content",
    path_params=VersionPath,
    responses={200: Asset},
    errors=(404,),
)
async def get_asset(request: web.Request) -> web.Response:
    asset_type = _asset_type(request)
    path = parse_path(request, VersionPath)
    return respond(request, await request.app[ORCHESTRATION].assets.get(asset_type, path.asset_id, path.version))


@routes.put(
    "/assets/{asset_type}/{asset_id}/{version}",
    access=WRITE_ASSETS,
    summary="Change a draft version (published and archived versions are immutable: 409)",
    path_params=VersionPath,
    body=AssetUpdate,
    responses={200: Asset},
    errors=(404, 409),
)
async def update_asset(request: web.Request) -> web.Response:
    asset_type = _asset_type(request)
    path = parse_path(request, VersionPath)
    body = await parse_body(request, AssetUpdate)
    note_audit(request, action="asset.update", target=f"{asset_type}:{path.asset_id}:{path.version}")
    updated = await request.app[ORCHESTRATION].assets.update(asset_type, path.asset_id, path.version, body)
    return respond(request, updated)


@routes.post(
    "/assets/{asset_type}/{asset_id}/{version}/publish",
    access=WRITE_ASSETS,
    summary="Publish a version: the pipeline uses it from now on; the version published before is archived",
    path_params=VersionPath,
    responses={200: Asset},
    errors=(404,),
)
async def publish_asset(request: web.Request) -> web.Response:
    asset_type = _asset_type(request)
    path = parse_path(request, VersionPath)
    target = f"{asset_type}:{path.asset_id}:{path.version}"
    note_audit(request, action="asset.publish", target=target)
    # Publishing changes what every later ask does: on record before it happens.
    intent = Intent(request, "asset.publish")
    await intent.record()
    try:
        published, archived = await request.app[ORCHESTRATION].assets.publish(asset_type, path.asset_id, path.version)
    except OpsError as error:
        await intent.not_run(error)
        raise
    note_audit(request, archived=archived)
    return respond(request, published)
