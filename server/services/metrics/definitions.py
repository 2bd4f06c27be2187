"""What each metric is: its name (as Prometheus knows it), the summary key it is shown under, its unit, and
whether its values are whole numbers."""

import math
from dataclasses import dataclass

from shared.metrics import MetricName


@dataclass(frozen=True, slots=True)
class MetricDefinition:
    name: MetricName
    summary_key: str  # its key in the summary
    unit: str | None
    help: str
    integral: bool  # shown as whole numbers (messages, milliseconds, exit codes)

    @property
    def decimals(self) -> int:
        """The decimal places the API shows: none for whole metrics, four for ratios."""
        return 0 if self.integral else 4

    def shown(self, value: float) -> int | float:
        """`value` as the API shows it: whole metrics rounded half away from zero (as SQLite's round(), which
        encodes the embedded source's week-long series: storage/metrics.py), ratios to four decimals."""
        if self.integral:
            return int(value + math.copysign(0.5, value))  # int() truncates toward zero
        return round(value, self.decimals)


COVERAGE = MetricDefinition(
    "md_subscription_coverage_ratio",
    "coverage_ratio",
    None,
    "Matched market-data subscriptions over those expected to match.",
    integral=False,
)
THROUGHPUT = MetricDefinition(
    "md_throughput_mps", "throughput_mps", "msg/s", "Market-data messages delivered per second.", integral=True
)
FAILOVER_LATENCY = MetricDefinition(
    "md_failover_latency_ms",
    "failover_latency_ms",
    "ms",
    "Latency of the latest switch between the feed's primary and backup profiles.",
    integral=True,
)
RUNBOOK_EXIT_CODE = MetricDefinition(
    "md_runbook_exit_code", "runbook_exit_code", None, "Exit code of the latest runbook execution.", integral=True
)
BACKLOG = MetricDefinition(
    "consumer_backlog_messages",
    "consumer_backlog_messages",
    "messages",
    "Market-data messages waiting for the execution engine.",
    integral=True,
)

METRICS: tuple[MetricDefinition, ...] = (COVERAGE, THROUGHPUT, FAILOVER_LATENCY, RUNBOOK_EXIT_CODE, BACKLOG)
BY_NAME: dict[str, MetricDefinition] = {m.name: m for m in METRICS}

# The subscription totals that give coverage its context, exposed as one gauge labelled by `state`.
SUBSCRIPTIONS = "md_subscriptions"
SUBSCRIPTION_STATES = ("expected", "active", "matched", "ignored")
# The summary shows throughput's latest value, and its maximum over this window beside it.
THROUGHPUT_MAX_WINDOW_SECONDS = 60
# Prometheus answers at most this many points per series (its 400 past it); the embedded store keeps the same rule.
MAX_POINTS = 11_000
