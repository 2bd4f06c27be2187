"""Load benchmark (not a test): authenticated GET /ops/status on the ops server against a bare aiohttp JSON handler
serving the same body and against the seed systems' stack (FastAPI on uvicorn with uvloop and httptools, one
worker, a bearer dependency and a response model: bench/peer_fastapi_app.py), all started the same way (one
subprocess each), measured in one run.

    pip install -e '.[bench]'
    python bench/server_load.py [--seconds 5] [--rounds 3] [--connections 64] [--threads 1] [--no-peer]

Uses wrk (apt-get install wrk) when present; otherwise a Python load generator in a separate process. The servers
take turns, `--rounds` times each: on a shared virtual machine the speed of the host drifts by tens of percent
within a minute, and alternating short rounds lets every server see the same drift. Prints every round, then the
median requests/s and p50/p99 latency of each server, the ratios ops/bare and ops/fastapi of the medians, and each
server's resident memory after the run (VmRSS; the ops server's audit writer process counted beside it). The ops
server runs with every stage of its request pipeline (request id, errors, rate limit, audit, auth, response headers)
and its audit trail on, written by its audit writer process; its rate limit is raised so the run measures serving,
not refusing. `--no-peer` leaves FastAPI out (when the bench extra is not installed)."""

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
PEER_APP = ROOT / "bench" / "peer_fastapi_app.py"
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


def start_peer(port: int, body_file: Path) -> subprocess.Popen[bytes]:
    """The FastAPI peer (bench/peer_fastapi_app.py) on `port`, answering the status document in `body_file`."""
    args = ["--port", str(port), "--body", str(body_file), "--token", TOKEN]
    return subprocess.Popen(
        [sys.executable, str(PEER_APP), *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = [int(child) for child in (task / "children").read_text().split()]
        except OSError:  # the task ended while we looked
            continue
        for child in children:
            found += [child, *_descendants(child)]
    return found


def _vm_rss_mb(pid: int) -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
    return int(match.group(1)) / 1024 if match else 0.0


def memory_mb(pid: int) -> tuple[float, float]:
    """Resident memory of the process `pid` and of it with every process it started (the ops server's audit
    writer), in MiB, from /proc (Linux)."""
    own = _vm_rss_mb(pid)
    return own, own + sum(_vm_rss_mb(child) for child in _descendants(pid))


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(
    name: str, port: int, seconds: int, connections: int, threads: int, auth: bool, script: Path | None = None
) -> Result:
    """One wrk run against /ops/status (or the paths a Lua `script` sends). wrk's own output is parsed."""
    cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--latency"]
    if auth:
        cmd += ["-H", f"Authorization: Bearer {TOKEN}"]
    if script is not None:
        cmd += ["-s", str(script)]
    out = subprocess.run([*cmd, f"http://127.0.0.1:{port}/ops/status"], capture_output=True, text=True).stdout
    return parse_wrk(name, out)


def parse_wrk(name: str, out: str) -> Result:
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
    parser.add_argument("--no-peer", action="store_true", help="leave the FastAPI peer out")
    args = parser.parse_args()

    auth = {"Authorization": f"Bearer {TOKEN}"}
    processes: dict[str, subprocess.Popen[bytes]] = {}
    ports: dict[str, int] = {}
    bodies: dict[str, int] = {}
    memory: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as data_dir:
        try:
            ports["ops server"] = free_port()
            processes["ops server"] = start(OPS_SERVER, str(ports["ops server"]), data_dir, TOKEN)
            body = wait_ready(ports["ops server"], auth)
            body_file = Path(data_dir) / "status.json"
            body_file.write_bytes(body)
            ports["bare aiohttp"] = free_port()
            processes["bare aiohttp"] = start(BARE_SERVER, str(ports["bare aiohttp"]), str(body_file))
            if not args.no_peer:
                ports["fastapi peer"] = free_port()
                processes["fastapi peer"] = start_peer(ports["fastapi peer"], body_file)
            for name, port in ports.items():
                bodies[name] = len(wait_ready(port, auth))
            order = [name for name in ("bare aiohttp", "ops server", "fastapi peer") if name in ports]
            rounds: dict[str, list[Result]] = {name: [] for name in order}
            for _ in range(args.rounds):
                for name in order:
                    rounds[name].append(measure(name, ports[name], name != "bare aiohttp", args))
            memory = {name: memory_mb(process.pid) for name, process in processes.items()}
        finally:
            for process in processes.values():
                process.terminate()
                process.wait()

    print(
        f"GET /ops/status, {args.connections} connections, {args.rounds} rounds of {args.seconds} s each, in turns, "
        f"load by {'wrk' if shutil.which('wrk') else 'python'}; body bytes "
        + ", ".join(f"{name} {size}" for name, size in bodies.items())
    )
    for name, results in rounds.items():
        print(f"{name:<14} rounds: " + ", ".join(f"{r.rps:.0f} req/s p99 {r.p99_ms:.1f} ms" for r in results))
    medians = {name: median_of(results) for name, results in rounds.items()}
    print(f"{'median of':<14} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'RSS MiB':>8} {'+children':>9}")
    for name, r in medians.items():
        own, tree = memory[name]
        print(f"{name:<14} {r.rps:>10.0f} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f} {r.errors:>8} {own:>8.1f} {tree:>9.1f}")
    ops = medians["ops server"]
    summary: dict[str, object] = {
        name.split()[0]: {**r.__dict__, "rss_mib": round(memory[name][1], 1)} for name, r in medians.items()
    }
    print(f"ops p99 {ops.p99_ms:.1f} ms (target < 25 ms)")
    for peer, key, target in (("bare aiohttp", "bare", " (target >= 0.50)"), ("fastapi peer", "fastapi", "")):
        if peer not in medians:
            continue
        ratio = ops.rps / medians[peer].rps
        # Each ops round against the peer's round beside it: the host's drift cancels within a pair.
        pairs = sorted(o.rps / p.rps for o, p in zip(rounds["ops server"], rounds[peer], strict=True))
        print(
            f"ratio ops/{key}: {ratio:.2f}{target}; within each round: {', '.join(f'{p:.2f}' for p in pairs)}, "
            f"median {statistics.median(pairs):.2f}"
        )
        summary[f"ratio_ops_{key}"] = round(ratio, 3)
        summary[f"round_ratio_median_ops_{key}"] = round(statistics.median(pairs), 3)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
