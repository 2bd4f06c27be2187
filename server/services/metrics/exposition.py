"""The server's own metrics in Prometheus' text format (`GET /api/v1/metrics`), with prometheus-client, in the
registry the application owns: the market-data feed's metrics read at scrape time, the latest runbook exit code,
and runbook executions counted by command and status. (The request counters of the platform live in the same
registry.)"""

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector

from server.plant.feed import MarketDataFeed
from server.services.metrics.definitions import (
    BACKLOG,
    COVERAGE,
    FAILOVER_LATENCY,
    RUNBOOK_EXIT_CODE,
    SUBSCRIPTIONS,
    THROUGHPUT,
)

# The classic text format (names in underscores), which every Prometheus since 2.0 reads.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4


class FeedCollector(Collector):
    """Measures the feed when scraped, as an exporter beside it would. Metrics with nothing to say yet (no
    failover, no runbook) are left out rather than exported as 0, which would read as a real value."""

    def __init__(self, feed: MarketDataFeed, last_exit_code: Callable[[], int | None]) -> None:
        self._feed = feed
        self._last_exit_code = last_exit_code

    def collect(self) -> Iterable[Metric]:
        snapshot = self._feed.snapshot()
        yield GaugeMetricFamily(COVERAGE.name, COVERAGE.help, value=snapshot.coverage_ratio)
        totals = GaugeMetricFamily(SUBSCRIPTIONS, "Market-data subscriptions by state.", labels=["state"])
        totals.add_metric(["expected"], snapshot.expected_total)
        totals.add_metric(["active"], snapshot.active_total)
        totals.add_metric(["matched"], snapshot.matched_total)
        totals.add_metric(["ignored"], snapshot.ignored_total)
        yield totals
        yield GaugeMetricFamily(THROUGHPUT.name, THROUGHPUT.help, value=snapshot.throughput_mps)
        yield GaugeMetricFamily(BACKLOG.name, BACKLOG.help, value=snapshot.backlog_messages)
        profile = GaugeMetricFamily(
            "md_feed_profile", "The feed's active profile (1) and the other (0).", labels=["profile"]
        )
        for name in ("primary", "backup"):
            profile.add_metric([name], 1.0 if snapshot.profile == name else 0.0)
        yield profile
        if snapshot.last_failover_latency_ms is not None:
            yield GaugeMetricFamily(
                FAILOVER_LATENCY.name, FAILOVER_LATENCY.help, value=snapshot.last_failover_latency_ms
            )
        exit_code = self._last_exit_code()
        if exit_code is not None:
            yield GaugeMetricFamily(RUNBOOK_EXIT_CODE.name, RUNBOOK_EXIT_CODE.help, value=exit_code)


class RunbookCounter:
    """`ops_runbook_executions_total{command, status}`."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._executions = Counter(
            "ops_runbook_executions",
            "Runbook executions by command and final status.",
            ["command", "status"],
            registry=registry,
        )

    def count(self, command: str, status: str) -> None:
        self._executions.labels(command, status).inc()


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
