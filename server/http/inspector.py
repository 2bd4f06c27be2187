"""The orchestration family, part 2 (contract 4-orchestration-api.md): the trace inspector and regression analysis.
Same envelope as part 1 (server/http/orchestration.py): successes `{"code": 0, "message": "success", "data": ...}`,
errors `{"code", "message", "error", "details"}`, validation failures 422, unknown ids 404.

| method | path | scope |
|---|---|---|
| GET  | /inspector/traces?q=&feature=&status=&route=&from=&to=&limit=&offset= | inspector:read |
| GET  | /inspector/traces/{trace_id} | inspector:read |
| POST | /inspector/traces/{trace_id}/ui-render | inspector:write |
| POST | /inspector/regression/analyze | inspector:write |
| GET  | /inspector/regression/{analysis_id} | inspector:read |
| POST | /inspector/regression/stage-compare (not stored) | inspector:read |
"""

from collections.abc import AsyncIterator

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from server.errors import PayloadTooLarge
from server.http.access import Bearer
from server.http.audit import note_audit
from server.http.context import principal_of
from server.http.envelopes import respond
from server.http.families import Family
from server.http.orchestration import ORCHESTRATION
from server.http.parsing import parse_body, parse_path, parse_query
from server.http.routes import FamilyRoutes
from server.keys import AUDIT, CLOCK, DB
from server.services.orchestration.events import EVENTS, NO_EVENTS
from server.services.orchestration.inspector import UI_RENDER_ACTION, InspectorService
from server.services.orchestration.regression import RegressionService
from server.storage.regressions import RegressionRepository
from shared.inspector import (
    TRACE_ID_MAX,
    UI_RENDER_MAX_BYTES,
    RegressionAnalysis,
    RegressionRequest,
    StageCompareRequest,
    StageComparison,
    TraceDetail,
    TraceList,
    TraceListQuery,
    UiRenderReceipt,
    UiRenderRequest,
)
from shared.scopes import Scope

routes = FamilyRoutes(Family.ORCHESTRATION)
INSPECTOR = web.AppKey("inspector", InspectorService)
REGRESSIONS = web.AppKey("regressions", RegressionService)

READ = Bearer(Scope.INSPECTOR_READ)
WRITE = Bearer(Scope.INSPECTOR_WRITE)


class TracePath(BaseModel):
    model_config = ConfigDict(extra="forbid")

    trace_id: str = Field(min_length=1, max_length=TRACE_ID_MAX)


POST_ONLY = ("analyze", "stage-compare")  # the paths beside /inspector/regression/{analysis_id}


class AnalysisPath(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The route never matches the POST-only paths beside it (GET on them is 405): the schema says so too.
    analysis_id: str = Field(
        min_length=1, max_length=TRACE_ID_MAX, json_schema_extra={"not": {"enum": list(POST_ONLY)}}
    )


def setup(app: web.Application) -> None:
    """After orchestration's setup: the services stand on its trace repository."""
    routes.add_to(app)
    app.cleanup_ctx.append(_inspector)


async def _inspector(app: web.Application) -> AsyncIterator[None]:
    traces = app[ORCHESTRATION].traces
    app[INSPECTOR] = InspectorService(traces, app[AUDIT], app[CLOCK])
    # The webhooks family's sink when it runs; without it the events go nowhere.
    events = app.get(EVENTS, NO_EVENTS)
    app[REGRESSIONS] = RegressionService(traces, RegressionRepository(app[DB]), app[CLOCK], events)
    yield


@routes.get(
    "/inspector/traces",
    access=READ,
    summary="A page of trace summaries, newest first, with filters and text search",
    query=TraceListQuery,
    responses={200: TraceList},
)
async def list_traces(request: web.Request) -> web.Response:
    query = parse_query(request, TraceListQuery)
    return respond(request, await request.app[INSPECTOR].list_traces(query))


@routes.get(
    "/inspector/traces/{trace_id}",
    access=READ,
    summary="One trace with its audit entries and the latest render a client stored",
    path_params=TracePath,
    responses={200: TraceDetail},
    errors=(404,),
)
async def get_trace(request: web.Request) -> web.Response:
    path = parse_path(request, TracePath)
    return respond(request, await request.app[INSPECTOR].detail(path.trace_id))


@routes.post(
    "/inspector/traces/{trace_id}/ui-render",
    access=WRITE,
    summary="Store what a client rendered of a trace's answer",
    description=f"The body may be at most {UI_RENDER_MAX_BYTES} bytes (413 past it).",
    path_params=TracePath,
    body=UiRenderRequest,
    responses={201: UiRenderReceipt},
    errors=(404,),
)
async def ui_render(request: web.Request) -> web.Response:
    path = parse_path(request, TracePath)
    too_large = PayloadTooLarge(
        f"a render may be at most {UI_RENDER_MAX_BYTES} bytes", extra={"max_bytes": UI_RENDER_MAX_BYTES}
    )
    # Refused by its declared length before a byte is read, and by what arrived when it declares none.
    if (request.content_length or 0) > UI_RENDER_MAX_BYTES:
        raise too_large
    size = len(await request.read())
    if size > UI_RENDER_MAX_BYTES:
        raise too_large
    body = await parse_body(request, UiRenderRequest)  # the body read above, parsed
    receipt = await request.app[INSPECTOR].record_render(path.trace_id, body, size, principal_of(request).name)
    note_audit(
        request,
        action=UI_RENDER_ACTION,
        target=path.trace_id,
        render_id=receipt.render_id,
        blocks=receipt.block_count,
        size_bytes=size,
    )
    return respond(request, receipt, status=201)


@routes.post(
    "/inspector/regression/analyze",
    access=WRITE,
    summary="Compare two traces stage by stage (and, for `full`, their answers); the analysis is stored",
    body=RegressionRequest,
    responses={201: RegressionAnalysis},
    errors=(404,),
)
async def analyze(request: web.Request) -> web.Response:
    body = await parse_body(request, RegressionRequest)
    analysis = await request.app[REGRESSIONS].analyze(body, principal_of(request).name)
    note_audit(
        request,
        action="inspector.regression",
        target=analysis.analysis_id,
        type=analysis.type,
        baseline_trace_id=analysis.baseline_trace_id,
        comparison_trace_id=analysis.comparison_trace_id,
        overall_regression_score=analysis.overall_regression_score,
    )
    return respond(request, analysis, status=201)


@routes.post(
    "/inspector/regression/stage-compare",
    access=READ,
    summary="Compare stages of two traces, not stored",
    body=StageCompareRequest,
    responses={200: StageComparison},
    errors=(404,),
)
async def stage_compare(request: web.Request) -> web.Response:
    body = await parse_body(request, StageCompareRequest)
    return respond(request, await request.app[REGRESSIONS].stage_compare(body))


@routes.get(
    # Not "analyze" nor "stage-compare": GET on those is 405 (Allow: POST), not a search for an analysis so named.
    "/inspector/regression/{analysis_id:(?!(?:analyze|stage-compare)$)[^/]+}",
    access=READ,
    summary="A stored regression analysis",
    description="`analyze` and `stage-compare` name no analysis: GET on them is 405 (they take POST).",
    path_params=AnalysisPath,
    responses={200: RegressionAnalysis},
    errors=(404, 405),
)
async def get_regression(request: web.Request) -> web.Response:
    path = parse_path(request, AnalysisPath)
    return respond(request, await request.app[REGRESSIONS].get(path.analysis_id))
