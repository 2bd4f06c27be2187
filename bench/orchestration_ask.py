"""POST /ops/ci/ask with the built-in keyword router over a 10,000-CI CMDB: p50/p99 per intent and overall, through
HTTP with every stage of the request pipeline on (auth, rate limit, audit), each ask's trace stored in SQLite.

    python bench/orchestration_ask.py [--requests 100] [--cis 10000]

Starts the ops server on a loopback port with a fresh data dir (the CMDB generated at first start) and times
sequential authenticated asks, the questions of each intent in turn."""

import argparse
import asyncio
import math
import os
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web
from pydantic import SecretStr

from server.app import create_app
from server.embedded import free_port
from server.settings import Settings

TOKEN = "bench-admin"
QUESTIONS = {
    "ci_lookup (en)": "which prod databases are down?",
    "ci_lookup (ko)": "서버 상태를 확인해주세요",
    "ci_relations": "what depends on the connector?",
    "metric_query": "show throughput for the last hour",
    "audit_search": "최근 감사 로그 보여줘",
    "runbook_history": "런북 실행 이력",
    "failing_components": "what is failing?",
    "reject": "delete all the prod servers",
}


def report(name: str, times: list[float]) -> None:
    times = sorted(times)
    p50 = statistics.median(times)
    p99 = times[min(len(times) - 1, math.ceil(0.99 * len(times)) - 1)]
    print(f"{name:<22} p50 {p50:6.1f} ms   p99 {p99:6.1f} ms   ({len(times)} asks)")


async def main(requests: int, cis: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        settings = Settings(
            data_dir=Path(tmp),
            api_token=SecretStr(TOKEN),
            port=port,
            rate_limit_per_minute=1_000_000,
            orchestration_cmdb_size=cis,
        )
        app = create_app(settings)
        runner = web.AppRunner(app, access_log=None)
        started = time.perf_counter()
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        print(f"started with a {cis}-CI CMDB generated at first start in {time.perf_counter() - started:.1f} s")
        url = f"http://127.0.0.1:{port}/ops/ci/ask"
        headers = {"Authorization": f"Bearer {TOKEN}"}
        every: list[float] = []
        try:
            async with aiohttp.ClientSession() as session:
                for name, question in QUESTIONS.items():
                    for _ in range(3):  # warm up
                        async with session.post(url, json={"question": question}, headers=headers) as response:
                            await response.read()
                    times = []
                    for _ in range(requests):
                        begin = time.perf_counter()
                        async with session.post(url, json={"question": question}, headers=headers) as response:
                            body = await response.read()
                            assert response.status == 200, body[:200]
                        times.append((time.perf_counter() - begin) * 1000)
                    report(name, times)
                    every += times
            report("all", every)
        finally:
            await runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--cis", type=int, default=10_000)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.requests, arguments.cis))
