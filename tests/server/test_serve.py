"""`ops-server serve` as an operator runs it: a real process on a real port, stopped with Ctrl-C."""

import gc
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from server.embedded import free_port
from server.startup_heap import freeze_startup_heap

TOKEN = "serve-test-token"


def _get(url: str, token: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _wait_until_serving(url: str, server: subprocess.Popen[str], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            _get(url)
            return
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _serve(tmp_path, port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve", "--port", str(port), "--data-dir", str(tmp_path)],
        env={**os.environ, "OPS_API_TOKEN": TOKEN},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a shell gives a foreground job
    )


def _verified_entries(tmp_path) -> int:
    verify = subprocess.run(
        [sys.executable, "-m", "server.cli", "audit", "verify", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    return int(re.search(r"holds: (\d+) entries", verify.stdout).group(1))  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "interrupt",
    [
        pytest.param(lambda server: server.send_signal(signal.SIGINT), id="SIGINT to the server"),
        # A Ctrl-C in a terminal reaches the whole foreground group: the audit writer process too.
        pytest.param(lambda server: os.killpg(server.pid, signal.SIGINT), id="Ctrl-C to its process group"),
        pytest.param(lambda server: os.killpg(server.pid, signal.SIGTERM), id="SIGTERM to its process group"),
    ],
)
def test_serve_answers_on_its_port_and_stops_with_the_reads_on_record(tmp_path, interrupt):
    port = free_port()
    server = _serve(tmp_path, port)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_until_serving(f"{base}/ops/status", server)

        for _ in range(3):
            status, body = _get(f"{base}/ops/status", TOKEN)
            assert status == 200
            assert json.loads(body)["status"]["mode"] == "live"
        assert _get(f"{base}/ops/status")[0] == 401
    finally:
        interrupt(server)
        out, err = server.communicate(timeout=20)

    assert server.returncode == 0, err
    assert f"ops-server on http://127.0.0.1:{port}" in out
    assert "Traceback" not in err
    # The batched read entries were written by the audit writer process on the way out, and the chain holds:
    # the readiness probe, three reads and the refused one at least.
    assert _verified_entries(tmp_path) >= 5


async def test_the_startup_heap_hook_moves_what_exists_out_of_the_collectors_generations():
    before = gc.get_freeze_count()
    try:
        await freeze_startup_heap(None)  # type: ignore[arg-type]  (the hook does not look at the app)
        assert gc.get_freeze_count() > before
    finally:
        gc.unfreeze()
