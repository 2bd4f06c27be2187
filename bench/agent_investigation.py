"""Ops agent benchmarks: a quick investigation with the built-in reasoner, end to end through HTTP (p50 target
under 200 ms), and worklist page latency with 10,000 and 1,000,000 recommendations (target: no more than 1.5x).

    python bench/agent_investigation.py [--investigations 50] [--worklist-rows 10000 1000000] [--pages 200]

Starts the ops server on a loopback port (every stage of the request pipeline on) with a fresh data dir (the
plant's day of deposits backfilled). An investigation is timed from the POST /investigations/run until a GET of its
detail says it completed (polled every 2 ms). Worklist pages are timed in turn: walking from the start, from a
cursor in the middle of the list, and the first page of one severity."""

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from pydantic import SecretStr

from server.app import create_app
from server.embedded import free_port
from server.services.agent.cursors import CursorSigner
from server.settings import Settings
from server.storage.database import Database
from shared.agent import SEVERITY_RANK

TOKEN = "bench-admin"
BASE = "/api/v1/ops-agent"
SEVERITIES = list(SEVERITY_RANK)


AUDIT_KEY = "bench-audit-key"  # known here, so the bench can make a cursor into the middle of the list


def _settings(data_dir: Path, port: int) -> Settings:
    return Settings(
        data_dir=data_dir,
        port=port,
        api_token=SecretStr(TOKEN),
        audit_key=SecretStr(AUDIT_KEY),
        rate_limit_per_minute=1_000_000,
        plant_tick_seconds=3600,
    )


async def _serve(settings: Settings) -> web.AppRunner:
    runner = web.AppRunner(create_app(settings))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", settings.port).start()
    return runner


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def investigations(count: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        runner = await _serve(_settings(Path(tmp), port))
        url = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {TOKEN}"}
        try:
            async with aiohttp.ClientSession(url, headers=headers) as http:
                async with http.get(f"{BASE}/transactions", params={"limit": str(count)}) as response:
                    ids = [t["transaction_id"] for t in (await response.json())["items"]]
                took, engine = [], []
                for transaction_id in ids:
                    started = time.perf_counter()
                    body = {"mode": "quick", "transaction_id": transaction_id}
                    async with http.post(f"{BASE}/investigations/run", json=body) as response:
                        investigation_id = (await response.json())["investigation_id"]
                    while True:
                        async with http.get(f"{BASE}/investigations/{investigation_id}") as response:
                            detail: dict[str, Any] = await response.json()
                        if detail["status"] != "running":
                            break
                        await asyncio.sleep(0.002)
                    took.append((time.perf_counter() - started) * 1000)
                    engine.append(detail["duration_ms"])
                    assert detail["status"] == "completed", detail
        finally:
            await runner.cleanup()
    return {
        "p50_ms": statistics.median(took),
        "p90_ms": _pct(took, 0.9),
        "engine_p50_ms": statistics.median(engine),
    }


async def _seed_worklist(path: Path, rows: int) -> None:
    db = Database(path)
    await db.open()
    await db.migrate()
    batch = 50_000
    for start in range(0, rows, batch):
        values = []
        for n in range(start, min(rows, start + batch)):
            severity = SEVERITIES[n % 7 % 4]
            # Three recommendations per transaction, each a different action (one open per transaction and action).
            txn, action = f"txn-{n // 3:08d}", f"review-{n % 3}"
            values.append((f"rec-{n:08d}", f"inv-{n // 3:08d}", txn, severity, SEVERITY_RANK[severity], action))
        async with db.transaction() as conn:
            await conn.executemany(
                "INSERT INTO agent_recommendations (recommendation_id, investigation_id, transaction_id, severity, "
                "severity_rank, action, rationale, created_at) VALUES (?, ?, ?, ?, ?, ?, 'bench', "
                "'2026-01-01T09:00:00+00:00')",
                values,
            )
    await db.close()


async def worklist(rows: int, pages: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        await _seed_worklist(Path(tmp) / "ops.sqlite3", rows)
        port = free_port()
        runner = await _serve(_settings(Path(tmp), port))
        headers = {"Authorization": f"Bearer {TOKEN}"}
        try:
            async with aiohttp.ClientSession(f"http://127.0.0.1:{port}", headers=headers) as http:
                took: list[float] = []
                cursor = None
                middle = CursorSigner(AUDIT_KEY.encode(), purpose="worklist").encode(
                    {"rank": 2, "seq": rows // 2}, scope={"severity": None}
                )
                for n in range(pages):
                    kind = n % 3
                    params = {"limit": "50"}
                    if kind == 0 and cursor:
                        params["cursor"] = cursor
                    elif kind == 1:
                        params["cursor"] = middle
                    elif kind == 2:
                        params["severity"] = "high"
                    started = time.perf_counter()
                    async with http.get(f"{BASE}/worklist/recommendations", params=params) as response:
                        page = await response.json()
                    took.append((time.perf_counter() - started) * 1000)
                    assert response.status == 200 and len(page["items"]) == 50, page
                    if kind == 0:
                        cursor = page["next_cursor"]
        finally:
            await runner.cleanup()
    return {"p50_ms": statistics.median(took), "p90_ms": _pct(took, 0.9)}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--investigations", type=int, default=50)
    parser.add_argument("--worklist-rows", type=int, nargs="*", default=[10_000, 1_000_000])
    parser.add_argument("--pages", type=int, default=200)
    args = parser.parse_args()
    if args.investigations:
        figures = await investigations(args.investigations)
        print(
            f"quick investigation, built-in reasoner, {args.investigations} runs: p50 {figures['p50_ms']:.1f} ms, "
            f"p90 {figures['p90_ms']:.1f} ms end to end (engine alone p50 {figures['engine_p50_ms']:.1f} ms)"
        )
    results = {}
    for rows in args.worklist_rows:
        results[rows] = await worklist(rows, args.pages)
        print(f"worklist page (50 rows) with {rows:,} recommendations: p50 {results[rows]['p50_ms']:.2f} ms, "
              f"p90 {results[rows]['p90_ms']:.2f} ms")  # fmt: skip
    if len(results) >= 2:
        small, large = results[min(results)], results[max(results)]
        print(f"ratio of p50s, {max(results):,} to {min(results):,}: {large['p50_ms'] / small['p50_ms']:.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
