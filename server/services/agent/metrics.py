"""The agent's metrics in the app's Prometheus registry (exposed at /api/v1/metrics): investigations by status and
mode (a gauge: counted from the database at start, then moved with each change) and their durations."""

from prometheus_client import CollectorRegistry, Gauge, Histogram

from shared.agent import INVESTIGATION_STATUSES, InvestigationStatus, Mode

DURATION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class AgentMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self._investigations = Gauge(
            "ops_agent_investigations",
            "Investigations by status and mode.",
            ["status", "mode"],
            registry=registry,
        )
        self._durations = Histogram(
            "ops_agent_investigation_duration_seconds",
            "Time investigations took to end (completed, failed or interrupted), by mode and final status.",
            ["mode", "status"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        for status in INVESTIGATION_STATUSES:
            for mode in ("quick", "deep"):
                self._investigations.labels(status, mode).set(0)

    def load(self, counts: dict[tuple[str, Mode], int]) -> None:
        for (status, mode), count in counts.items():
            self._investigations.labels(status, mode).set(count)

    def moved(
        self, mode: Mode, old: InvestigationStatus | None, new: InvestigationStatus, duration_ms: float | None
    ) -> None:
        if old is not None:
            self._investigations.labels(old, mode).dec()
        self._investigations.labels(new, mode).inc()
        if duration_ms is not None and new != "running":
            self._durations.labels(mode, new).observe(duration_ms / 1000)
