"""Request counters, in a Prometheus registry the application owns (not the process-global one, so two apps in
one process, as in the tests, count apart). Requests to routes whose reads are not audited — health probes,
metrics scrapes, public feeds — are counted here instead of going into the audit log; the metrics family
exposes the registry."""

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter

METRICS_REGISTRY = web.AppKey("metrics_registry", CollectorRegistry)


class RequestCounter:
    """`ops_unaudited_requests_total{method, route, status}`; `route` is the route's path (`/api/v1/health`), so
    the labels stay few whatever paths callers send."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._requests = Counter(
            "ops_unaudited_requests",
            "Requests to routes whose reads are counted rather than audited, by method, route and status.",
            ["method", "route", "status"],
            registry=registry,
        )

    def count(self, method: str, route: str, status: int) -> None:
        self._requests.labels(method, route, str(status)).inc()


REQUEST_COUNTER = web.AppKey("request_counter", RequestCounter)


def setup_request_metrics(app: web.Application) -> None:
    registry = app[METRICS_REGISTRY] = CollectorRegistry()
    app[REQUEST_COUNTER] = RequestCounter(registry)
