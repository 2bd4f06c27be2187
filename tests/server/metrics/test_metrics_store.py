"""The embedded metrics source: the sampler, the store's rollups and retention, and the summary and timeseries
read back from it."""

import asyncio
import contextlib
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from server.clock import ManualClock
from server.plant.plant import Plant
from server.services.metrics.definitions import BY_NAME, MAX_POINTS
from server.services.metrics.embedded import EmbeddedSource
from server.services.metrics.sampler import DAY, MetricsSampler
from server.services.metrics.source import plan_window
from server.settings import Settings
from server.storage.database import Database
from server.storage.metrics import MetricsRepository, Sample
from shared.control import CommandParams

INTERVAL = 5.0


@pytest.fixture
def repository(db: Database) -> MetricsRepository:
    return MetricsRepository(db)


@pytest.fixture
def plant(clock: ManualClock) -> Plant:
    return Plant(clock, seed=7)


@pytest.fixture
def sampler(plant: Plant, repository: MetricsRepository, clock: ManualClock) -> MetricsSampler:
    return MetricsSampler(plant.feed, repository, clock)


@pytest.fixture
def source(repository: MetricsRepository, clock: ManualClock) -> EmbeddedSource:
    return EmbeddedSource(repository, clock, sample_seconds=INTERVAL, raw_seconds=DAY)


async def _every(clock: ManualClock, sampler: MetricsSampler, seconds: float, *, interval: float = INTERVAL) -> None:
    for _ in range(int(seconds / interval)):
        clock.advance(interval)
        await sampler.sample_once()


# --- store ---


async def test_a_sample_reads_back_with_its_context(repository: MetricsRepository) -> None:
    await repository.record([Sample("m", 1000.25, 0.5, {"expected_total": 10})])
    latest = await repository.latest("m")
    assert latest == Sample("m", 1000.25, 0.5, {"expected_total": 10})
    assert await repository.latest("other") is None


async def test_rewriting_a_sample_never_counts_it_twice_in_its_rollup(repository: MetricsRepository) -> None:
    await repository.record([Sample("m", 120.0, 1.0), Sample("m", 125.0, 3.0)])
    await repository.record([Sample("m", 125.0, 7.0)])  # the same instant again: replaces
    assert await repository.series("m", 120, 180, 60, raw_from=0) == [(120, (1.0 + 7.0) / 2)]


async def test_series_are_aligned_to_the_step_from_raw_and_rollups_alike(repository: MetricsRepository) -> None:
    await repository.record([Sample("m", 100.0 + 5 * i, float(i)) for i in range(24)])  # 100..215 s: 0..23
    raw = await repository.series("m", 90, 240, 30, raw_from=0)
    assert raw == [(90, 1.5), (120, 6.5), (150, 12.5), (180, 18.5), (210, 22.5)]
    minutes = await repository.series("m", 60, 240, 60, raw_from=0)
    assert minutes == [(60, 1.5), (120, 9.5), (180, 19.5)]
    assert await repository.series("m", 0, 240, 120, raw_from=0) == [(0, 1.5), (120, sum(range(4, 24)) / 20)]
    # Before `raw_from` (from its next whole minute) only rollups count, as raw samples there may be pruned: the
    # minutes starting in the step, 120..179 (the minute from 60 starts before the window).
    assert await repository.series("m", 90, 240, 90, raw_from=150) == [(90, 9.5), (180, 19.5)]
    # The step from 100 spans the split at 180: the minute from 120 (rollup) and 180..199 (raw) make one mean.
    straddling = await repository.series("m", 100, 240, 100, raw_from=150)
    assert straddling == [(100, sum(range(4, 20)) / 16), (200, 21.5)]


async def test_retention_keeps_a_day_of_raw_samples_and_eight_days_of_minutes(
    repository: MetricsRepository, sampler: MetricsSampler, clock: ManualClock
) -> None:
    start = clock.timestamp()
    hours = 30
    for hour in range(hours):
        await repository.record([Sample("m", start + hour * 3600 + s, 1.0) for s in range(0, 3600, 5)])
    clock.advance(hours * 3600)
    await sampler.prune()
    raw, rollups = await repository.counts()
    assert raw == 24 * 3600 // 5
    assert rollups == hours * 60
    clock.advance(9 * DAY)
    await sampler.prune()
    assert await repository.counts() == (0, 0)


# --- sampler ---


async def test_each_sample_records_the_feed_with_coverage_totals(
    sampler: MetricsSampler, repository: MetricsRepository
) -> None:
    samples = await sampler.sample_once()
    assert {s.metric for s in samples} == {
        "md_subscription_coverage_ratio",
        "md_throughput_mps",
        "consumer_backlog_messages",
    }  # no failover and no runbook yet: nothing to say about them
    coverage = await repository.latest("md_subscription_coverage_ratio")
    assert coverage is not None and coverage.context is not None
    assert set(coverage.context) == {"expected_total", "active_total", "matched_total", "ignored_total"}
    assert coverage.context["expected_total"] == 1280


async def test_a_stopped_connector_shows_in_the_next_sample_and_a_restart_recovers(
    plant: Plant, sampler: MetricsSampler, repository: MetricsRepository, clock: ManualClock
) -> None:
    await _every(clock, sampler, 20)
    plant.execute("stop", "connector", CommandParams())
    await _every(clock, sampler, INTERVAL)
    throughput = await repository.latest("md_throughput_mps")
    coverage = await repository.latest("md_subscription_coverage_ratio")
    assert throughput is not None and throughput.value == 0
    assert coverage is not None and coverage.value == 0
    plant.execute("start", "connector", CommandParams())
    await _every(clock, sampler, 30)
    throughput = await repository.latest("md_throughput_mps")
    coverage = await repository.latest("md_subscription_coverage_ratio")
    assert throughput is not None and throughput.value > 4000
    assert coverage is not None and coverage.value > 0.99


async def test_failover_latency_and_exit_code_repeat_in_every_sample_and_survive_a_restart(
    plant: Plant, sampler: MetricsSampler, repository: MetricsRepository, clock: ManualClock
) -> None:
    latency = plant.feed.failover()
    await sampler.record_exit(3)
    await _every(clock, sampler, 15)
    stored = await repository.latest("md_failover_latency_ms")
    exit_code = await repository.latest("md_runbook_exit_code")
    assert stored is not None and stored.value == latency and stored.at == clock.timestamp()
    assert exit_code is not None and exit_code.value == 3 and exit_code.at == clock.timestamp()

    restarted = MetricsSampler(Plant(clock, seed=7).feed, repository, clock)  # a new process: a fresh plant
    await restarted.restore()
    clock.advance(INTERVAL)
    by_metric = {s.metric: s.value for s in await restarted.sample_once()}
    assert by_metric["md_failover_latency_ms"] == latency
    assert by_metric["md_runbook_exit_code"] == 3


# --- summary ---


async def test_summary_with_no_samples_has_null_values_and_notes(source: EmbeddedSource) -> None:
    summary = await source.summary()
    for value in summary.model_dump().values():
        assert value["value"] is None
        assert value["stale"] is True
        assert value["context"]["note"]
    assert summary.failover_latency_ms.context["note"] == "no failover recorded"
    assert summary.runbook_exit_code.context["note"] == "no runbook has run"


async def test_summary_is_fresh_within_two_intervals_and_stale_after(
    sampler: MetricsSampler, source: EmbeddedSource, clock: ManualClock
) -> None:
    await sampler.sample_once()
    await sampler.record_exit(0)
    clock.advance(2 * INTERVAL)
    summary = await source.summary()
    assert summary.coverage_ratio.stale is False
    assert summary.coverage_ratio.unit is None
    assert summary.coverage_ratio.context["expected_total"] == 1280
    assert summary.throughput_mps.unit == "msg/s"
    assert isinstance(summary.throughput_mps.value, int)
    assert summary.runbook_exit_code.value == 0 and summary.runbook_exit_code.stale is False
    assert summary.failover_latency_ms.value is None  # none yet

    clock.advance(1)
    summary = await source.summary()
    assert summary.coverage_ratio.stale is True
    assert "11 s old" in summary.coverage_ratio.context["note"]
    assert summary.coverage_ratio.value is not None  # stale, but still the newest value


async def test_summary_throughput_is_the_latest_with_the_minutes_maximum_beside_it(
    repository: MetricsRepository, source: EmbeddedSource, clock: ManualClock
) -> None:
    now = clock.timestamp()
    await repository.record(
        [
            Sample("md_throughput_mps", now - 90, 9000.0),  # older than the minute
            Sample("md_throughput_mps", now - 30, 5600.4),
            Sample("md_throughput_mps", now, 0.0),
        ]
    )
    throughput = (await source.summary()).throughput_mps
    assert throughput.value == 0
    assert throughput.context["max_over_time[1m]"] == 5600


# --- timeseries ---


async def test_timeseries_points_are_step_aligned_means(
    sampler: MetricsSampler, source: EmbeddedSource, clock: ManualClock
) -> None:
    await _every(clock, sampler, 600)
    window = plan_window(clock.timestamp(), minutes=10, step_seconds=60)
    series = await source.timeseries(BY_NAME["md_throughput_mps"], window)
    assert series.unit == "msg/s" and series.step_seconds == 60
    assert 10 <= len(series.points) <= 11
    for point in series.points:
        assert point["timestamp"].tzinfo is not None
        assert point["timestamp"].timestamp() % 60 == 0
        assert 4000 < point["value"] < 7000
    seconds = await source.timeseries(BY_NAME["md_throughput_mps"], plan_window(clock.timestamp(), 1, 7))
    assert all(p["timestamp"].timestamp() % 7 == 0 for p in seconds.points)


def test_a_window_of_more_than_eleven_thousand_points_gets_a_larger_step() -> None:
    now = datetime(2026, 1, 8, tzinfo=UTC).timestamp()
    window = plan_window(now, minutes=10080, step_seconds=1)
    assert window.step == 55
    assert window.points <= MAX_POINTS
    assert window.start % 55 == 0 and window.end % 55 == 0
    assert plan_window(now, minutes=60, step_seconds=60).step == 60


async def test_a_failed_sample_is_logged_and_the_next_one_taken(
    sampler: MetricsSampler, repository: MetricsRepository, caplog: pytest.LogCaptureFixture
) -> None:
    calls = 0
    record = repository.record

    async def flaky(samples: Sequence[Sample]) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise sqlite3.OperationalError("database is locked")
        await record(samples)

    repository.record = flaky  # type: ignore[method-assign]
    task = asyncio.create_task(sampler.run(0.01))
    for _ in range(300):
        await asyncio.sleep(0.01)
        if (await repository.counts())[0]:
            break
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert calls >= 2
    assert (await repository.counts())[0] > 0
    assert "metrics sample failed" in caplog.text


def test_the_prometheus_url_and_the_interval_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPS_PROMETHEUS_URL", "http://127.0.0.1:9090")
    monkeypatch.setenv("OPS_METRICS_SAMPLE_SECONDS", "2.5")
    settings = Settings()
    assert settings.prometheus_url == "http://127.0.0.1:9090"
    assert settings.metrics_sample_seconds == 2.5
    assert Settings.model_fields["metrics_sample_seconds"].default == 5
