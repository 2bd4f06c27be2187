"""The metrics endpoints through the real HTTP stack: contract 2's summary and timeseries, and the Prometheus text
exposition of /api/v1/metrics."""

import asyncio
import contextlib
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from fake_prometheus import FakePrometheus, series
from prometheus_client.parser import text_string_to_metric_families

from server.clock import ManualClock
from server.embedded import free_port
from server.http.metrics import METRICS
from server.keys import PLANT, SETTINGS
from server.plant.feed import RESUBSCRIBE_SECONDS
from server.services.metrics.service import MetricsService

Ops = Any  # tests/server/conftest.py's Ops: the fixtures `ops` and `ops_with` give one

SUMMARY = "/api/ops/metrics/summary"
TIMESERIES = "/api/ops/metrics/timeseries"
SCRAPE_TOKEN = "scrape-secret"
MetricKeys = {"metric", "value", "unit", "stale", "context"}


@pytest.fixture
async def metrics_ops(ops_with: Callable[..., Awaitable[Ops]]) -> Ops:
    return await ops_with(metrics_token=SCRAPE_TOKEN, metrics_sample_seconds=5)


def _service(ops: Ops) -> MetricsService:
    return ops.app[METRICS]


async def _sample_every(ops: Ops, clock: ManualClock, seconds: float) -> None:
    for _ in range(int(seconds / 5)):
        clock.advance(5)
        await _service(ops).sampler.sample_once()


async def _json(ops: Ops, path: str, **kwargs: Any) -> tuple[int, Any]:
    response = await ops.get(path, **kwargs)
    return response.status, await response.json()


# --- summary ---


async def test_summary_has_the_contracts_shape(metrics_ops: Ops) -> None:
    await _service(metrics_ops).sampler.sample_once()
    await _service(metrics_ops).record_runbook_exit("health_check", 0)
    status, body = await _json(metrics_ops, SUMMARY)
    assert status == 200, body
    assert set(body) == {
        "coverage_ratio",
        "throughput_mps",
        "failover_latency_ms",
        "runbook_exit_code",
        "consumer_backlog_messages",
    }
    assert all(set(v) == MetricKeys for v in body.values())
    coverage = body["coverage_ratio"]
    assert coverage["metric"] == "md_subscription_coverage_ratio" and coverage["unit"] is None
    assert coverage["stale"] is False and 0.99 < coverage["value"] <= 1
    assert {"expected_total", "active_total", "matched_total", "ignored_total"} <= set(coverage["context"])
    assert body["throughput_mps"]["unit"] == "msg/s" and isinstance(body["throughput_mps"]["value"], int)
    assert body["runbook_exit_code"] == {
        "metric": "md_runbook_exit_code",
        "value": 0,
        "unit": None,
        "stale": False,
        "context": body["runbook_exit_code"]["context"],
    }
    assert body["failover_latency_ms"]["value"] is None
    assert body["failover_latency_ms"]["context"]["note"] == "no failover recorded"
    assert body["consumer_backlog_messages"]["unit"] == "messages"


async def test_summary_goes_stale_after_two_sampling_intervals(metrics_ops: Ops, clock: ManualClock) -> None:
    await _service(metrics_ops).sampler.sample_once()
    clock.advance(10)
    assert (await _json(metrics_ops, SUMMARY))[1]["throughput_mps"]["stale"] is False
    clock.advance(1)
    throughput = (await _json(metrics_ops, SUMMARY))[1]["throughput_mps"]
    assert throughput["stale"] is True and "11 s old" in throughput["context"]["note"]


async def test_stopping_the_connector_drops_throughput_and_coverage_within_a_sample(
    metrics_ops: Ops, clock: ManualClock
) -> None:
    await _sample_every(metrics_ops, clock, 15)
    await metrics_ops.run("stop", "connector")
    await _sample_every(metrics_ops, clock, 5)
    body = (await _json(metrics_ops, SUMMARY))[1]
    assert body["throughput_mps"]["value"] == 0
    assert body["coverage_ratio"]["value"] == 0
    assert body["coverage_ratio"]["context"]["active_total"] == 0

    await metrics_ops.run("start", "connector")
    await _sample_every(metrics_ops, clock, 5)
    ramping = (await _json(metrics_ops, SUMMARY))[1]
    assert 0 < ramping["coverage_ratio"]["value"] < 0.9
    await _sample_every(metrics_ops, clock, RESUBSCRIBE_SECONDS + 5)
    recovered = (await _json(metrics_ops, SUMMARY))[1]
    assert recovered["coverage_ratio"]["value"] > 0.99
    assert recovered["throughput_mps"]["value"] > 4000


async def test_a_failover_shows_its_latency(metrics_ops: Ops, clock: ManualClock) -> None:
    latency = metrics_ops.app[PLANT].feed.failover()  # as the runbooks' failover does
    await _sample_every(metrics_ops, clock, 5)
    failover = (await _json(metrics_ops, SUMMARY))[1]["failover_latency_ms"]
    assert failover["value"] == round(latency) and failover["unit"] == "ms" and failover["stale"] is False


# --- timeseries ---


async def test_timeseries_points_are_aligned_to_the_step(metrics_ops: Ops, clock: ManualClock) -> None:
    await _sample_every(metrics_ops, clock, 300)
    status, body = await _json(metrics_ops, TIMESERIES, params={"metric": "md_throughput_mps", "minutes": "5"})
    assert status == 200, body
    assert body["metric"] == "md_throughput_mps" and body["unit"] == "msg/s" and body["step_seconds"] == 60
    assert 5 <= len(body["points"]) <= 6
    assert all(p["timestamp"].endswith(":00Z") for p in body["points"])
    status, body = await _json(
        metrics_ops, TIMESERIES, params={"metric": "consumer_backlog_messages", "minutes": "2", "step_seconds": "15"}
    )
    assert status == 200 and body["unit"] == "messages"
    seconds = [int(p["timestamp"][17:19]) for p in body["points"]]
    assert seconds and all(s % 15 == 0 for s in seconds)


@pytest.mark.parametrize(
    ("params", "invalid"),
    [
        ({}, {"metric"}),
        ({"metric": "cpu_seconds_total"}, {"metric"}),
        ({"metric": "md_throughput_mps", "minutes": "0"}, {"minutes"}),
        ({"metric": "md_throughput_mps", "minutes": "10081"}, {"minutes"}),
        ({"metric": "md_throughput_mps", "step_seconds": "0"}, {"step_seconds"}),
        ({"metric": "md_throughput_mps", "step_seconds": "3601"}, {"step_seconds"}),
        ({"metric": "md_throughput_mps", "minutes": "an hour"}, {"minutes"}),
        ({"metric": "nope", "minutes": "-1", "step_seconds": "1.5"}, {"metric", "minutes", "step_seconds"}),
    ],
)
async def test_an_invalid_timeseries_query_is_a_422_listing_every_invalid_field(
    metrics_ops: Ops, params: dict[str, str], invalid: set[str]
) -> None:
    status, body = await _json(metrics_ops, TIMESERIES, params=params)
    assert status == 422, body
    assert set(body) == {"detail"}
    assert {tuple(e["loc"]) for e in body["detail"]} == {("query", name) for name in invalid}
    assert all(e["msg"] and e["type"] for e in body["detail"])


async def test_the_widest_query_is_answered_with_a_raised_step(metrics_ops: Ops) -> None:
    params = {"metric": "md_throughput_mps", "minutes": "10080", "step_seconds": "1"}
    status, body = await _json(metrics_ops, TIMESERIES, params=params)
    assert status == 200 and body["step_seconds"] == 55


# --- access ---


@pytest.mark.parametrize("path", [SUMMARY, f"{TIMESERIES}?metric=md_throughput_mps"])
async def test_reading_metrics_needs_a_token_with_runbooks_read(metrics_ops: Ops, path: str) -> None:
    status, body = await _json(metrics_ops, path, token=None)
    assert status == 401 and isinstance(body["detail"], str)
    status, body = await _json(metrics_ops, path, token="not-a-token")
    assert status == 401
    reader = await metrics_ops.create_token("ops-reader", "ops:read")
    status, body = await _json(metrics_ops, path, token=reader)
    assert status == 403 and "runbooks:read" in body["detail"]
    runbooks_reader = await metrics_ops.create_token("runbooks-reader", "runbooks:read")
    assert (await metrics_ops.get(path, token=runbooks_reader)).status == 200


# --- /api/v1/metrics ---


async def _scrape(ops: Ops, token: str | None = SCRAPE_TOKEN) -> tuple[int, str, str]:
    headers = {"X-Metrics-Token": token} if token is not None else {}
    response = await ops.client.get("/api/v1/metrics", headers=headers)
    return response.status, response.headers.get("Content-Type", ""), await response.text()


async def test_the_exposition_parses_back_with_the_feed_and_the_runbooks(metrics_ops: Ops) -> None:
    service = _service(metrics_ops)
    metrics_ops.app[PLANT].feed.failover()
    await service.record_runbook_exit("failover", 0)
    await service.record_runbook_exit("drill", 2)
    await service.record_runbook_exit("drill", 124, status="timeout")
    status, content_type, text = await _scrape(metrics_ops)
    assert status == 200, text
    assert content_type.startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert 0 < families["md_subscription_coverage_ratio"].samples[0].value <= 1  # resubscribing after the failover
    assert families["md_subscription_coverage_ratio"].type == "gauge"
    states = {s.labels["state"]: s.value for s in families["md_subscriptions"].samples}
    assert states["expected"] == 1280 and set(states) == {"expected", "active", "matched", "ignored"}
    assert families["md_throughput_mps"].samples[0].value >= 0
    assert families["consumer_backlog_messages"].samples[0].value >= 0
    assert families["md_failover_latency_ms"].samples[0].value > 0
    assert families["md_runbook_exit_code"].samples[0].value == 124
    profile = {s.labels["profile"]: s.value for s in families["md_feed_profile"].samples}
    assert profile == {"primary": 0.0, "backup": 1.0}
    runs = {
        (s.labels["command"], s.labels["status"]): s.value
        for s in families["ops_runbook_executions"].samples
        if s.name == "ops_runbook_executions_total"
    }
    assert runs == {("failover", "success"): 1, ("drill", "failed"): 1, ("drill", "timeout"): 1}


async def test_a_run_whose_script_never_started_is_counted_without_an_exit_code(metrics_ops: Ops) -> None:
    service = _service(metrics_ops)
    await service.record_runbook_exit("drill", 0)
    await service.record_runbook_exit("failover", None, status="failed")  # its script was missing
    families = {f.name: f for f in text_string_to_metric_families((await _scrape(metrics_ops))[2])}
    runs = {
        (s.labels["command"], s.labels["status"]): s.value
        for s in families["ops_runbook_executions"].samples
        if s.name == "ops_runbook_executions_total"
    }
    assert runs == {("drill", "success"): 1, ("failover", "failed"): 1}
    assert families["md_runbook_exit_code"].samples[0].value == 0  # the latest exit code there was


async def test_the_exposition_leaves_out_what_never_happened(metrics_ops: Ops) -> None:
    _, _, text = await _scrape(metrics_ops)
    names = {f.name for f in text_string_to_metric_families(text)}
    assert "md_throughput_mps" in names
    assert "md_failover_latency_ms" not in names and "md_runbook_exit_code" not in names


@pytest.mark.parametrize("token", [None, "wrong", ""])
async def test_the_exposition_needs_the_metrics_token(metrics_ops: Ops, token: str | None) -> None:
    status, _, text = await _scrape(metrics_ops, token)
    assert status == 401
    assert "md_throughput_mps" not in text


async def test_a_bearer_token_is_not_a_metrics_token(metrics_ops: Ops) -> None:
    response = await metrics_ops.get("/api/v1/metrics")
    assert response.status == 401


# --- with Prometheus ---


async def test_with_prometheus_the_summary_and_timeseries_come_from_it(
    ops_with: Callable[..., Awaitable[Ops]], aiohttp_server: Any, clock: ManualClock
) -> None:
    now = clock.timestamp()
    fake = FakePrometheus(
        series=[series("md_throughput_mps", [(now - 5, "5123.4")])],
        range_series=[{"metric": {}, "values": [[now - now % 60, "42"]]}],
    )
    server = await aiohttp_server(fake.app())
    ops = await ops_with(prometheus_url=str(server.make_url("/")))
    body = (await _json(ops, SUMMARY))[1]
    assert body["throughput_mps"]["value"] == 5123 and body["throughput_mps"]["stale"] is False
    assert body["coverage_ratio"]["value"] is None and "no sample" in body["coverage_ratio"]["context"]["note"]
    status, series_ = await _json(ops, TIMESERIES, params={"metric": "md_throughput_mps", "minutes": "10"})
    assert status == 200 and [p["value"] for p in series_["points"]] == [42]


async def test_an_unreachable_prometheus_is_stale_values_never_a_500(ops_with: Callable[..., Awaitable[Ops]]) -> None:
    ops = await ops_with(prometheus_url=f"http://127.0.0.1:{free_port()}")
    status, body = await _json(ops, SUMMARY)
    assert status == 200
    assert all(v["stale"] is True and "cannot be reached" in v["context"]["note"] for v in body.values())
    status, body = await _json(ops, TIMESERIES, params={"metric": "md_throughput_mps"})
    assert status == 200 and body["stale"] is True and body["points"] == []


async def test_prometheus_points_limit_is_a_422_never_its_400(
    ops_with: Callable[..., Awaitable[Ops]], aiohttp_server: Any
) -> None:
    error = {"status": "error", "errorType": "bad_data", "error": "exceeded maximum resolution of 11,000 points"}
    server = await aiohttp_server(FakePrometheus(answer=(400, error)).app())
    ops = await ops_with(prometheus_url=str(server.make_url("/")))
    status, body = await _json(ops, TIMESERIES, params={"metric": "md_throughput_mps"})
    assert status == 422
    assert [tuple(e["loc"]) for e in body["detail"]] == [("query", "step_seconds")]


async def test_the_exposition_counts_its_own_scrapes_in_the_apps_registry(metrics_ops: Ops) -> None:
    await _scrape(metrics_ops)
    _, _, text = await _scrape(metrics_ops)
    families = {f.name: f for f in text_string_to_metric_families(text)}
    scrapes = [
        s
        for s in families["ops_unaudited_requests"].samples
        if s.name == "ops_unaudited_requests_total" and s.labels["route"] == "/api/v1/metrics"
    ]
    assert [(s.labels["status"], s.value) for s in scrapes] == [("200", 1.0)]


async def test_the_sampler_runs_in_the_background_while_the_app_does(
    ops_with: Callable[..., Awaitable[Ops]], clock: ManualClock
) -> None:
    ops = await ops_with(metrics_sample_seconds=0.02)
    for _ in range(200):  # up to 4 s of real time on a busy machine
        clock.advance(0.02)
        if _count(ops, "metric_samples") >= 3 * 3:
            break
        await asyncio.sleep(0.02)
    assert _count(ops, "metric_samples") >= 9  # three metrics a sample, three samples
    assert _count(ops, "metric_rollups") >= 3


def _count(ops: Ops, table: str) -> int:
    """Rows in `table`, as another reader of the database file sees them now."""
    with contextlib.closing(sqlite3.connect(ops.app[SETTINGS].database_path)) as conn:
        return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
