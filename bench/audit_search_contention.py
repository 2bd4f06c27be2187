"""Audit search contention benchmark (not a test): do audit searches hold up sign-in and confirmations?

    python bench/audit_search_contention.py [--rows 160000] [--searchers 20] [--samples 200] [--src DIR]

Builds an audit log of `--rows` entries (reads by a few consoles, a command now and then), starts the ops server on
it the way an operator does (`ops-server serve`, audit writer process and all), and measures two things first
idle, then while `--searchers` clients run 8-word searches of the whole log back to back:

- a token check: `GET /ops/whoami` with a stored token used for the first time (not in the token cache: a
  lookup by digest on the database);
- a confirmation: the second step of `POST /ops/command` (the confirm token redeemed, the intent committed).

Prints p50/p99 of each, and how many searches ran and their p50. `--q ""` is the control: the same clients read
/ops/status back to back instead, which shows how much of the latency is the load of 20 busy clients alone.
`--src DIR` runs the server from another source tree (e.g. an export of an earlier commit) on the same log."""

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server.clock import SystemClock  # noqa: E402
from server.services.tokens import TokenService  # noqa: E402
from server.storage.audit import AuditRecord  # noqa: E402
from server.storage.audit_appender import AuditAppender  # noqa: E402
from server.storage.database import Database  # noqa: E402
from server.storage.tokens import TokenRepository  # noqa: E402

ADMIN = "bench-admin-token"
# Eight words no entry holds all of: a scan of the log reads every row for it. (`--q "ops status get ok console
# ops status get"`, words nearly every entry holds, is the costliest for the index: every list of matches is long.)
SEARCH = "restart connector maintenance window console ops command confirm"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def build_log(data_dir: Path, rows: int, tokens: int) -> list[str]:
    """Migrate a database in `data_dir`, fill its audit log, and return `tokens` stored read-only tokens."""

    async def prepare() -> list[str]:
        db = Database(data_dir / "ops.sqlite3")
        await db.open()
        try:
            await db.migrate()
            service = TokenService(TokenRepository(db), SystemClock())
            return [await service.create(f"bench-reader-{n}", "ops:read") for n in range(tokens)]
        finally:
            await db.close()

    created = asyncio.run(prepare())
    appender = AuditAppender(data_dir / "ops.sqlite3")
    start = time.time() - rows * 0.5
    batch: list[AuditRecord] = []
    for n in range(rows):
        command = n % 500 == 0
        batch.append(
            AuditRecord(
                at=start + n * 0.5,
                principal=f"console-{n % 4}",
                request_id=f"{n:032x}",
                method="POST" if command else "GET",
                path="/ops/command" if command else "/ops/status",
                action="command.confirm" if command else "GET /ops/status",
                target="connector" if command else None,
                outcome="ok",
                status=200,
                detail={"command": "restart", "params": {"reason": "stale quotes"}} if command else {},
            )
        )
        if len(batch) == 2000:
            appender.append(batch)
            batch = []
    appender.append(batch)
    appender.close()
    return created


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(base: str, readers: list[str], failed: list[str]) -> tuple[list[float], list[float]]:
    """Token-check and confirmation latencies (ms), one token check per token in `readers` (each used once, so
    each is looked up in the database), a confirmation every fourth; those that did not execute go to `failed`."""
    admin = {"Authorization": f"Bearer {ADMIN}"}
    checks: list[float] = []
    confirms: list[float] = []
    async with aiohttp.ClientSession(base) as session:
        for n, reader in enumerate(readers):
            started = time.perf_counter()
            async with session.get("/ops/whoami", headers={"Authorization": f"Bearer {reader}"}) as response:
                assert response.status == 200, await response.text()
            checks.append((time.perf_counter() - started) * 1000)
            if n % 4 == 0:  # a confirmation costs the plant a restart: fewer of them
                body = {"command": "restart", "component": "mt5_bridge"}
                async with session.post("/ops/command", json=body, headers=admin) as response:
                    answer = await response.json()
                    assert response.status == 200, answer
                    token = answer["confirm_token"]
                started = time.perf_counter()
                async with session.post("/ops/command", json={**body, "confirm_token": token}, headers=admin) as r:
                    await r.read()
                confirms.append((time.perf_counter() - started) * 1000)
                if r.status != 200:
                    failed.append(f"{r.status} {(await r.json()).get('error')}")
            await asyncio.sleep(0.01)
    return checks, confirms


async def search_forever(base: str, reader: str, q: str, latencies: list[float]) -> None:
    # No words: the control run, the same clients reading /ops/status instead, for the share of plain load.
    path, params = ("/ops/audit", {"q": q, "limit": "50"}) if q else ("/ops/status", {})
    async with aiohttp.ClientSession(base, timeout=aiohttp.ClientTimeout(total=600)) as session:
        while True:
            started = time.perf_counter()
            async with session.get(path, params=params, headers={"Authorization": f"Bearer {reader}"}) as response:
                assert response.status == 200, await response.text()
                await response.read()
            latencies.append((time.perf_counter() - started) * 1000)


def report(name: str, values: list[float], failed: list[str] | None = None) -> None:
    p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
    print(f"  {name:<14} n={len(values):<4} p50 {p50:8.1f} ms   p99 {p99:8.1f} ms", end="")
    print(f"   NOT EXECUTED: {len(failed)} ({', '.join(sorted(set(failed)))})" if failed else "")


def searchers_process(base: str, reader: str, q: str, searchers: int, stop: Any, results: Any) -> None:
    """The searching clients, in a process of their own: the measuring client's event loop must not wait behind
    theirs, or the bench would time its own queue."""

    async def search_until_stopped() -> list[float]:
        latencies: list[float] = []
        tasks = [asyncio.create_task(search_forever(base, reader, q, latencies)) for _ in range(searchers)]
        while not stop.is_set():
            await asyncio.sleep(0.05)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, aiohttp.ClientError):
                await task
        return latencies

    results.put(asyncio.run(search_until_stopped()))


async def run(base: str, readers: list[str], samples: int, searchers: int, q: str) -> None:
    searcher, idle, loaded = readers[0], readers[1 : samples + 1], readers[samples + 1 :]
    failed: list[str] = []
    checks, confirms = await measure(base, idle, failed)
    print("idle:")
    report("token check", checks)
    report("confirmation", confirms, failed)
    failed = []
    stop = multiprocessing.Event()
    results: multiprocessing.Queue[list[float]] = multiprocessing.Queue()
    searching = multiprocessing.Process(target=searchers_process, args=(base, searcher, q, searchers, stop, results))
    searching.start()
    await asyncio.sleep(2.0)  # every searcher has a search in flight
    checks, confirms = await measure(base, loaded, failed)
    stop.set()
    searches: list[float] = results.get(timeout=600)
    searching.join(60)
    print(f"while {searchers} clients search ({q!r}) back to back:")
    report("token check", checks)
    report("confirmation", confirms, failed)
    if searches:
        report("search", searches)
    else:
        print("  search         none finished while measuring")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=160_000)
    parser.add_argument("--searchers", type=int, default=20)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--q", default=SEARCH, help='the words each search looks for; "": read /ops/status instead')
    parser.add_argument("--src", type=Path, default=ROOT, help="source tree to run the server from")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="audit-bench-") as tmp:
        data_dir = Path(tmp)
        started = time.perf_counter()
        readers = build_log(data_dir, args.rows, 1 + 2 * args.samples)
        print(f"built a log of {args.rows} entries in {time.perf_counter() - started:.1f} s; server from {args.src}")
        port = free_port()
        env = {
            **os.environ,
            "PYTHONPATH": str(args.src),
            "OPS_API_TOKEN": ADMIN,
            "OPS_RATE_LIMIT_PER_MINUTE": str(10**9),
            "OPS_RATE_LIMIT_FAILED_AUTH_PER_MINUTE": str(10**9),  # concurrent uncached checks spend it too
            "OPS_PLANT_TICK_SECONDS": "3600",
            "OPS_RESTART_SECONDS": "0",
        }
        server = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sys; from server.cli import main; sys.exit(main(sys.argv[1:]))",
                "serve",
                "--port",
                str(port),
                "--data-dir",
                str(data_dir),
            ],
            env=env,
            cwd=args.src,
            stdout=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise SystemExit("the server did not start") from None
                    time.sleep(0.2)
            asyncio.run(run(base, readers, args.samples, args.searchers, args.q))
        finally:
            server.terminate()
            server.wait(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
