"""The metrics half of the runbooks+metrics family (contract 2-runbooks-metrics-api.md): the summary and timeseries
the console's overview reads, and `setup(app)` wiring the metrics service. Beside them the Prometheus text
exposition at `/api/v1/metrics` (contract 3 lists it; its path is the agent family's), guarded by the metrics token
(`X-Metrics-Token`, or `Authorization: Bearer` for Prometheus' `authorization:` setting) and counted rather than
audited."""

from collections.abc import AsyncIterator

from aiohttp import web

from server.http.access import METRICS_TOKEN, Bearer
from server.http.envelopes import respond
from server.http.families import Family
from server.http.parsing import parse_query
from server.http.request_metrics import METRICS_REGISTRY
from server.http.routes import FamilyRoutes, Text
from server.keys import CLOCK, DB, PLANT, SETTINGS
from server.services.metrics.exposition import CONTENT_TYPE
from server.services.metrics.service import MetricsService, running_metrics
from shared.metrics import MetricsSummary, TimeseriesQuery, TimeseriesResponse
from shared.scopes import Scope

routes = FamilyRoutes(Family.RUNBOOKS)
scrape_routes = FamilyRoutes(Family.AGENT)
METRICS = web.AppKey("metrics", MetricsService)


def setup(app: web.Application) -> None:
    """The metrics routes and service (a cleanup context: the sampler runs while the app does)."""
    routes.add_to(app)
    scrape_routes.add_to(app)
    app.cleanup_ctx.append(_metrics_service)


async def _metrics_service(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    async with running_metrics(
        db=app[DB],
        feed=app[PLANT].feed,
        clock=app[CLOCK],
        registry=app[METRICS_REGISTRY],
        sample_seconds=settings.metrics_sample_seconds,
        prometheus_url=settings.prometheus_url,
    ) as service:
        app[METRICS] = service
        yield


@routes.get(
    "/api/ops/metrics/summary",
    access=Bearer(Scope.RUNBOOKS_READ),
    summary="The latest value of each metric the console's overview shows (stale, with a note, when unknown)",
    responses={200: MetricsSummary},
)
async def summary(request: web.Request) -> web.Response:
    return respond(request, await request.app[METRICS].summary())


@routes.get(
    "/api/ops/metrics/timeseries",
    access=Bearer(Scope.RUNBOOKS_READ),
    summary="One metric's points over the last minutes, step_seconds apart (the step raised past 11,000 points)",
    query=TimeseriesQuery,
    responses={200: TimeseriesResponse},
)
async def timeseries(request: web.Request) -> web.Response:
    query = parse_query(request, TimeseriesQuery)
    return respond(request, await request.app[METRICS].timeseries_json(query))


@scrape_routes.get(
    "/api/v1/metrics",
    access=METRICS_TOKEN,
    summary="Every metric of this server in Prometheus' text exposition format, for Prometheus to scrape",
    responses={200: Text(CONTENT_TYPE)},
)
async def exposition(request: web.Request) -> web.Response:
    return web.Response(body=request.app[METRICS].exposition(), headers={"Content-Type": CONTENT_TYPE})
