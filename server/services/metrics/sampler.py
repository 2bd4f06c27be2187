"""MetricsSampler: every `metrics_sample_seconds` it measures the plant's market-data feed and records a sample of
each metric into SQLite; now and then it prunes raw samples past their retention and rollups past theirs.

The failover latency and the runbook exit code are events, kept as gauges the way an exporter keeps them: each
sample repeats the latest one, so their staleness means what it means for the others (the sampler stopped), and
they survive a restart of the server (restored from the store)."""

import asyncio
import logging

from server.clock import Clock
from server.plant.feed import MarketDataFeed
from server.services.metrics.definitions import BACKLOG, COVERAGE, FAILOVER_LATENCY, RUNBOOK_EXIT_CODE, THROUGHPUT
from server.storage.metrics import MetricsRepository, Sample

log = logging.getLogger(__name__)

DAY = 24 * 3600.0


class MetricsSampler:
    def __init__(
        self,
        feed: MarketDataFeed,
        repository: MetricsRepository,
        clock: Clock,
        *,
        raw_seconds: float = DAY,
        rollup_seconds: float = 8 * DAY,
    ) -> None:
        self._feed = feed
        self._repository = repository
        self._clock = clock
        self.raw_seconds = raw_seconds
        self.rollup_seconds = rollup_seconds
        self.last_exit_code: int | None = None
        self._stored_failover_ms: float | None = None

    async def restore(self) -> None:
        """Take up the latest failover latency and exit code the store holds (from before a restart)."""
        exit_code = await self._repository.latest(RUNBOOK_EXIT_CODE.name)
        if exit_code is not None and self.last_exit_code is None:
            self.last_exit_code = int(exit_code.value)
        failover = await self._repository.latest(FAILOVER_LATENCY.name)
        self._stored_failover_ms = failover.value if failover is not None else None

    def readings(self) -> list[Sample]:
        """One measurement of the feed, as samples at the clock's now."""
        snapshot = self._feed.snapshot()
        at = snapshot.at.timestamp()
        totals = {
            "expected_total": snapshot.expected_total,
            "active_total": snapshot.active_total,
            "matched_total": snapshot.matched_total,
            "ignored_total": snapshot.ignored_total,
        }
        samples = [
            Sample(COVERAGE.name, at, snapshot.coverage_ratio, totals),
            Sample(THROUGHPUT.name, at, snapshot.throughput_mps),
            Sample(BACKLOG.name, at, float(snapshot.backlog_messages)),
        ]
        failover = snapshot.last_failover_latency_ms
        if failover is None:
            failover = self._stored_failover_ms
        if failover is not None:
            samples.append(Sample(FAILOVER_LATENCY.name, at, failover))
        if self.last_exit_code is not None:
            samples.append(Sample(RUNBOOK_EXIT_CODE.name, at, float(self.last_exit_code)))
        return samples

    async def sample_once(self) -> list[Sample]:
        samples = self.readings()
        await self._repository.record(samples)
        return samples

    async def record_exit(self, exit_code: int) -> None:
        """A runbook ended with `exit_code`: it is the latest from now on, and stored at once."""
        self.last_exit_code = exit_code
        await self._repository.record([Sample(RUNBOOK_EXIT_CODE.name, self._clock.timestamp(), float(exit_code))])

    async def prune(self) -> tuple[int, int]:
        """Drop raw samples and rollups past their retention. Returns how many of each went."""
        now = self._clock.timestamp()
        return await self._repository.prune(raw_before=now - self.raw_seconds, rollups_before=now - self.rollup_seconds)

    async def run(self, interval: float, *, prune_every: float = 600.0) -> None:
        """Sample every `interval` seconds until cancelled, pruning every `prune_every`. A failed sample is logged
        and the next one tried: a busy database for a moment must not end the metrics."""
        loop = asyncio.get_running_loop()
        next_prune = loop.time()
        while True:
            try:
                await self.sample_once()
                if loop.time() >= next_prune:
                    await self.prune()
                    next_prune = loop.time() + prune_every
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("metrics sample failed; trying again in %s s", interval)
            await asyncio.sleep(interval)
