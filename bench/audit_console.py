"""Audit screen keystroke latency over a 1,000,000-entry audit log (not a test): `ops-console` in a pseudo-terminal
against `ops-server serve`, timed from the next-page keystroke (`o`: load the next older page) to the terminal
receiving the screen's count line with that page in it; plus the time to open the screen (`2`) and the console's
peak memory (ru_maxrss).

    python bench/audit_console.py [--rows 1000000] [--presses 24] [--keep DIR]

The log is filled straight into SQLite (one transaction per 50,000 rows, synchronous off) with the server's own
chain code (server.storage.audit.link): valid, hash-chained entries — command requests and confirmations, runbook
executions, asks, ledger and runbook reads, and the consoles' status polls the screen hides by default — one every
2 s, so a million reach back about 23 days. `--keep DIR` keeps the filled data dir there and reuses it next time
(the fill takes a minute or two). The screen holds at most 2,000 entries, so after every 8 pages `r` loads the
newest page again and paging starts over. Each page is 200 entries (AuditScreen.PAGE_SIZE), fetched through the
server's keyset cursor; the new rows go below the visible ones, so what the terminal shows change is the count
line ("140 of 400 entries ...")."""

import argparse
import asyncio
import os
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from server.storage.audit import GENESIS_HASH, ROWS_PER_STATEMENT, AuditRecord, insert_sql, link
from server.storage.database import Database

sys.path.insert(0, str(Path(__file__).resolve().parent))
from console_start import console_argv, first_since
from pty_terminal import Terminal
from server_load import OPS_SERVER, ROOT, TOKEN, free_port, start, wait_ready

COUNT = re.compile(rb"(\d+) of (\d+) entr")
PAGES_PER_SERIES = 8  # 1 + 8 pages of 200 stay under the screen's MAX_ENTRIES (2,000)
TRANSACTION_ROWS = 50_000
SPACING_SECONDS = 2.0

# (method, path, action, target, detail): one of each kind of entry, in turn.
KINDS: list[tuple[str, str, str, str | None, dict[str, Any]]] = [
    ("POST", "/ops/command", "command.request", "connector", {"command": "restart", "params": {"reason": "stale"}}),
    ("POST", "/ops/command", "command.confirm", "connector", {"command": "restart", "result": "restarted"}),
    ("GET", "/ops/status", "GET /ops/status", None, {}),
    ("POST", "/api/ops/runbooks/execute", "runbook.execute", "health_check", {"dry_run": True, "status": "ok"}),
    ("GET", "/ops/status", "GET /ops/status", None, {}),
    ("POST", "/ops/ci/ask", "ci.ask", "trace-bench", {"route": "ci_lookup", "status": "ok"}),
    ("GET", "/ops/api/refunds/ledger", "GET /ops/api/refunds/ledger", None, {}),
    ("GET", "/ops/status", "GET /ops/status", None, {}),
    ("GET", "/ops/runbook", "GET /ops/runbook", "restart", {}),
    ("GET", "/api/ops/runbooks", "GET /api/ops/runbooks", None, {}),
]
PRINCIPALS = ["env:OPS_API_TOKEN", "token:alice", "token:bob", "token:console-ci"]


def record(n: int, start_at: float) -> AuditRecord:
    method, path, action, target, detail = KINDS[n % len(KINDS)]
    return AuditRecord(
        at=start_at + n * SPACING_SECONDS,
        principal=PRINCIPALS[n % len(PRINCIPALS)],
        request_id=f"bench{n:027x}",
        method=method,
        path=path,
        action=action,
        target=target,
        outcome="ok",
        status=200,
        detail=detail,
    )


def fill(database: Path, rows: int) -> float:
    """Migrate `database` and append `rows` chained entries to its audit log; returns the seconds it took."""
    began = time.perf_counter()

    async def migrate() -> None:
        db = Database(database)
        await db.open()
        try:
            await db.migrate()
        finally:
            await db.close()

    asyncio.run(migrate())
    conn = sqlite3.connect(database, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")  # a bench fill: these rows' durability is not what is measured
    row = conn.execute("SELECT entry_id, hash FROM audit_log ORDER BY entry_id DESC LIMIT 1").fetchone()
    head: tuple[int, str] = (row[0], row[1]) if row else (0, GENESIS_HASH)
    start_at = time.time() - rows * SPACING_SECONDS
    for first in range(0, rows, TRANSACTION_ROWS):
        conn.execute("BEGIN")
        for batch in range(first, min(first + TRANSACTION_ROWS, rows), ROWS_PER_STATEMENT):
            records = [record(n, start_at) for n in range(batch, min(batch + ROWS_PER_STATEMENT, rows))]
            values, head = link(records, head)
            conn.execute(insert_sql(len(records)), values)
        conn.execute("COMMIT")
    conn.close()
    return time.perf_counter() - began


def audit_rows(database: Path) -> int:
    if not database.exists():
        return 0
    with sqlite3.connect(database) as conn:
        return int(conn.execute("SELECT coalesce(max(entry_id), 0) FROM audit_log").fetchone()[0])


def wait_for_total(terminal: Terminal, at_least: int, after: int, *, most: int | None = None) -> tuple[int, float]:
    """The count line's total once it is `at_least` (and at `most`, when given), and when it was seen."""
    while True:
        match, seen = terminal.wait_for(COUNT, after=after, timeout=60)
        total = int(match.group(2))
        if total >= at_least and (most is None or total <= most):
            return total, seen
        after = match.end()


def run(port: int, args: argparse.Namespace) -> tuple[float, list[float], int]:
    """Open the audit screen and page back `args.presses` times; (open seconds, page latencies in ms, peak KiB)."""
    status = wait_ready(port, {"Authorization": f"Bearer {TOKEN}"})
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPS_API_TOKEN": TOKEN}
    terminal = Terminal([*console_argv(), "--url", f"http://127.0.0.1:{port}"], env, columns=120, lines=40)
    latencies: list[float] = []
    try:
        terminal.wait_for(re.compile(re.escape(first_since(status))), timeout=60)
        terminal.drain(0.5)
        after = len(terminal.output)
        sent = terminal.send(b"2")
        total, seen = wait_for_total(terminal, 1, after)
        opened = seen - sent
        for press in range(args.presses):
            if press and press % PAGES_PER_SERIES == 0:
                terminal.drain(0.3)
                after = len(terminal.output)
                terminal.send(b"r")  # back to the newest page: the screen keeps at most 2,000 entries
                total, _ = wait_for_total(terminal, 1, after, most=400)
            terminal.drain(0.3)  # let the tail's poll and the last paint finish
            after = len(terminal.output)
            sent = terminal.send(b"o")
            total, seen = wait_for_total(terminal, total + 200, after)
            latencies.append((seen - sent) * 1000)
    finally:
        terminal.close(quit_keys=b"q")
    return opened, latencies, terminal.max_rss_kib


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--presses", type=int, default=24, help="next-page keystrokes timed")
    parser.add_argument("--keep", type=Path, default=None, help="keep (and reuse) the filled data dir here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        data_dir = args.keep or Path(scratch)
        data_dir.mkdir(parents=True, exist_ok=True)
        database = data_dir / "ops.sqlite3"
        present = audit_rows(database)
        if present >= args.rows:
            print(f"reusing {database}: {present:,} audit entries")
        elif present:
            print(f"{database} holds {present:,} entries, fewer than --rows; use another --keep dir", file=sys.stderr)
            return 2
        else:
            seconds = fill(database, args.rows)
            print(f"filled {args.rows:,} audit entries in {seconds:.0f} s")
        port = free_port()
        server = start(OPS_SERVER, str(port), str(data_dir), TOKEN)
        try:
            opened, latencies, peak_kib = run(port, args)
        finally:
            server.terminate()
            server.wait()

    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    print(f"audit screen over {max(present, args.rows):,} entries, ops-console in a 120x40 pseudo-terminal")
    print(f"open (key 2 to the first page painted): {opened * 1000:.0f} ms")
    print(
        f"next page (key o to its count painted), {len(latencies)} presses: p50 {statistics.median(ordered):.0f} ms, "
        f"p99 {p99:.0f} ms, max {ordered[-1]:.0f} ms"
    )
    print(f"console peak memory (ru_maxrss): {peak_kib / 1024:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
