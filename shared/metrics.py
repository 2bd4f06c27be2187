"""Models of the metrics half of contract 2 (`/api/ops/metrics/summary`, `/api/ops/metrics/timeseries`): the
summary the console's overview shows, and the points of one metric's timeseries."""

from datetime import datetime
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

# The metrics these endpoints know: the market-data feed's, and the exit code of the latest runbook.
MetricName = Literal[
    "md_subscription_coverage_ratio",
    "md_throughput_mps",
    "md_failover_latency_ms",
    "md_runbook_exit_code",
    "consumer_backlog_messages",
]
METRIC_NAMES: tuple[MetricName, ...] = get_args(MetricName)

MAX_MINUTES = 7 * 24 * 60
MAX_STEP_SECONDS = 3600


class MetricValue(BaseModel):
    """One metric's latest value. `value` is None when there is no sample (then `context.note` says why);
    `stale` when the newest sample is older than twice the sampling interval, or the source cannot be reached."""

    metric: MetricName
    value: int | float | None
    unit: str | None = None
    stale: bool
    context: dict[str, Any] = Field(default_factory=dict)


class MetricsSummary(BaseModel):
    coverage_ratio: MetricValue
    throughput_mps: MetricValue
    failover_latency_ms: MetricValue
    runbook_exit_code: MetricValue
    consumer_backlog_messages: MetricValue


class TimeseriesQuery(BaseModel):
    """The query of `/api/ops/metrics/timeseries`: the metric (required, one the server knows), how many minutes
    back (1..10080, a week) and the step between points (1..3600 s). Another parameter is refused, as on every
    query of this API (server/http/parsing.py: a misspelt one must not be taken as absent)."""

    model_config = ConfigDict(extra="forbid")

    metric: MetricName
    minutes: int = Field(default=60, ge=1, le=MAX_MINUTES)
    step_seconds: int = Field(default=60, ge=1, le=MAX_STEP_SECONDS)


class TimeseriesPoint(TypedDict):
    """The metric over [timestamp, timestamp + step): its mean there. Timestamps are multiples of the step. A
    TypedDict rather than a model: a week's series holds up to 11,000 of them, and validating plain dicts costs a
    fraction of building a model per point."""

    timestamp: datetime
    value: int | float


class TimeseriesResponse(BaseModel):
    """The contract's `metric`, `unit` and `points`; beside them the step the points are spaced by (raised from the
    one asked for when the window would hold more than 11,000 points) and, when the source could not answer,
    `stale` with a `note` saying why."""

    metric: MetricName
    unit: str | None
    points: list[TimeseriesPoint]
    step_seconds: int
    stale: bool = False
    note: str | None = None
