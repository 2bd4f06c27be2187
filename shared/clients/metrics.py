"""MetricsClient: the metrics half of the runbooks+metrics family (contract 2-runbooks-metrics-api.md),
`client.metrics.*`. Errors come in that family's envelope (`{"detail": ...}`, 422 listing the invalid fields)."""

from shared.clients.envelopes import RUNBOOKS
from shared.clients.transport import Transport
from shared.metrics import MetricName, MetricsSummary, TimeseriesResponse


class MetricsClient:
    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    async def summary(self) -> MetricsSummary:
        """The latest value of each metric, whether it is stale, and its context."""
        return await self._transport.request(RUNBOOKS, "GET", "/api/ops/metrics/summary", MetricsSummary)

    async def timeseries(
        self, metric: MetricName | str, minutes: int = 60, step_seconds: int = 60
    ) -> TimeseriesResponse:
        """`metric` over the last `minutes`, one point per `step_seconds` (the answer's `step_seconds` says when the
        server raised it to keep the series within 11,000 points). A bad query is InvalidRequest (422)."""
        params: dict[str, str | int] = {"metric": metric, "minutes": minutes, "step_seconds": step_seconds}
        return await self._transport.request(
            RUNBOOKS, "GET", "/api/ops/metrics/timeseries", TimeseriesResponse, params=params
        )
