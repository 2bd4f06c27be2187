"""Instructions per request (not a test): a deterministic companion to server_load.py, whose timings drift with
the host. Runs the ops server (or the bare handler) under valgrind, serves two fixed numbers of authenticated
`GET /ops/status` requests in two runs, and divides the difference in executed instructions (all threads) by the
difference in requests, so start-up and shutdown cancel out.

    python bench/request_instructions.py [--requests 300 1300] [--bare]

Needs valgrind (apt-get install valgrind); takes about a minute. valgrind hides the CPU's SHA instructions, so the
SHA-256 of the token check and of the audit chain count more here than they cost natively. Only the server's own
process is counted: its audit writer process (which links, hashes and inserts the entries) runs outside valgrind;
`OPS_AUDIT_WRITER=thread python bench/request_instructions.py` counts that work in too."""

import argparse
import asyncio
import os
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from server_load import BARE_SERVER, OPS_SERVER, ROOT, TOKEN, free_port, wait_ready


async def _send(port: int, count: int, auth: bool) -> None:
    import aiohttp

    headers = {"Authorization": f"Bearer {TOKEN}"} if auth else {}
    left = count
    async with aiohttp.ClientSession() as session:

        async def worker() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                async with session.get(f"http://127.0.0.1:{port}/ops/status", headers=headers) as response:
                    await response.read()
                    if response.status != 200:
                        raise RuntimeError(f"status {response.status}")

        await asyncio.gather(*(worker() for _ in range(8)))


def instructions(requests: int, bare: bool, data_dir: str) -> int:
    port = free_port()
    if bare:
        body_file = Path(data_dir) / "status.json"
        body_file.write_bytes(b"x" * 900)
        script, args, auth = BARE_SERVER, [str(body_file)], False
    else:
        script, args, auth = OPS_SERVER, [tempfile.mkdtemp(dir=data_dir), TOKEN], True
    log = Path(data_dir) / f"valgrind-{port}.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPS_AUDIT_BATCH_MS": "5000"}  # full batches, as under load
    server = subprocess.Popen(
        [
            "valgrind",
            "--tool=cachegrind",
            "--cache-sim=no",
            "--cachegrind-out-file=/dev/null",
            f"--log-file={log}",
            sys.executable,
            "-c",
            script,
            str(port),
            *args,
        ],
        env=env,
    )
    try:
        wait_ready(port, {"Authorization": f"Bearer {TOKEN}"} if auth else {}, timeout=300)
        asyncio.run(_send(port, requests, auth))
    finally:
        server.send_signal(signal.SIGINT)
        server.wait()
    return int(re.search(r"I\s+refs:\s+([\d,]+)", log.read_text()).group(1).replace(",", ""))  # type: ignore[union-attr]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, nargs=2, default=[300, 1300])
    parser.add_argument("--bare", action="store_true", help="measure the bare aiohttp handler instead")
    args = parser.parse_args()
    low, high = args.requests
    with tempfile.TemporaryDirectory() as data_dir:
        per_request = (instructions(high, args.bare, data_dir) - instructions(low, args.bare, data_dir)) / (high - low)
    print(f"{'bare aiohttp' if args.bare else 'ops server'}: {per_request / 1000:.0f}k instructions per request")
    return 0


if __name__ == "__main__":
    sys.exit(main())
