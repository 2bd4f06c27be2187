"""With a real Prometheus (Debian's `prometheus` package; skipped where it is not installed): `promtool check
metrics` reads the exposition, and a Prometheus on a loopback port scrapes the server's /api/v1/metrics while the
server reads its summary and timeseries back through OPS_PROMETHEUS_URL."""

import asyncio
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer
from ops_constants import ADMIN_TOKEN, MakeSettings

from server.app import create_app
from server.clock import SystemClock
from server.embedded import free_port
from server.http.metrics import METRICS
from server.keys import PLANT

SCRAPE_TOKEN = "scrape-secret"
# The contract names this metric; promtool's lint prefers base units (seconds) and says so, and only that.
CONTRACT_NAME_LINT = "md_failover_latency_ms metric names should not contain abbreviated units"

needs_promtool = pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
needs_prometheus = pytest.mark.skipif(shutil.which("prometheus") is None, reason="prometheus not installed")


async def _scrape(server: TestServer) -> str:
    async with ClientSession() as session:
        response = await session.get(server.make_url("/api/v1/metrics"), headers={"X-Metrics-Token": SCRAPE_TOKEN})
        assert response.status == 200
        return await response.text()


@needs_promtool
async def test_promtool_accepts_the_exposition(aiohttp_server: Any, make_settings: MakeSettings) -> None:
    server = await aiohttp_server(create_app(make_settings(metrics_token=SCRAPE_TOKEN)))
    server.app[PLANT].feed.failover()  # every metric present, the failover latency too
    await server.app[METRICS].record_runbook_exit("drill", 0)
    text = await _scrape(server)
    result = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    problems = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    # Exit 3 is promtool's "lint problems" (1 would be text it cannot parse): here only the contract's name.
    assert result.returncode in (0, 3), problems
    assert problems in ([], [CONTRACT_NAME_LINT]), problems


@pytest.fixture
async def header_proxy(aiohttp_server: Any) -> Any:
    """`await header_proxy(target)`: a loopback proxy adding X-Metrics-Token to each scrape. Prometheus 2.42 sends
    only an Authorization header of its own (`http_headers` came in 2.55)."""

    async def start(target: TestServer) -> TestServer:
        async def forward(request: web.Request) -> web.Response:
            async with ClientSession() as session:
                upstream = await session.get(target.make_url(request.path), headers={"X-Metrics-Token": SCRAPE_TOKEN})
                body = await upstream.read()
                return web.Response(body=body, status=upstream.status, content_type="text/plain")

        app = web.Application()
        app.router.add_get("/api/v1/metrics", forward)
        return await aiohttp_server(app)

    return start


@pytest.fixture
async def prometheus(tmp_path: Path) -> AsyncIterator[Any]:
    """`start(port, scrape_target_port)`: a Prometheus on loopback `port` scraping the target every second."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(port: int, target_port: int) -> None:
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n  - job_name: ops\n    metrics_path: /api/v1/metrics\n"
            f"    static_configs:\n      - targets: ['127.0.0.1:{target_port}']\n"
        )
        log = (tmp_path / "prometheus.log").open("wb")
        processes.append(
            subprocess.Popen(
                [
                    "prometheus",
                    f"--config.file={config}",
                    f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )

    yield start
    for process in processes:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def _until_scraped(url: str, metric: str, *, timeout: float = 60) -> None:
    """Wait until Prometheus holds two samples of `metric` (a freshness needs the interval between two)."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=url, timeout=2) as http:
        while time.monotonic() < deadline:
            try:
                answer = (await http.get("/api/v1/query", params={"query": f"count_over_time({metric}[1m])"})).json()
                result = answer["data"]["result"]
                if result and float(result[0]["value"][1]) >= 2:
                    return
            except (httpx.TransportError, ValueError, KeyError):
                pass  # still starting
            await asyncio.sleep(0.5)
    raise AssertionError(f"Prometheus at {url} did not scrape {metric} within {timeout} s")


@needs_prometheus
async def test_summary_and_timeseries_read_back_from_a_real_prometheus(
    aiohttp_server: Any, make_settings: MakeSettings, header_proxy: Any, prometheus: Any
) -> None:
    # One server both scraped and reading: its exposition is what the Prometheus it reads from has stored.
    prometheus_port = free_port()
    url = f"http://127.0.0.1:{prometheus_port}"
    settings = make_settings(metrics_token=SCRAPE_TOKEN, metrics_sample_seconds=1, prometheus_url=url)
    server = await aiohttp_server(create_app(settings, clock=SystemClock()))
    proxy = await header_proxy(server)
    prometheus(prometheus_port, proxy.port)
    await _until_scraped(url, "md_throughput_mps")

    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with ClientSession() as session:
        summary = await (await session.get(server.make_url("/api/ops/metrics/summary"), headers=headers)).json()
        query = {"metric": "md_throughput_mps", "minutes": "1", "step_seconds": "1"}
        series = await (
            await session.get(server.make_url("/api/ops/metrics/timeseries"), headers=headers, params=query)
        ).json()
    throughput = summary["throughput_mps"]
    assert throughput["stale"] is False and throughput["value"] > 1000, summary
    coverage = summary["coverage_ratio"]
    assert coverage["value"] > 0.9 and coverage["context"]["expected_total"] == 1280, summary
    assert summary["runbook_exit_code"]["value"] is None  # not exported until a runbook ran
    assert series["step_seconds"] == 1 and series["stale"] is False, series
    assert series["points"] and all(p["value"] > 1000 for p in series["points"]), series
