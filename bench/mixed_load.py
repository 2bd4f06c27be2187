"""Mixed read load benchmark (not a test): one ops server answering a rotation of reads across every API family at
concurrency 64, with GET /ops/status on a bare aiohttp handler and on the FastAPI peer (bench/peer_fastapi_app.py)
in the same run as a reference ceiling.

    pip install -e '.[bench]'
    python bench/mixed_load.py [--seconds 10] [--rounds 3] [--connections 64] [--threads 1] [--no-peer]

Needs wrk (apt-get install wrk): a Lua script sends the paths below in turn, each as often as the others, and counts
the answers per path (each request carries an `X-Request-ID` naming its path, which the server echoes). The ops
server runs as `ops-server serve` with every stage of its request pipeline and its audit trail on (every read is
audited), on a fresh data dir seeded first with a few dry-run runbook executions and quick investigations so the
history and worklist lists are not empty; the audit log grows as the run goes. The servers take turns, `--rounds`
times each, as in server_load.py. Prints the per-path counts (2xx and other), the median requests/s and p50/p99 of
the mixed load, the references, each server's resident memory after the run, and then each path's p50 alone
(`--probe` sequential requests per path, no other load). The references serve one cached
status body with no storage behind it, so `ops mixed / peer status` is how much of a do-nothing peer's speed the
ops server keeps while doing real reads — not a like-for-like ratio."""

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from server_load import (
    BARE_SERVER,
    OPS_SERVER,
    TOKEN,
    Result,
    free_port,
    measure,
    median_of,
    memory_mb,
    parse_wrk,
    start,
    start_peer,
    wait_ready,
)

AGENT = "/api/v1/ops-agent"
# (method, path, JSON body): one read of each family, as the console and the seed systems' clients make them.
PATHS: list[tuple[str, str, dict[str, object] | None]] = [
    ("GET", "/ops/status", None),
    ("GET", "/ops/audit?limit=50", None),
    ("GET", "/api/ops/runbooks", None),
    ("GET", "/api/ops/metrics/summary", None),
    ("GET", "/api/ops/metrics/timeseries?metric=md_throughput_mps&minutes=60", None),
    ("GET", f"{AGENT}/worklist/recommendations", None),
    ("GET", "/assets/prompt", None),
    ("POST", "/ops/ci/ask", {"question": "what is failing?"}),
    ("GET", "/ops/api/live/status", None),
    ("GET", "/ops/api/live/feed", None),
    ("GET", "/ops/api/refunds/ledger", None),
]

# Requests are formatted once per path in init() (wrk's -H headers do not reach a script's own init, so the token
# is in the script); response() tells the paths apart by the echoed request id; done() gathers every thread's
# counts and prints one line per path.
LUA = """
local paths = {PATHS}
-- globals: done() reads ok and bad through thread:get
requests, ok, bad = {{}}, {{}}, {{}}
local index = 0
local threads = {{}}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  for i, p in ipairs(paths) do
    local headers = {{["Authorization"] = "Bearer {TOKEN}", ["X-Request-ID"] = "mix-" .. i}}
    if p[3] ~= "" then headers["Content-Type"] = "application/json" end
    requests[i] = wrk.format(p[1], p[2], headers, p[3] ~= "" and p[3] or nil)
    ok[i], bad[i] = 0, 0
  end
end

function request()
  index = index % #requests + 1
  return requests[index]
end

function response(status, headers, body)
  local id = headers["X-Request-ID"] or headers["x-request-id"] or ""
  local i = tonumber(string.match(id, "^mix%-(%d+)$"))
  if i then
    if status >= 200 and status < 300 then ok[i] = ok[i] + 1 else bad[i] = bad[i] + 1 end
  end
end

function done(summary, latency, reqs)
  for i = 1, #paths do
    local o, b = 0, 0
    for _, thread in ipairs(threads) do
      o = o + thread:get("ok")[i]
      b = b + thread:get("bad")[i]
    end
    io.write(string.format("MIX %d %d %d\\n", i, o, b))
  end
end
"""


def lua_script() -> str:
    def quote(text: str) -> str:
        return json.dumps(text)  # a JSON string is a valid Lua string literal for this ASCII text

    rows = ", ".join(
        f"{{{quote(method)}, {quote(path)}, {quote(json.dumps(body) if body else '')}}}" for method, path, body in PATHS
    )
    return LUA.format(PATHS=f"{{{rows}}}", TOKEN=TOKEN)


def run_mixed(port: int, args: argparse.Namespace, script: Path) -> tuple[Result, list[tuple[int, int]]]:
    cmd = ["wrk", "-t", str(args.threads), "-c", str(args.connections), "-d", f"{args.seconds}s", "--latency"]
    cmd += ["-s", str(script), f"http://127.0.0.1:{port}"]
    out = subprocess.run(cmd, capture_output=True, text=True).stdout
    lines = (line.split() for line in out.splitlines() if line.startswith("MIX "))
    counts = [(int(ok), int(bad)) for _, _, ok, bad in lines]
    if len(counts) != len(PATHS):  # wrk or the script failed: say how
        raise RuntimeError(f"wrk gave no per-path counts:\n{out}")
    return parse_wrk("ops mixed", out), counts


async def seed(port: int) -> str:
    """A few dry-run runbook executions and quick investigations, so their lists have rows; says what it made."""
    base = f"http://127.0.0.1:{port}"
    made = {"runbook runs": 0, "investigations": 0}
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as session:
        for _ in range(3):
            async with session.post(
                f"{base}/api/ops/runbooks/execute", json={"command": "health_check", "dry_run": True}
            ) as response:
                made["runbook runs"] += response.status == 200
        async with session.get(f"{base}{AGENT}/transactions?limit=5") as response:
            listed = await response.json()
        for item in listed.get("items", []):
            body = {"mode": "quick", "transaction_id": item["transaction_id"]}
            async with session.post(f"{base}{AGENT}/investigations/run", json=body) as response:
                made["investigations"] += response.status in (200, 201, 202)
    return ", ".join(f"{count} {name}" for name, count in made.items())


async def probe(port: int, requests: int) -> list[float]:
    """Each path's p50 in ms over `requests` sequential requests with no other load: where the mixed load's time
    goes, which wrk's one latency histogram cannot tell."""
    medians: list[float] = []
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as session:
        for method, path, body in PATHS:
            times: list[float] = []
            for _ in range(requests):
                began = time.perf_counter()
                async with session.request(method, f"http://127.0.0.1:{port}{path}", json=body) as response:
                    await response.read()
                times.append((time.perf_counter() - began) * 1000)
            medians.append(statistics.median(times))
    return medians


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=int, default=10, help="length of one round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per server, taken in turns")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads; 1 leaves the other core to the server")
    parser.add_argument("--no-peer", action="store_true", help="leave the FastAPI reference out")
    parser.add_argument("--probe", type=int, default=20, help="sequential requests per path after the load")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("mixed_load.py needs wrk (apt-get install wrk)", file=sys.stderr)
        return 2

    auth = {"Authorization": f"Bearer {TOKEN}"}
    processes: dict[str, subprocess.Popen[bytes]] = {}
    ports: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as data_dir:
        script = Path(data_dir) / "mixed.lua"
        script.write_text(lua_script())
        try:
            ports["ops mixed"] = free_port()
            processes["ops mixed"] = start(OPS_SERVER, str(ports["ops mixed"]), data_dir, TOKEN)
            body_file = Path(data_dir) / "status.json"
            body_file.write_bytes(wait_ready(ports["ops mixed"], auth))
            seeded = asyncio.run(seed(ports["ops mixed"]))
            ports["bare status"] = free_port()
            processes["bare status"] = start(BARE_SERVER, str(ports["bare status"]), str(body_file))
            if not args.no_peer:
                ports["fastapi status"] = free_port()
                processes["fastapi status"] = start_peer(ports["fastapi status"], body_file)
            for port in ports.values():
                wait_ready(port, auth)
            rounds: dict[str, list[Result]] = {name: [] for name in ports}
            per_path = [[0, 0] for _ in PATHS]
            for _ in range(args.rounds):
                result, counts = run_mixed(ports["ops mixed"], args, script)
                rounds["ops mixed"].append(result)
                for total, (ok, bad) in zip(per_path, counts, strict=True):
                    total[0] += ok
                    total[1] += bad
                for name in ("bare status", "fastapi status"):
                    if name in ports:
                        rounds[name].append(measure(name, ports[name], name != "bare status", args))
            memory = {name: memory_mb(process.pid) for name, process in processes.items()}
            idle_p50 = asyncio.run(probe(ports["ops mixed"], args.probe))
        finally:
            for process in processes.values():
                process.terminate()
                process.wait()

    print(
        f"mixed reads over {len(PATHS)} paths, {args.connections} connections, {args.rounds} rounds of "
        f"{args.seconds} s each, in turns, load by wrk; seeded {seeded}"
    )
    print(f"{'path':<66} {'2xx':>8} {'other':>6} {'alone p50 ms':>12}")
    for (method, path, _), (ok, bad), alone in zip(PATHS, per_path, idle_p50, strict=True):
        print(f"{method + ' ' + path:<66} {ok:>8} {bad:>6} {alone:>12.2f}")
    medians = {name: median_of(results) for name, results in rounds.items()}
    print(f"{'median of':<15} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'RSS MiB':>8} {'+children':>9}")
    for name, r in medians.items():
        own, tree = memory[name]
        print(f"{name:<15} {r.rps:>10.0f} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f} {r.errors:>8} {own:>8.1f} {tree:>9.1f}")
    mixed = medians["ops mixed"]
    summary: dict[str, object] = {"ops_mixed": {**mixed.__dict__, "rss_mib": round(memory["ops mixed"][1], 1)}}
    for name in ("bare status", "fastapi status"):
        if name in medians:
            ratio = mixed.rps / medians[name].rps
            print(f"reference ratio ops mixed / {name}: {ratio:.2f} (not like for like: see the docstring)")
            summary[f"ratio_mixed_{name.split()[0]}_status"] = round(ratio, 3)
    summary["per_path_2xx"] = {path: ok for (_, path, _), (ok, _) in zip(PATHS, per_path, strict=True)}
    summary["per_path_other"] = sum(bad for _, bad in per_path)
    print(json.dumps(summary))
    return 1 if any(bad for _, bad in per_path) else 0


if __name__ == "__main__":
    sys.exit(main())
