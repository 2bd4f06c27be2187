"""What the crash tests share: `ops-server serve` as a process of its own group (its audit writer process dies with
it when the group is killed), waiting until it answers, killing it with SIGKILL or stopping it, and its output."""

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import httpx

READY_PATH = "/api/v1/health/live"


def serve(data_dir: Path, port: int, token: str, env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
    """`ops-server serve` on `port` with its data in `data_dir`, `token` the admin token, `env` more OPS_* settings.
    Its output goes to `data_dir/server-<port>-<n>.log` so a failing test can show it."""
    logs = sorted(data_dir.glob(f"server-{port}-*.log"))
    log = (data_dir / f"server-{port}-{len(logs)}.log").open("wb")
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve", "--port", str(port), "--data-dir", str(data_dir)],
            env={**os.environ, "OPS_API_TOKEN": token, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: the audit writer process dies with it
        )
    finally:
        log.close()


async def until_serving(http: httpx.AsyncClient, server: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            response = await http.get(READY_PATH)
            if response.status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert server.poll() is None, f"the server exited with {server.returncode}"
        assert asyncio.get_running_loop().time() < deadline, "the server did not start"
        await asyncio.sleep(0.05)


def kill(server: subprocess.Popen[bytes]) -> None:
    """SIGKILL to the server's whole process group: no clean-up of any kind runs."""
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGKILL)
    server.wait(timeout=10)


def stop(server: subprocess.Popen[bytes]) -> int:
    """SIGTERM, as an operator stops it; SIGKILL if it does not end in 20 s. Its exit code."""
    if server.poll() is None:
        server.terminate()
        try:
            return server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            kill(server)
    return server.wait(timeout=10)


def server_logs(data_dir: Path) -> str:
    """The servers' output, the end of each log."""
    return "\n".join(
        f"--- {p.name}\n{p.read_text(errors='replace')[-4000:]}" for p in sorted(data_dir.glob("server-*.log"))
    )
