"""MetricsService: what the metrics routes and the runbooks family call. The source (embedded or Prometheus) is
chosen by settings; `running_metrics` opens everything it needs and closes it again."""

import asyncio
import contextlib
from collections.abc import AsyncIterator

from prometheus_client import CollectorRegistry

from server.clock import Clock
from server.plant.feed import MarketDataFeed
from server.services.metrics.definitions import BY_NAME
from server.services.metrics.embedded import EmbeddedSource
from server.services.metrics.exposition import FeedCollector, RunbookCounter, render
from server.services.metrics.prometheus import PrometheusSource
from server.services.metrics.sampler import MetricsSampler
from server.services.metrics.source import MetricsSource, plan_window
from server.storage.database import Database
from server.storage.metrics import MetricsRepository
from shared.metrics import MetricsSummary, TimeseriesQuery, TimeseriesResponse

# The longest a summary or timeseries waits for Prometheus before its values are answered stale.
PROMETHEUS_TIMEOUT_SECONDS = 5.0


class MetricsService:
    def __init__(
        self,
        source: MetricsSource,
        sampler: MetricsSampler,
        clock: Clock,
        *,
        registry: CollectorRegistry,
        runbooks: RunbookCounter,
    ) -> None:
        self.source = source
        self.sampler = sampler
        self._clock = clock
        self._registry = registry
        self._runbooks = runbooks

    async def summary(self) -> MetricsSummary:
        return await self.source.summary()

    async def timeseries(self, query: TimeseriesQuery) -> TimeseriesResponse:
        window = plan_window(self._clock.timestamp(), query.minutes, query.step_seconds)
        return await self.source.timeseries(BY_NAME[query.metric], window)

    async def timeseries_json(self, query: TimeseriesQuery) -> bytes:
        """timeseries(), encoded as the API answers it: what the route sends (a week's chart is never a model)."""
        window = plan_window(self._clock.timestamp(), query.minutes, query.step_seconds)
        return await self.source.timeseries_json(BY_NAME[query.metric], window)

    async def record_runbook_exit(self, command: str, exit_code: int | None, status: str | None = None) -> None:
        """A runbook execution ended: it is counted in `ops_runbook_executions_total{command, status}`, and its
        exit code becomes `md_runbook_exit_code` (stored at once). `status` defaults to success for exit code 0,
        else failed (pass `timeout` or `aborted` when it was that). A run whose script never started (missing or
        broken) has no exit code: it is counted all the same, and the latest exit code stays."""
        self._runbooks.count(command, status or ("success" if exit_code == 0 else "failed"))
        if exit_code is not None:
            await self.sampler.record_exit(exit_code)

    def exposition(self) -> bytes:
        """Every metric of the application's registry, in Prometheus' text format."""
        return render(self._registry)


@contextlib.asynccontextmanager
async def running_metrics(
    *,
    db: Database,
    feed: MarketDataFeed,
    clock: Clock,
    registry: CollectorRegistry,
    sample_seconds: float,
    prometheus_url: str | None,
) -> AsyncIterator[MetricsService]:
    """The metrics service, with its source open and, for the embedded source, the sampler running."""
    repository = MetricsRepository(db)
    sampler = MetricsSampler(feed, repository, clock)
    await sampler.restore()
    collector = FeedCollector(feed, lambda: sampler.last_exit_code)
    registry.register(collector)
    runbooks = RunbookCounter(registry)
    source: EmbeddedSource | PrometheusSource
    task: asyncio.Task[None] | None = None
    if prometheus_url:
        source = PrometheusSource(
            prometheus_url, clock, sample_seconds=sample_seconds, timeout=PROMETHEUS_TIMEOUT_SECONDS
        )
    else:
        source = EmbeddedSource(repository, clock, sample_seconds=sample_seconds, raw_seconds=sampler.raw_seconds)
        task = asyncio.create_task(sampler.run(sample_seconds), name="metrics-sampler")
    try:
        yield MetricsService(source, sampler, clock, registry=registry, runbooks=runbooks)
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if isinstance(source, PrometheusSource):
            await source.aclose()
        registry.unregister(collector)
