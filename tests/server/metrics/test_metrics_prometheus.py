"""The Prometheus source against a fake Prometheus on a loopback port: each of its semantics."""

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from fake_prometheus import FakePrometheus, series

from server.clock import ManualClock
from server.embedded import free_port
from server.errors import ValidationFailed
from server.services.metrics.definitions import BY_NAME
from server.services.metrics.prometheus import PrometheusSource
from server.services.metrics.source import plan_window

MakeSource = Callable[[FakePrometheus], Awaitable[PrometheusSource]]


@pytest.fixture
async def make_source(aiohttp_server: Any, clock: ManualClock) -> AsyncIterator[MakeSource]:
    sources: list[PrometheusSource] = []

    async def make(fake: FakePrometheus) -> PrometheusSource:
        server = await aiohttp_server(fake.app())
        source = PrometheusSource(str(server.make_url("/")), clock, sample_seconds=5)
        sources.append(source)
        return source

    yield make
    for source in sources:
        await source.aclose()


def _scraped(now: float, *, every: float = 15, last: float = 0) -> dict[str, Any]:
    """Every metric scraped at `every` s, the newest `last` s before now."""
    t = now - last

    def samples(*values: str) -> list[tuple[float, str]]:
        return [(t - every * (len(values) - 1 - i), v) for i, v in enumerate(values)]

    return {
        "series": [
            series("md_subscription_coverage_ratio", samples("0.99", "0.9984")),
            series("md_subscriptions", samples("1280"), state="expected"),
            series("md_subscriptions", samples("1279"), state="active"),
            series("md_subscriptions", samples("1277"), state="matched"),
            series("md_subscriptions", samples("2"), state="ignored"),
            series("md_throughput_mps", samples("9000", "5600.4", "5399.6", "5400.2")),
            series("md_failover_latency_ms", samples("1834.6", "1834.6")),
            series("md_runbook_exit_code", samples("0", "0")),
            series("consumer_backlog_messages", samples("27", "31")),
        ]
    }


async def test_summary_reads_string_values_with_context_and_freshness(make_source: MakeSource, clock) -> None:
    now = clock.timestamp()
    fake = FakePrometheus(**_scraped(now, every=25, last=3))
    summary = await (await make_source(fake)).summary()
    assert summary.coverage_ratio.value == 0.9984 and summary.coverage_ratio.stale is False
    assert {k: summary.coverage_ratio.context[k] for k in ("expected_total", "active_total", "matched_total")} == {
        "expected_total": 1280,
        "active_total": 1279,
        "matched_total": 1277,
    }
    assert summary.coverage_ratio.context["ignored_total"] == 2
    assert summary.throughput_mps.value == 5400
    assert summary.throughput_mps.context["max_over_time[1m]"] == 5600  # the 9000 is older than the minute
    assert summary.failover_latency_ms.value == 1835 and summary.failover_latency_ms.unit == "ms"
    assert summary.runbook_exit_code.value == 0
    assert summary.consumer_backlog_messages.value == 31
    [(path, params)] = fake.requests
    assert path == "/api/v1/query"
    assert params["query"].endswith("[5m]") and "md_subscriptions" in params["query"]
    assert float(params["time"]) == now


async def test_summary_is_stale_past_two_scrape_intervals(make_source: MakeSource, clock) -> None:
    fake = FakePrometheus(**_scraped(clock.timestamp(), every=15, last=31))
    summary = await (await make_source(fake)).summary()
    assert summary.coverage_ratio.stale is True
    assert summary.coverage_ratio.value == 0.9984
    assert "31 s old (scraped every 15 s)" in summary.coverage_ratio.context["note"]


async def test_newest_series_wins_when_several_targets_export_a_metric(make_source: MakeSource, clock) -> None:
    now = clock.timestamp()
    fake = FakePrometheus(
        series=[
            series("consumer_backlog_messages", [(now - 20, "5"), (now - 10, "6")], instance="a"),
            series("consumer_backlog_messages", [(now - 12, "7"), (now - 2, "8")], instance="b"),
        ]
    )
    assert (await (await make_source(fake)).summary()).consumer_backlog_messages.value == 8


async def test_an_empty_result_gives_null_values_with_notes(make_source: MakeSource) -> None:
    summary = await (await make_source(FakePrometheus())).summary()
    for value in summary.model_dump().values():
        assert value["value"] is None and value["stale"] is True
        assert f"no sample of {value['metric']} in Prometheus" in value["context"]["note"]


async def test_a_nan_sample_is_no_value(make_source: MakeSource, clock) -> None:
    now = clock.timestamp()
    fake = FakePrometheus(series=[series("md_subscription_coverage_ratio", [(now - 10, "NaN"), (now, "NaN")])])
    coverage = (await (await make_source(fake)).summary()).coverage_ratio
    assert coverage.value is None
    assert "NaN" in coverage.context["note"]


@pytest.mark.parametrize(
    ("answer", "note"),
    [
        (
            (422, {"status": "error", "errorType": "execution", "error": "query timed out"}),
            "execution: query timed out",
        ),
        ((503, {"status": "error", "errorType": "unavailable", "error": "shutting down"}), "unavailable"),
        ((502, "<html>Bad Gateway</html>"), "answered HTTP 502 without its API's JSON"),
        ((200, {"status": "success", "data": {"resultType": "vector", "result": []}}), "other than a matrix"),
    ],
)
async def test_an_error_answer_makes_the_values_stale_with_a_note(
    make_source: MakeSource, answer: tuple[int, Any], note: str
) -> None:
    summary = await (await make_source(FakePrometheus(answer=answer))).summary()
    for value in summary.model_dump().values():
        assert value["value"] is None and value["stale"] is True
        assert note in value["context"]["note"]


async def test_an_unreachable_prometheus_makes_everything_stale_not_an_error(clock: ManualClock) -> None:
    source = PrometheusSource(f"http://127.0.0.1:{free_port()}", clock, sample_seconds=5, timeout=2)
    try:
        summary = await source.summary()
        series_ = await source.timeseries(BY_NAME["md_throughput_mps"], plan_window(clock.timestamp(), 60, 60))
    finally:
        await source.aclose()
    assert summary.throughput_mps.stale is True and summary.throughput_mps.value is None
    assert "cannot be reached: connection refused" in summary.throughput_mps.context["note"]
    assert series_.stale is True and series_.points == []
    assert "connection refused" in (series_.note or "")


async def test_timeseries_asks_for_step_means_and_labels_points_by_their_steps_start(
    make_source: MakeSource, clock: ManualClock
) -> None:
    window = plan_window(clock.timestamp(), minutes=5, step_seconds=60)
    t = window.start + 2 * window.step
    fake = FakePrometheus(range_series=[{"metric": {}, "values": [[t, "5400.4"], [t + 60, "NaN"], [t + 120, "0"]]}])
    response = await (await make_source(fake)).timeseries(BY_NAME["md_throughput_mps"], window)
    [(path, params)] = fake.requests
    assert path == "/api/v1/query_range"
    assert params["query"] == "avg(avg_over_time(md_throughput_mps[60s]))"
    assert int(params["start"]) == window.start + 60 and int(params["end"]) == window.end and params["step"] == "60"
    assert [(p["timestamp"].timestamp(), p["value"]) for p in response.points] == [(t - 60, 5400), (t + 60, 0)]
    assert response.unit == "msg/s" and response.stale is False


async def test_a_week_at_one_second_is_asked_at_a_step_prometheus_accepts(
    make_source: MakeSource, clock: ManualClock
) -> None:
    fake = FakePrometheus()
    window = plan_window(clock.timestamp(), minutes=10080, step_seconds=1)
    response = await (await make_source(fake)).timeseries(BY_NAME["md_throughput_mps"], window)
    assert response.step_seconds == 55 and response.stale is False
    [(_, params)] = fake.requests
    assert params["step"] == "55"


async def test_prometheus_points_limit_is_our_422_not_its_400(make_source: MakeSource, clock: ManualClock) -> None:
    fake = FakePrometheus(
        answer=(400, {"status": "error", "errorType": "bad_data", "error": "exceeded maximum resolution of 11,000"})
    )
    source = await make_source(fake)
    with pytest.raises(ValidationFailed) as raised:
        await source.timeseries(BY_NAME["md_throughput_mps"], plan_window(clock.timestamp(), 60, 60))
    [error] = raised.value.errors
    assert (error.source, error.loc) == ("query", ("step_seconds",))
