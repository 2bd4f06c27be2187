"""GET /inspector/traces over 10,000 and 1,000,000 stored traces: p50/p99 of a list page (its `total` included) for
each filter alone and combined, side by side, through HTTP with every stage of the request pipeline on (auth, rate
limit, the audit of reads).

    python bench/inspector_traces.py [--sizes 10000,1000000] [--requests 40] [--data-dir DIR]

For each size: start the ops server on a fresh data dir and ask one question of each intent, for real traces to
copy; stop it; bulk-insert that many copies straight into SQLite (not through the pipeline: a million asks would
take hours), each with its own id, time (spread over 90 days, in order), question and a mix of statuses, through
the same triggers as a real save (search index, per-day counts); start the server again on that data and time
list pages at random offsets among the first ten pages. A total ending in "+" is a text search's capped count
(`total_capped`: a lower bound). With --data-dir the filled databases are kept there and reused by the next run."""

import argparse
import asyncio
import json
import math
import os
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from pydantic import SecretStr

from server.app import create_app
from server.embedded import free_port
from server.settings import Settings
from server.storage.traces import order_key, stored_time

TOKEN = "bench-admin"
QUESTIONS = (
    "which prod databases are down?",
    "서버 상태를 확인해주세요",
    "what depends on the connector?",
    "show throughput for the last hour",
    "최근 감사 로그 보여줘",
    "런북 실행 이력",
    "what is failing?",
    "help",
    "delete all the prod servers",
)
WEIGHTS = (30, 20, 10, 12, 8, 5, 6, 3, 6)  # how often each is asked
START = datetime(2026, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=90)
MID = START + SPAN / 2
CHUNK = 50_000


def scenarios(size: int) -> list[tuple[str, dict[str, str]]]:
    day = (MID + timedelta(hours=10, minutes=30)).isoformat()
    month_from, month_to = (
        (MID - timedelta(days=15, hours=5)).isoformat(),
        (MID + timedelta(days=15, hours=7)).isoformat(),
    )
    return [
        ("no filter", {}),
        ("feature (45%)", {"feature": "ci_lookup"}),
        ("status=error (rare)", {"status": "error"}),
        ("route=reject", {"route": "reject"}),
        ("from/to: 1 day", {"from": day, "to": (MID + timedelta(days=1, hours=10, minutes=30)).isoformat()}),
        ("from/to: 30 days", {"from": month_from, "to": month_to}),
        ("feature+status (0.3%)", {"feature": "runbook_history", "status": "partial"}),
        ("status+route", {"status": "success", "route": "direct"}),
        ("feature+status+route+30d", {"feature": "ci_lookup", "status": "success", "route": "orch",
                                      "from": month_from, "to": month_to}),
        ("q: one CI (selective)", {"q": "db-prod-0042"}),
        ("q: 'databases' (30%)", {"q": "databases"}),
        ("q+feature+30 days", {"q": "db-prod-0042", "feature": "ci_lookup", "from": month_from, "to": month_to}),
        ("q: 2 chars (row scan)", {"q": "서버"}),
        ("deep page: offset size/10", {"offset": str(size // 10)}),
    ]  # fmt: skip


def settings_for(data_dir: Path, port: int) -> Settings:
    return Settings(data_dir=data_dir, api_token=SecretStr(TOKEN), port=port, rate_limit_per_minute=10_000_000)


async def serve(data_dir: Path) -> tuple[web.AppRunner, str]:
    port = free_port()
    runner = web.AppRunner(create_app(settings_for(data_dir, port)), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}"


async def templates(data_dir: Path) -> list[dict[str, Any]]:
    """One real trace of each question, asked through the server."""
    runner, base = await serve(data_dir)
    try:
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as session:
            traces = []
            for question in QUESTIONS:
                async with session.post(f"{base}/ops/ci/ask", json={"question": question}) as response:
                    traces.append((await response.json())["data"]["trace"])
            return traces
    finally:
        await runner.cleanup()


def rows(size: int, traces: list[dict[str, Any]]) -> Iterator[tuple[Any, ...]]:
    chosen = random.Random(14)
    step = SPAN / size
    bodies = [json.dumps(t, ensure_ascii=False) for t in traces]
    for i in range(size):
        k = chosen.choices(range(len(traces)), WEIGHTS)[0]
        trace = traces[k]
        status = trace["status"]
        if trace["route"] == "orch":
            roll = chosen.random()
            status = "error" if roll < 0.03 else "partial" if roll < 0.10 else status
        trace_id = f"tr_{i:032x}"
        question = f"{trace['question']} db-prod-{chosen.randrange(5000):04d}"
        steps = trace["plan_output"].get("plan", {}).get("steps", [])
        applied = json.dumps(sorted(f"{kind}:{ref}" for kind, ref in trace["applied_assets"].items()))
        yield (
            order_key(START + step * i),  # what TraceRepository.save gives a trace alone in its microsecond
            trace_id,
            stored_time(START + step * i),
            question,
            trace["feature"],
            status,
            trace["route"],
            chosen.randrange(5, 400),
            0,
            applied,
            " ".join(s["tool"] for s in steps),
            bodies[k].replace(trace["trace_id"], trace_id),
        )


def fill(database: Path, size: int, traces: list[dict[str, Any]]) -> float:
    """Bulk-insert `size` traces, in chunks of one transaction each; returns the seconds it took."""
    started = time.perf_counter()
    with sqlite3.connect(database, isolation_level=None) as conn:
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-262144")
        generated = rows(size, traces)
        done = 0
        while done < size:
            chunk = [row for _, row in zip(range(CHUNK), generated, strict=False)]
            conn.execute("BEGIN")
            conn.executemany(
                "INSERT INTO orch_traces (seq, trace_id, created_at, question, feature, status, route, duration_ms, "
                "test_mode, applied_assets, tools, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                chunk,
            )
            conn.execute("COMMIT")
            done += len(chunk)
            print(f"  {done:>9,} traces in {time.perf_counter() - started:6.1f} s", end="\r", flush=True)
    print()
    return time.perf_counter() - started


async def prepare(data_dir: Path, size: int) -> None:
    database = settings_for(data_dir, 0).database_path
    marker = data_dir / f"filled-{size}"
    if marker.exists():
        print(f"{size:,} traces: reusing {database}")
        return
    traces = await templates(data_dir)
    seconds = fill(database, size, traces)
    marker.touch()
    print(f"{size:,} traces: filled in {seconds:.0f} s, {database.stat().st_size / 1e9:.2f} GB")


def percentile(times: list[float], fraction: float) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1)]


async def measure(data_dir: Path, size: int, requests: int) -> dict[str, tuple[str, float, float]]:
    runner, base = await serve(data_dir)
    found: dict[str, tuple[str, float, float]] = {}
    pick = random.Random(7)
    try:
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as session:
            for name, params in scenarios(size):
                times, total = [], ""
                for attempt in range(requests + 3):  # three to warm up
                    query = dict(params)
                    query.setdefault("offset", str(20 * pick.randrange(10)))
                    begin = time.perf_counter()
                    async with session.get(f"{base}/inspector/traces", params=query) as response:
                        body = await response.json()
                        assert response.status == 200, body
                    if attempt >= 3:
                        times.append((time.perf_counter() - begin) * 1000)
                    total = f"{body['data']['total']:,}" + ("+" if body["data"].get("total_capped") else "")
                found[name] = (total, statistics.median(times), percentile(times, 0.99))
    finally:
        await runner.cleanup()
    return found


async def main(sizes: list[int], requests: int, keep: Path | None) -> None:
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    results: dict[int, dict[str, tuple[str, float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            data_dir = (keep or Path(tmp)) / f"traces-{size}"
            data_dir.mkdir(parents=True, exist_ok=True)
            await prepare(data_dir, size)
            results[size] = await measure(data_dir, size, requests)
    header = f"{'list page (' + str(requests) + ' requests)':<28}"
    for size in sizes:
        header += f" | {size:>9,}: {'total':>9} {'p50 ms':>7} {'p99 ms':>7}"
    print(header)
    for name, _ in scenarios(sizes[-1]):
        line = f"{name:<28}"
        for size in sizes:
            total, p50, p99 = results[size][name]
            line += f" | {'':>10} {total:>9} {p50:>7.1f} {p99:>7.1f}"
        print(line)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,1000000", help="comma-separated trace counts")
    parser.add_argument("--requests", type=int, default=40, help="timed requests per filter and size")
    parser.add_argument("--data-dir", type=Path, help="keep the filled databases here and reuse them")
    args = parser.parse_args()
    asyncio.run(main([int(s) for s in args.sizes.split(",")], args.requests, args.data_dir))
