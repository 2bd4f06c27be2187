"""The embedded source's encoded timeseries (what the route sends): in whole minutes SQLite encodes the points,
and the answer is byte for byte what the TimeseriesResponse model writes; a week's chart costs Python no object
per point."""

import random
import tracemalloc

import pytest

from server.clock import ManualClock
from server.services.metrics.definitions import BY_NAME, MetricDefinition
from server.services.metrics.embedded import EmbeddedSource
from server.services.metrics.sampler import DAY
from server.services.metrics.source import Window, plan_window
from server.storage.database import Database
from server.storage.metrics import MetricsRepository, Sample

WEEK_MINUTES = 7 * 24 * 60


@pytest.fixture
def source(db: Database, clock: ManualClock) -> EmbeddedSource:
    return EmbeddedSource(MetricsRepository(db), clock, sample_seconds=5, raw_seconds=DAY)


async def _model_bytes(source: EmbeddedSource, metric: MetricDefinition, window: Window) -> bytes:
    return (await source.timeseries(metric, window)).model_dump_json().encode()


async def test_minute_steps_encode_as_the_model_does_byte_for_byte(
    db: Database, source: EmbeddedSource, clock: ManualClock
) -> None:
    rng = random.Random(3)
    now = clock.timestamp()
    samples = []
    for t in range(int(now) - 3 * 3600, int(now), 5):
        if 4000 < t % 7200 < 4600:
            continue  # ten minutes without samples: a gap in every series
        samples += [
            Sample("md_throughput_mps", t, rng.uniform(0, 9000)),
            Sample("md_subscription_coverage_ratio", t, rng.random()),
            # Whole numbers whose means end in .5: where rounding rules part (half to even would give 2, not 3).
            Sample("consumer_backlog_messages", t, float(rng.choice((2, 3)))),
            Sample("md_runbook_exit_code", t, float(rng.choice((-9, 0, 1)))),
        ]
    samples += [Sample("consumer_backlog_messages", 600, 2.0), Sample("consumer_backlog_messages", 605, 3.0)]
    # Whole ratios, which JSON must still write as floats (1.0, 0.0), as the model does.
    samples += [
        Sample("md_subscription_coverage_ratio", 1200, 1.0),
        Sample("md_subscription_coverage_ratio", 1260, 0.0),
    ]
    await MetricsRepository(db).record(samples)

    compared = 0
    names = ("md_throughput_mps", "md_subscription_coverage_ratio", "consumer_backlog_messages", "md_runbook_exit_code")
    for name in (*names, "md_failover_latency_ms"):  # the last has no samples: no points
        metric = BY_NAME[name]
        for minutes, step in ((180, 60), (180, 120), (240, 300), (WEEK_MINUTES, 3600), (60, 60)):
            window = plan_window(now, minutes, step)
            encoded = await source.timeseries_json(metric, window)
            assert encoded == await _model_bytes(source, metric, window), (name, step)
            compared += encoded.count(b'"timestamp"')
    assert compared > 1000

    first_hour = Window(0, 3600, 60)
    # The minute of 2.0 and 3.0, mean 2.5: shown as 3 by both.
    assert b'"value":3}' in await source.timeseries_json(BY_NAME["consumer_backlog_messages"], first_hour)
    coverage = BY_NAME["md_subscription_coverage_ratio"]
    encoded = await source.timeseries_json(coverage, first_hour)
    assert b'"value":1.0}' in encoded and b'"value":0.0}' in encoded
    assert encoded == await _model_bytes(source, coverage, first_hour)


async def test_steps_of_seconds_go_through_the_model(db: Database, source: EmbeddedSource, clock: ManualClock) -> None:
    now = clock.timestamp()
    await MetricsRepository(db).record([Sample("md_throughput_mps", now - 20 + i, 5000.0 + i) for i in range(20)])
    window = plan_window(now, 1, 7)
    metric = BY_NAME["md_throughput_mps"]
    assert await source.timeseries_json(metric, window) == await _model_bytes(source, metric, window)


async def test_a_week_at_one_minute_costs_python_no_object_per_point(
    db: Database, source: EmbeddedSource, clock: ManualClock
) -> None:
    now = int(clock.timestamp())
    first = now // 60 * 60 - WEEK_MINUTES * 60
    rows = [("md_throughput_mps", minute, 12, 12 * 5400.0, 5300.0, 5500.0) for minute in range(first, now + 1, 60)]
    await db.conn.executemany(
        "INSERT INTO metric_rollups (metric, minute, count, total, min, max) VALUES (?, ?, ?, ?, ?, ?)", rows
    )
    metric = BY_NAME["md_throughput_mps"]
    window = plan_window(now, WEEK_MINUTES, 60)

    tracemalloc.start()
    try:
        encoded = await source.timeseries_json(metric, window)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    points = encoded.count(b'"timestamp"')
    assert points == 10_081
    # The answer's text is about 50 bytes a point, held at most three times over (SQLite's string, the spliced
    # string, its bytes). Built in Python a point was a row, a dict, a datetime and a validated dict again.
    assert peak / points < 200, f"{peak / points:.0f} bytes a point"
    assert encoded == await _model_bytes(source, metric, window)
