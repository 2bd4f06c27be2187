"""MetricsSource: where the summary and the timeseries come from, the embedded store or Prometheus; and the
window a timeseries query covers, planned once for either source."""

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from server.services.metrics.definitions import MAX_POINTS, MetricDefinition
from shared.metrics import MetricsSummary, TimeseriesResponse

_NO_POINTS = '"points":[]'


@dataclass(frozen=True, slots=True)
class Window:
    """[start, end) in buckets of `step` seconds; both ends are multiples of the step."""

    start: int
    end: int
    step: int

    @property
    def points(self) -> int:
        return (self.end - self.start) // self.step


def plan_window(now: float, minutes: int, step_seconds: int) -> Window:
    """The buckets covering the last `minutes` up to now (its bucket included, partial), aligned to multiples of the
    step. The step is raised when the window would hold more than MAX_POINTS points (Prometheus' limit per series):
    a week at 1 s becomes a week at 55 s, not an error."""
    span = minutes * 60
    step = max(step_seconds, math.ceil(span / (MAX_POINTS - 2)))  # the partial buckets at both ends take two
    end = (math.floor(now / step) + 1) * step
    start = math.floor((now - span) / step) * step
    return Window(start, end, step)


def iso(epoch_seconds: float) -> datetime:
    return datetime.fromtimestamp(epoch_seconds, UTC)


def iso_text(epoch_seconds: float) -> str:
    """As the API writes every time: ISO 8601 in UTC, `Z` for its offset (as pydantic writes the models' times)."""
    return iso(epoch_seconds).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def encode_with_points(metric: MetricDefinition, step: int, points_json: str) -> bytes:
    """The timeseries answer, as TimeseriesResponse encodes it, around points already encoded as a JSON array: the
    model writes every other field (a metric name and unit never hold the text `"points":[]`)."""
    empty = TimeseriesResponse(metric=metric.name, unit=metric.unit, points=[], step_seconds=step).model_dump_json()
    return empty.replace(_NO_POINTS, f'"points":{points_json}', 1).encode()


class MetricsSource(Protocol):
    async def summary(self) -> MetricsSummary: ...

    async def timeseries(self, metric: MetricDefinition, window: Window) -> TimeseriesResponse: ...

    async def timeseries_json(self, metric: MetricDefinition, window: Window) -> bytes:
        """timeseries() as the API answers it, encoded."""
        ...
