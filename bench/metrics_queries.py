"""Metrics queries over a week of samples: the 7-day timeseries and the summary, p50/p99 through HTTP.

    python bench/metrics_queries.py [--requests 200]

Seeds a data dir with a week of the embedded source's samples at the default interval (5 s, five metrics), as
the sampler leaves it (raw samples for the last day, one-minute rollups for the week), starts the ops server on a
loopback port in its own process (`ops-server serve`: every stage of the request pipeline on) and times sequential
authenticated requests.

Then, in this process, the 7-day step-60 answer built both ways, taking turns so the machine's load weighs on both
alike: through the TimeseriesResponse model (the route before SQLite encoded the points) and as the route builds
it now (EmbeddedSource.timeseries_json)."""

import argparse
import asyncio
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from server.clock import SystemClock
from server.embedded import free_port
from server.services.metrics.definitions import THROUGHPUT
from server.services.metrics.embedded import EmbeddedSource
from server.services.metrics.sampler import DAY
from server.services.metrics.source import plan_window
from server.storage.database import Database
from server.storage.metrics import MetricsRepository, Sample

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-admin"
INTERVAL = 5
WEEK = 7 * DAY


async def seed(data_dir: Path, now: float) -> tuple[int, int, float]:
    """A week of samples ending now; returns the raw and rollup row counts and the seconds it took."""
    started = time.perf_counter()
    db = Database(data_dir / "ops.sqlite3")
    await db.open()
    await db.migrate()
    repository = MetricsRepository(db)
    rng = random.Random(1)
    start = math.floor((now - WEEK) / INTERVAL) * INTERVAL
    hour = 3600
    for batch_start in range(int(start), int(now), hour):
        samples = []
        for t in range(batch_start, min(batch_start + hour, int(now)), INTERVAL):
            throughput = 5400 * rng.gauss(1, 0.03)
            samples += [
                Sample(
                    "md_subscription_coverage_ratio",
                    t,
                    0.998,
                    {"expected_total": 1280, "active_total": 1279, "matched_total": 1276, "ignored_total": 2},
                ),
                Sample("md_throughput_mps", t, throughput),
                Sample("consumer_backlog_messages", t, throughput * 0.005),
                Sample("md_failover_latency_ms", t, 1800.0),
                Sample("md_runbook_exit_code", t, 0.0),
            ]
        await repository.record(samples)
        # As the sampler prunes while it runs: the pages freed are reused, and the file stays the size of a day.
        until = min(batch_start + hour, now)
        await repository.prune(raw_before=until - DAY, rollups_before=until - 8 * DAY)
    await repository.prune(raw_before=now - DAY, rollups_before=now - 8 * DAY)
    raw, rollups = await repository.counts()
    await db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    await db.close()
    return raw, rollups, time.perf_counter() - started


async def timed(session: aiohttp.ClientSession, url: str, n: int, params: dict[str, str] | None = None) -> list[float]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    for _ in range(5):  # warm up
        async with session.get(url, headers=headers, params=params) as response:
            await response.read()
    times = []
    for _ in range(n):
        begin = time.perf_counter()
        async with session.get(url, headers=headers, params=params) as response:
            body = await response.read()
            assert response.status == 200, body[:200]
        times.append((time.perf_counter() - begin) * 1000)
    return times


def percentiles(times: list[float]) -> tuple[float, float]:
    times = sorted(times)
    return statistics.median(times), times[min(len(times) - 1, math.ceil(0.99 * len(times)) - 1)]


def report(name: str, times: list[float], extra: str = "") -> None:
    p50, p99 = percentiles(times)
    print(f"{name:<44} p50 {p50:6.1f} ms   p99 {p99:6.1f} ms   {extra}")


async def compare_encodings(data_dir: Path, n: int) -> None:
    """The week at step 60 through the model (before) and encoded by SQLite (now), in turns, in this process."""
    db = Database(data_dir / "ops.sqlite3")
    await db.open()
    source = EmbeddedSource(MetricsRepository(db), SystemClock(), sample_seconds=INTERVAL, raw_seconds=DAY)
    times: dict[str, list[float]] = {"model": [], "sqlite": []}
    try:
        for _ in range(n):
            window = plan_window(time.time(), 10080, 60)
            begin = time.perf_counter()
            before = (await source.timeseries(THROUGHPUT, window)).model_dump_json().encode()
            middle = time.perf_counter()
            after = await source.timeseries_json(THROUGHPUT, window)
            times["model"].append((middle - begin) * 1000)
            times["sqlite"].append((time.perf_counter() - middle) * 1000)
            assert before == after  # the same answer, however built
    finally:
        await db.close()
    (b50, b99), (a50, a99) = percentiles(times["model"]), percentiles(times["sqlite"])
    print(f"7-day step-60 answer, in process, {n} turns:    before (model)      now (SQLite-encoded)")
    print(f"{'':<44} p50 {b50:6.1f} ms          {a50:6.1f} ms")
    print(f"{'':<44} p99 {b99:6.1f} ms          {a99:6.1f} ms")


async def main(requests: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        now = time.time()
        raw, rollups, seconds = await seed(data_dir, now)
        size = sum(p.stat().st_size for p in data_dir.glob("ops.sqlite3*")) / 1e6
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        print(f"seeded a week at {INTERVAL} s: {raw} raw samples, {rollups} rollups, {size:.1f} MB, {seconds:.1f} s")

        # The server in its own process, started as an operator starts it, so the client's work (reading half a
        # megabyte of JSON per week-long series) does not share its interpreter.
        port = free_port()
        env = {**os.environ, "OPS_API_TOKEN": TOKEN, "OPS_RATE_LIMIT_PER_MINUTE": str(10**9)}
        server = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve", "--port", str(port), "--data-dir", str(data_dir)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            async with aiohttp.ClientSession() as session:
                await until_up(session, base)
                summary_url = f"{base}/api/ops/metrics/summary"
                report("GET /api/ops/metrics/summary", await timed(session, summary_url, requests))
                for minutes, step in ((10080, 60), (10080, 600), (10080, 3600), (1440, 5)):
                    params = {"metric": "md_throughput_mps", "minutes": str(minutes), "step_seconds": str(step)}
                    url = f"{base}/api/ops/metrics/timeseries"
                    async with session.get(url, params=params, headers={"Authorization": f"Bearer {TOKEN}"}) as r:
                        points = len((await r.json())["points"])
                    times = await timed(session, url, requests, params)
                    report(f"GET timeseries {minutes} min, step {step} s", times, f"{points} points")
        finally:
            server.terminate()
            server.wait(30)
        await compare_encodings(data_dir, requests)
        print(f"load average after: {os.getloadavg()[0]:.1f}")


async def until_up(session: aiohttp.ClientSession, base: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            async with session.get(f"{base}/ops/whoami", headers={"Authorization": f"Bearer {TOKEN}"}) as response:
                if response.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError(f"the server at {base} did not start within {timeout} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    asyncio.run(main(parser.parse_args().requests))
