"""The server's request metrics, in a Prometheus registry the application owns (not the process-global one, so two
apps in one process, as in the tests, count apart); the metrics family exposes the registry at /api/v1/metrics.

- `ops_http_requests_total{method, route, status}` and `ops_http_request_duration_seconds{method, route,
  status_class}`: every request, observed by the pipeline's last stage (`observe_request`).
- `ops_unaudited_requests_total{method, route, status}`: requests to routes whose reads are not audited (health
  probes, metrics scrapes, public feeds), counted by the audit stage instead of going into the audit log.

Labels stay bounded whatever callers send: `route` is the route's declared template
(`/api/ops/runbooks/{request_id}`), never the path asked for, and every path no route matched is `unmatched`;
a method outside HTTP's standard ones is `other`."""

import time

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram

from server.http.context import RequestContext

METRICS_REGISTRY = web.AppKey("metrics_registry", CollectorRegistry)

UNMATCHED = "unmatched"  # the route label of every request no route matched (404, 405)
OTHER_METHOD = "other"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Seconds. Most answers take a millisecond or two; week-long charts and runbook executions take longer.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


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


class HttpMetrics:
    """Every request by route, method and status: a counter per status code, and a latency histogram per status
    class (`2xx`..`5xx`), which keeps its buckets' series few."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._requests = Counter(
            "ops_http_requests",
            "HTTP requests by method, route template and status code.",
            ["method", "route", "status"],
            registry=registry,
        )
        self._latency = Histogram(
            "ops_http_request_duration_seconds",
            "Time from a request's arrival to its answer, by method, route template and status class.",
            ["method", "route", "status_class"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

    def observe(self, method: str, route: str | None, status: int, seconds: float) -> None:
        """One answered request; `route` None when no route matched it."""
        method = method if method in _METHODS else OTHER_METHOD
        route = route if route is not None else UNMATCHED
        self._requests.labels(method, route, str(status)).inc()
        self._latency.labels(method, route, f"{status // 100}xx").observe(seconds)


REQUEST_COUNTER = web.AppKey("request_counter", RequestCounter)
HTTP_METRICS = web.AppKey("http_metrics", HttpMetrics)


def setup_request_metrics(app: web.Application) -> None:
    registry = app[METRICS_REGISTRY] = CollectorRegistry()
    app[REQUEST_COUNTER] = RequestCounter(registry)
    app[HTTP_METRICS] = HttpMetrics(registry)


def observe_request(
    app: web.Application, request: web.Request, context: RequestContext, status: int, started: float
) -> None:
    """The pipeline's last stage: count the answer and how long it took since `started` (`time.perf_counter()`)."""
    route = context.route
    app[HTTP_METRICS].observe(
        request.method, route.path if route is not None else None, status, time.perf_counter() - started
    )
