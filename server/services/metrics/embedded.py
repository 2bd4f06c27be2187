"""EmbeddedSource: the summary and timeseries from the samples the server records itself (MetricsSampler)."""

from typing import Any

from server.clock import Clock
from server.services.metrics.definitions import (
    METRICS,
    THROUGHPUT,
    THROUGHPUT_MAX_WINDOW_SECONDS,
    MetricDefinition,
)
from server.services.metrics.source import Window, encode_with_points, iso_text
from server.storage.metrics import MetricsRepository
from shared.metrics import MetricsSummary, MetricValue, TimeseriesResponse

# Why a metric has no value, in the words an operator needs.
NO_SAMPLE_NOTES: dict[str, str] = {
    "md_failover_latency_ms": "no failover recorded",
    "md_runbook_exit_code": "no runbook has run",
}


class EmbeddedSource:
    def __init__(self, repository: MetricsRepository, clock: Clock, *, sample_seconds: float, raw_seconds: float):
        self._repository = repository
        self._clock = clock
        self._sample_seconds = sample_seconds
        self._raw_seconds = raw_seconds

    async def summary(self) -> MetricsSummary:
        now = self._clock.timestamp()
        values = {m.summary_key: await self._value(m, now) for m in METRICS}
        return MetricsSummary.model_validate(values)

    async def _value(self, metric: MetricDefinition, now: float) -> MetricValue:
        latest = await self._repository.latest(metric.name)
        if latest is None:
            note = NO_SAMPLE_NOTES.get(metric.name, "no sample recorded yet")
            return MetricValue(metric=metric.name, value=None, unit=metric.unit, stale=True, context={"note": note})
        age = now - latest.at
        stale = age > 2 * self._sample_seconds
        context: dict[str, Any] = {**(latest.context or {}), "sampled_at": iso_text(latest.at)}
        if metric is THROUGHPUT:
            top = await self._repository.max_between(metric.name, latest.at - THROUGHPUT_MAX_WINDOW_SECONDS, latest.at)
            context["window"] = "last"
            context["max_over_time[1m]"] = metric.shown(top if top is not None else latest.value)
        if stale:
            context["note"] = f"newest sample is {age:.0f} s old (sampled every {self._sample_seconds:g} s)"
        return MetricValue(
            metric=metric.name, value=metric.shown(latest.value), unit=metric.unit, stale=stale, context=context
        )

    async def timeseries(self, metric: MetricDefinition, window: Window) -> TimeseriesResponse:
        raw_from = self._clock.timestamp() - self._raw_seconds
        means = await self._repository.series(metric.name, window.start, window.end, window.step, raw_from=raw_from)
        points = [{"timestamp": t, "value": metric.shown(mean)} for t, mean in means]  # epoch seconds: UTC
        return TimeseriesResponse.model_validate(
            {"metric": metric.name, "unit": metric.unit, "points": points, "step_seconds": window.step}
        )

    async def timeseries_json(self, metric: MetricDefinition, window: Window) -> bytes:
        """timeseries(), encoded. In whole minutes (every week-long chart) the rollups alone answer, and SQLite
        encodes their points (MetricsRepository.minute_points_json says why); other steps go through the model."""
        if window.step % 60:
            return (await self.timeseries(metric, window)).model_dump_json().encode()
        points = await self._repository.minute_points_json(
            metric.name, window.start, window.end, window.step, decimals=metric.decimals
        )
        return encode_with_points(metric, window.step, points)
