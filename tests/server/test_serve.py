"""`ops-server serve` as an operator runs it: a real process on a real port, stopped with Ctrl-C."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from server.embedded import free_port

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


def _raw_exchange(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def test_serve_answers_malformed_requests_in_the_envelope_and_logs_no_token(tmp_path):
    port = free_port()
    server = _serve(tmp_path, port)
    malformed = f"GET /ops/whoami HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\x01\r\n\r\n".encode()
    try:
        _wait_until_serving(f"http://127.0.0.1:{port}/ops/status", server)
        answers = [_raw_exchange(port, malformed) for _ in range(50)]
    finally:
        server.send_signal(signal.SIGINT)
        out, err = server.communicate(timeout=20)

    head, _, body = answers[0].partition(b"\r\n\r\n")
    assert head.split()[1] == b"400"
    assert b"X-Content-Type-Options: nosniff" in head
    assert json.loads(body)["error"] == "malformed_request"
    assert all(TOKEN.encode() not in answer for answer in answers)
    assert TOKEN not in out + err
    assert "Traceback" not in err
    # A flood of them writes a few lines, not one (with a traceback) each.
    assert 1 <= err.count("refused a malformed request from 127.0.0.1") <= 5
