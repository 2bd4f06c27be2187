"""A real `ops-server serve` killed with SIGKILL in the middle of an investigation (held at its reasoning call by a
fake OpenAI-compatible endpoint that does not answer): the next process finds the investigation `interrupted`, and
resume completes it without calling any finished tool again."""

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web

from server.embedded import free_port

TOKEN = "sigkill-test-token"
BASE = "/api/v1/ops-agent"
ANSWER = {"model": "fake", "choices": [{"message": {"content": "done"}}], "usage": {}}


def _serve(data_dir: Path, port: int, llm_url: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "OPS_API_TOKEN": TOKEN, "OPS_LLM_URL": llm_url, "OPS_LLM_TIMEOUT_SECONDS": "60"}
    return subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve", "--port", str(port), "--data-dir", str(data_dir)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own group: the audit writer process dies with it
    )


async def _until_serving(http: httpx.AsyncClient, server: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        try:
            await http.get("/api/v1/health/live")
            return
        except httpx.TransportError:
            assert server.poll() is None, "the server exited"
            await asyncio.sleep(0.1)
    raise AssertionError("the server did not start")


async def test_sigkill_mid_run_then_resume_repeats_no_tool(tmp_path: Path, aiohttp_server: Any) -> None:
    calls: list[int] = []
    hold = asyncio.Event()

    async def completions(request: web.Request) -> web.Response:
        calls.append(1)
        if not hold.is_set():
            await asyncio.sleep(60)  # the first process is killed while waiting here
        return web.json_response(ANSWER)

    fake = web.Application()
    fake.router.add_post("/v1/chat/completions", completions)
    llm = await aiohttp_server(fake)
    port = free_port()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=10) as http:
        first = _serve(tmp_path, port, str(llm.make_url("/v1")))
        try:
            await _until_serving(http, first)
            txn = (await http.post(f"{BASE}/transactions", json=_deposit())).json()
            started = await http.post(f"{BASE}/investigations/run", json={"transaction_id": txn["transaction_id"]})
            investigation_id = started.json()["investigation_id"]
            while not calls:  # every tool has answered; the reasoning call is under way
                await asyncio.sleep(0.05)
            before = (await http.get(f"{BASE}/investigations/{investigation_id}")).json()
        finally:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(timeout=10)

        hold.set()
        second = _serve(tmp_path, port, str(llm.make_url("/v1")))
        try:
            await _until_serving(http, second)
            after_restart = (await http.get(f"{BASE}/investigations/{investigation_id}")).json()
            resumed = await http.post(f"{BASE}/investigations/{investigation_id}/resume")
            for _ in range(200):
                done = (await http.get(f"{BASE}/investigations/{investigation_id}")).json()
                if done["status"] != "running":
                    break
                await asyncio.sleep(0.05)
        finally:
            second.terminate()
            second.wait(timeout=20)

    assert before["status"] == "running"
    assert after_restart["status"] == "interrupted" and resumed.status_code == 202
    assert done["status"] == "completed" and done["resumed_count"] == 1
    tools = Counter(s["name"] for s in done["steps"] if s["kind"] == "tool")
    tools_before = [s["name"] for s in before["steps"] if s["kind"] == "tool"]
    assert tools_before and set(tools) == set(tools_before) and set(tools.values()) == {1}
    assert before["steps"] == done["steps"][: len(before["steps"])]  # the checkpointed steps, as they were


def _deposit() -> dict[str, str]:
    return {
        "amount": "99.00",
        "currency": "GBP",
        "merchant": "venue-web",
        "channel": "card_web",
        "customer_id": "cust-k",
        "device_id": "dev-k",
        "ip_country": "GB",
        "card_country": "GB",
    }
