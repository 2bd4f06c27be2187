"""Load benchmark (not a test): authenticated GET /ops/status on the ops server against a bare aiohttp JSON handler
serving the same body, both started the same way (one subprocess each), measured in one run.

    python bench/server_load.py [--seconds 5] [--rounds 3] [--connections 64] [--threads 1]

Uses wrk (apt-get install wrk) when present; otherwise a Python load generator in a separate process. The two
servers take turns, `--rounds` times each: on a shared virtual machine the speed of the host drifts by tens of
percent within a minute, and alternating short rounds lets both servers see the same drift. Prints every round, then
the median requests/s and p50/p99 latency of each server and the ratio of the medians. The ops server runs with
every stage of its request pipeline (request id, errors, rate limit, audit, auth, response headers) and its audit
trail on, written by its audit writer process; its rate limit is raised so the run measures serving, not
refusing."""

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-admin-token"

# The ops server as `ops-server serve` starts it; the token and the raised rate limit come the way an operator
# would give them, from the environment.
OPS_SERVER = textwrap.dedent(
    """
    import os
    import sys
    from server.cli import main
    os.environ.update(OPS_API_TOKEN=sys.argv[3], OPS_RATE_LIMIT_PER_MINUTE=str(10**9))
    sys.exit(main(["serve", "--port", sys.argv[1], "--data-dir", sys.argv[2]]))
    """
)

BARE_SERVER = textwrap.dedent(
    """
    import sys
    from aiohttp import web
    body = open(sys.argv[2], "rb").read()
    async def handler(request):
        return web.Response(body=body, content_type="application/json")
    app = web.Application()
    app.router.add_get("/ops/status", handler)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
    """
)


@dataclass
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(port: int, headers: dict[str, str], timeout: float = 20.0) -> bytes:
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            request = urllib.request.Request(f"http://127.0.0.1:{port}/ops/status", headers=headers)
            with urllib.request.urlopen(request, timeout=1) as response:
                return response.read()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def start(script: str, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", script, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(name: str, port: int, seconds: int, connections: int, threads: int, auth: bool) -> Result:
    cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--latency"]
    if auth:
        cmd += ["-H", f"Authorization: Bearer {TOKEN}"]
    out = subprocess.run([*cmd, f"http://127.0.0.1:{port}/ops/status"], capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s*50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s*99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return Result(name, rps, p50, p99, int(non2xx.group(1)) if non2xx else 0)


async def _python_load(port: int, seconds: int, connections: int, auth: bool) -> tuple[int, list[float], int]:
    import aiohttp

    headers = {"Authorization": f"Bearer {TOKEN}"} if auth else {}
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    url = f"http://127.0.0.1:{port}/ops/status"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections)) as session:

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                began = time.perf_counter()
                async with session.get(url, headers=headers) as response:
                    await response.read()
                    if response.status != 200:
                        errors += 1
                latencies.append(time.perf_counter() - began)

        await asyncio.gather(*(worker() for _ in range(connections)))
    return len(latencies), latencies, errors


def run_python(name: str, port: int, seconds: int, connections: int, auth: bool) -> Result:
    count, latencies, errors = asyncio.run(_python_load(port, seconds, connections, auth))
    latencies.sort()
    return Result(
        name,
        count / seconds,
        latencies[len(latencies) // 2] * 1000,
        latencies[int(len(latencies) * 0.99)] * 1000,
        errors,
    )


def measure(name: str, port: int, auth: bool, args: argparse.Namespace) -> Result:
    if shutil.which("wrk") is not None:
        return run_wrk(name, port, args.seconds, args.connections, args.threads, auth)
    return run_python(name, port, args.seconds, args.connections, auth)


def median_of(rounds: list[Result]) -> Result:
    return Result(
        rounds[0].name,
        statistics.median(r.rps for r in rounds),
        statistics.median(r.p50_ms for r in rounds),
        statistics.median(r.p99_ms for r in rounds),
        sum(r.errors for r in rounds),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="length of one round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per server, taken in turns")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads; 1 leaves the other core to the server")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as data_dir:
        ops_port, bare_port = free_port(), free_port()
        ops = start(OPS_SERVER, str(ops_port), data_dir, TOKEN)
        try:
            body = wait_ready(ops_port, {"Authorization": f"Bearer {TOKEN}"})
            body_file = Path(data_dir) / "status.json"
            body_file.write_bytes(body)
            bare = start(BARE_SERVER, str(bare_port), str(body_file))
            try:
                wait_ready(bare_port, {})
                servers = [("bare aiohttp", bare_port, False), ("ops server", ops_port, True)]
                rounds: dict[str, list[Result]] = {name: [] for name, _, _ in servers}
                for _ in range(args.rounds):
                    for name, port, auth in servers:
                        rounds[name].append(measure(name, port, auth, args))
            finally:
                bare.terminate()
                bare.wait()
        finally:
            ops.terminate()
            ops.wait()

    print(
        f"GET /ops/status, {args.connections} connections, {args.rounds} rounds of {args.seconds} s each, in turns, "
        f"load by {'wrk' if shutil.which('wrk') else 'python'}; body {len(body)} bytes"
    )
    for name, results in rounds.items():
        print(f"{name:<14} rounds: " + ", ".join(f"{r.rps:.0f} req/s p99 {r.p99_ms:.1f} ms" for r in results))
    results = [median_of(r) for r in rounds.values()]
    print(f"{'median of':<14} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8}")
    for r in results:
        print(f"{r.name:<14} {r.rps:>10.0f} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f} {r.errors:>8}")
    bare_result, ops_result = results
    ratio = ops_result.rps / bare_result.rps
    # Each ops round against the bare round just before it: the host's drift cancels within a pair.
    pairs = sorted(o.rps / b.rps for b, o in zip(*rounds.values(), strict=True))
    print(f"ratio ops/bare: {ratio:.2f} (target >= 0.50); ops p99 {ops_result.p99_ms:.1f} ms (target < 25 ms)")
    print(f"ratio within each round: {', '.join(f'{p:.2f}' for p in pairs)}; median {statistics.median(pairs):.2f}")
    summary = {"bare": bare_result.__dict__, "ops": ops_result.__dict__, "ratio": round(ratio, 3)}
    print(json.dumps({**summary, "round_ratio_median": round(statistics.median(pairs), 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
