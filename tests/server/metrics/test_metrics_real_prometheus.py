"""With a real Prometheus (Debian's `prometheus` package; skipped where it is not installed): `promtool check
metrics` reads the exposition, and a Prometheus on a loopback port scrapes the server's /api/v1/metrics (with the
metrics token as its `authorization:` credentials, the one header Prometheus 2.42 sends) while the server reads its
summary and timeseries back through OPS_PROMETHEUS_URL."""

import asyncio
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from ops_constants import ADMIN_TOKEN, MakeSettings

from server.app import create_app
from server.clock import SystemClock
from server.embedded import free_port
from server.http.metrics import METRICS
from server.keys import PLANT

SCRAPE_TOKEN = "scrape-secret"
# The contract names this metric; promtool's lint prefers base units (seconds) and says so. It is the one problem
# the exposition may have.
CONTRACT_NAME_LINT = "md_failover_latency_ms metric names should not contain abbreviated units"
PROMTOOL_LINT_PROBLEMS = 3  # promtool's exit status for lint problems (1: text it cannot parse)

needs_promtool = pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
needs_prometheus = pytest.mark.skipif(shutil.which("prometheus") is None, reason="prometheus not installed")


async def _scrape(server: TestServer) -> str:
    async with ClientSession() as session:
        response = await session.get(server.make_url("/api/v1/metrics"), headers={"X-Metrics-Token": SCRAPE_TOKEN})
        assert response.status == 200
        return await response.text()


def _promtool_problems(text: str) -> tuple[int, list[str]]:
    """promtool's exit status and the problems it reports in the exposition `text`."""
    result = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    return result.returncode, [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]


@needs_promtool
async def test_promtool_finds_nothing_but_the_contracts_metric_name(
    aiohttp_server: Any, make_settings: MakeSettings
) -> None:
    server = await aiohttp_server(create_app(make_settings(metrics_token=SCRAPE_TOKEN)))
    server.app[PLANT].feed.failover()  # every metric present, the failover latency too
    await server.app[METRICS].record_runbook_exit("drill", 0)
    async with ClientSession() as session:  # requests of several routes and statuses, so they are linted too
        await session.get(server.make_url("/api/v1/health"))
        await session.get(server.make_url("/no/such/path"))
    text = await _scrape(server)
    assert "ops_http_request_duration_seconds_bucket" in text and "md_failover_latency_ms" in text
    assert _promtool_problems(text) == (PROMTOOL_LINT_PROBLEMS, [CONTRACT_NAME_LINT])


@needs_promtool
def test_the_promtool_check_sees_any_other_problem() -> None:
    # What the check above relies on: one more problem (a counter without `_total`) is reported beside the name.
    text = (
        "# HELP md_failover_latency_ms Latency.\n# TYPE md_failover_latency_ms gauge\nmd_failover_latency_ms 1800\n"
        "# HELP ops_scrapes Scrapes.\n# TYPE ops_scrapes counter\nops_scrapes 1\n"
    )
    status, problems = _promtool_problems(text)
    assert status == PROMTOOL_LINT_PROBLEMS
    assert CONTRACT_NAME_LINT in problems and len(problems) == 2, problems


@pytest.fixture
async def prometheus(tmp_path: Path) -> AsyncIterator[Any]:
    """`start(port, scrape_target_port)`: a Prometheus on loopback `port` scraping the target every second."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(port: int, target_port: int) -> None:
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n  - job_name: ops\n    metrics_path: /api/v1/metrics\n"
            f"    authorization:\n      credentials: {SCRAPE_TOKEN}\n"
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
    aiohttp_server: Any, make_settings: MakeSettings, prometheus: Any
) -> None:
    # One server both scraped and reading: its exposition is what the Prometheus it reads from has stored.
    prometheus_port = free_port()
    url = f"http://127.0.0.1:{prometheus_port}"
    settings = make_settings(metrics_token=SCRAPE_TOKEN, metrics_sample_seconds=1, prometheus_url=url)
    server = await aiohttp_server(create_app(settings, clock=SystemClock()))
    prometheus(prometheus_port, server.port)
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
