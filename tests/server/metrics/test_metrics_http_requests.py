"""The server's own HTTP metrics in /api/v1/metrics: every request counted and timed by its route template, method
and status, with labels that stay bounded whatever paths and methods callers send."""

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from server.http.request_metrics import LATENCY_BUCKETS

Ops = Any  # tests/server/conftest.py's Ops

SCRAPE_TOKEN = "scrape-secret"
REQUESTS = "ops_http_requests"
LATENCY = "ops_http_request_duration_seconds"


@pytest.fixture
async def metrics_ops(ops_with: Callable[..., Awaitable[Ops]]) -> Ops:
    return await ops_with(metrics_token=SCRAPE_TOKEN)


async def _samples(ops: Ops) -> dict[str, list[Sample]]:
    response = await ops.client.get("/api/v1/metrics", headers={"X-Metrics-Token": SCRAPE_TOKEN})
    assert response.status == 200
    return {f.name: f.samples for f in text_string_to_metric_families(await response.text())}


def _counts(samples: dict[str, list[Sample]]) -> dict[tuple[str, str, str], float]:
    return {
        (s.labels["method"], s.labels["route"], s.labels["status"]): s.value
        for s in samples[REQUESTS]
        if s.name == f"{REQUESTS}_total"
    }


def _histogram(samples: dict[str, list[Sample]], method: str, route: str, status_class: str) -> dict[str, float]:
    """The series of one label set: `count`, `sum`, and each bucket by its `le`."""
    found: dict[str, float] = {}
    for s in samples[LATENCY]:
        if (s.labels["method"], s.labels["route"], s.labels["status_class"]) != (method, route, status_class):
            continue
        if s.name == f"{LATENCY}_bucket":
            found[s.labels["le"]] = s.value
        elif s.name in (f"{LATENCY}_count", f"{LATENCY}_sum"):
            found[s.name.rsplit("_", 1)[1]] = s.value
    return found


async def test_two_routes_are_counted_and_timed_apart(metrics_ops: Ops) -> None:
    for _ in range(3):
        assert (await metrics_ops.get("/api/ops/metrics/summary")).status == 200
    assert (await metrics_ops.client.get("/api/v1/health")).status == 200
    assert (await metrics_ops.get("/api/ops/metrics/summary", token=None)).status == 401
    samples = await _samples(metrics_ops)

    counts = _counts(samples)
    assert counts[("GET", "/api/ops/metrics/summary", "200")] == 3
    assert counts[("GET", "/api/ops/metrics/summary", "401")] == 1
    assert counts[("GET", "/api/v1/health", "200")] == 1

    summary = _histogram(samples, "GET", "/api/ops/metrics/summary", "2xx")
    assert summary["count"] == 3 and summary["sum"] > 0
    buckets = [summary[repr(float(b))] for b in LATENCY_BUCKETS] + [summary["+Inf"]]
    assert buckets == sorted(buckets) and buckets[-1] == 3  # cumulative, every request within +Inf
    health = _histogram(samples, "GET", "/api/v1/health", "2xx")
    assert health["count"] == 1 and health["+Inf"] == 1
    assert _histogram(samples, "GET", "/api/ops/metrics/summary", "4xx")["count"] == 1


async def test_routes_are_labelled_by_their_template_and_unknown_paths_by_one_label(metrics_ops: Ops) -> None:
    for request_id in ("run-1", "run-2", "run-3"):
        await metrics_ops.get(f"/api/ops/runbooks/{request_id}")
    for path in ("/no/such/path", "/api/ops/nothing-here", "/wp-login.php?x=1"):
        assert (await metrics_ops.get(path)).status == 404
    samples = await _samples(metrics_ops)

    counts = _counts(samples)
    by_route = {route for _, route, _ in counts}
    assert ("GET", "/api/ops/runbooks/{request_id}", "404") in counts  # no such runs: 404 from the handler
    assert counts[("GET", "/api/ops/runbooks/{request_id}", "404")] == 3
    assert counts[("GET", "unmatched", "404")] == 3
    assert not any("run-" in route or "no/such" in route or "wp-login" in route for route in by_route)
    assert _histogram(samples, "GET", "unmatched", "4xx")["count"] == 3


async def test_unknown_methods_fold_into_one_label(metrics_ops: Ops) -> None:
    for method in ("PROPFIND", "MKCOL", "DELETE"):  # WebDAV's, which HTTP parsers let through
        await metrics_ops.client.request(method, "/api/v1/health")
    counts = _counts(await _samples(metrics_ops))
    assert {method for method, _, _ in counts}.isdisjoint({"PROPFIND", "MKCOL"})
    assert sum(n for (method, _, status), n in counts.items() if method == "other" and status == "405") == 2
    assert sum(n for (method, _, status), n in counts.items() if method == "DELETE" and status == "405") == 1


async def test_the_scrape_itself_is_counted_by_the_next_one(metrics_ops: Ops) -> None:
    await _samples(metrics_ops)
    counts = _counts(await _samples(metrics_ops))
    assert counts[("GET", "/api/v1/metrics", "200")] == 1
