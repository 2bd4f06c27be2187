"""Refund ledger page latency at 10,000 and 1,000,000 rows (target: the large ledger's pages no more than 1.5x the
small one's), through the real server: `GET /ops/api/refunds/ledger` over loopback HTTP with every stage of the
request pipeline on (rate limit, audit of the read, auth, the family's envelope).

    python bench/refunds_ledger.py [--rows 10000 1000000] [--pages 300]

The ledger is filled straight into SQLite (executemany, one transaction per 50,000 rows), not through the plant:
statuses and decisions in the mix a worker leaves (most refunded, some denied, held or failed closed, the newest
pending), one request every 10 s, every entry with its protected customer row. Each page of 50 is timed in turn
for a mix of reads an operator makes: walking from the newest page, a cursor in the middle of the ledger, a status
filter (the rare `failed_closed`), a decision filter (DENY), a one-day time window in the middle of the ledger,
`until` alone (everything before the middle), and a single entry."""

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from pydantic import SecretStr

from server.app import create_app
from server.embedded import free_port
from server.settings import Settings
from server.storage.database import Database
from server.storage.evidence import iso

TOKEN = "bench-admin"
LEDGER = "/ops/api/refunds/ledger"
START = datetime(2026, 1, 1, tzinfo=UTC)
SPACING = timedelta(seconds=10)
BATCH = 50_000
# (status, decision, rule) by n % 50: 40 refunded, 5 denied, 3 held for approval, 2 failed closed.
MIX = (
    [("refunded", "ALLOW", "default.allow")] * 40
    + [("denied", "DENY", "amount.maximum")] * 5
    + [("awaiting_approval", "REQUIRE_APPROVAL", "amount.approval")] * 3
    + [("failed_closed", None, "decision_point.unavailable")] * 2
)
PENDING_NEWEST = 200


def _settings(data_dir: Path, port: int) -> Settings:
    return Settings(
        data_dir=data_dir,
        port=port,
        api_token=SecretStr(TOKEN),
        audit_key=SecretStr("b" * 64),
        rate_limit_per_minute=10_000_000,
        plant_tick_seconds=3600,
    )


def at(n: int) -> datetime:
    return START + n * SPACING


async def fill(path: Path, rows: int) -> float:
    """`rows` ledger entries with their customer rows; returns the seconds it took."""
    started = time.perf_counter()
    db = Database(path)
    await db.open()
    await db.migrate()
    try:
        for first in range(1, rows + 1, BATCH):
            requests, customers = [], []
            for n in range(first, min(rows, first + BATCH - 1) + 1):
                status, decision, rule = MIX[n % len(MIX)] if n <= rows - PENDING_NEWEST else ("pending", None, None)
                requests.append(
                    (
                        n,
                        iso(at(n)),
                        status,
                        decision,
                        rule,
                        f"txn-{n:08d}",
                        f"dep_{n:016x}",
                        f"cust_{n % 9973:016x}",
                        1_000 + n % 90_000,
                        "EUR",
                        "[]",
                        n if status != "pending" else None,
                    )
                )
                customers.append(
                    (
                        n,
                        f"Customer {n}",
                        f"customer{n}@example.com",
                        "4111111111111111",
                        "12/29",
                        json.dumps({"order": f"o-{n}"}),
                    )
                )
            async with db.transaction() as conn:
                await conn.executemany(
                    "INSERT INTO refund_requests (entry_id, created_at, status, decision, rule, deposit_id, "
                    "deposit_ref, customer_ref, amount_minor, currency, risk_flags, evidence_id) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    requests,
                )
                await conn.executemany(
                    "INSERT INTO refund_customer_data (entry_id, customer_name, customer_email, card_number, "
                    "card_expiry, order_payload) VALUES (?, ?, ?, ?, ?, ?)",
                    customers,
                )
        await db.execute("ANALYZE")
    finally:
        await db.close()
    return time.perf_counter() - started


def reads(rows: int) -> dict[str, Callable[[str | None], tuple[str, dict[str, str]]]]:
    """Each kind of read: given the walk's cursor, the path and parameters to GET."""
    middle = rows // 2
    day = (at(middle - 8_640), at(middle))
    return {
        "newest pages": lambda cursor: (LEDGER, {"limit": "50", **({"cursor": cursor} if cursor else {})}),
        "middle cursor": lambda _: (LEDGER, {"limit": "50", "cursor": str(middle)}),
        "status failed_closed": lambda _: (LEDGER, {"limit": "50", "status": "failed_closed"}),
        "decision DENY": lambda _: (LEDGER, {"limit": "50", "decision": "DENY"}),
        "one-day window": lambda _: (LEDGER, {"limit": "50", "since": day[0].isoformat(), "until": day[1].isoformat()}),
        "until the middle": lambda _: (LEDGER, {"limit": "50", "until": at(middle).isoformat()}),
        "one entry": lambda _: (f"{LEDGER}/{middle}", {}),
    }


async def measure(rows: int, pages: int) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory() as tmp:
        seconds = await fill(Path(tmp) / "ops.sqlite3", rows)
        print(f"filled {rows:,} rows in {seconds:.1f} s")
        port = free_port()
        runner = web.AppRunner(create_app(_settings(Path(tmp), port)))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        kinds = reads(rows)
        took: dict[str, list[float]] = {kind: [] for kind in kinds}
        try:
            headers = {"Authorization": f"Bearer {TOKEN}"}
            async with aiohttp.ClientSession(f"http://127.0.0.1:{port}", headers=headers) as http:
                cursor: str | None = None
                for n in range(pages):
                    for kind, read in kinds.items():
                        path, params = read(cursor)
                        params = {**params, "masked": "true"}  # the console's read: not an audited reveal
                        started = time.perf_counter()
                        async with http.get(path, params=params) as response:
                            body: dict[str, Any] = await response.json()
                        took[kind].append((time.perf_counter() - started) * 1000)
                        assert response.status == 200, body
                        if kind == "newest pages":
                            assert len(body["items"]) == 50, body
                            cursor = body["next_cursor"] if n % 20 != 19 else None  # 20 pages deep, then again
        finally:
            await runner.cleanup()
    return took


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="*", default=[10_000, 1_000_000])
    parser.add_argument("--pages", type=int, default=300)
    args = parser.parse_args()
    results = {rows: await measure(rows, args.pages) for rows in args.rows}
    small, large = min(results), max(results)
    print(f"\nGET {LEDGER} through the server, p50 / p99 ms ({args.pages} reads of each kind)")
    print(f"{'read':<22}" + "".join(f"{rows:>20,}" for rows in results) + "   ratio of p50s")
    for kind in results[small]:
        cells = "".join(
            f"{statistics.median(results[rows][kind]):>11.2f} / {_pct(results[rows][kind], 0.99):>6.2f}"
            for rows in results
        )
        ratio = statistics.median(results[large][kind]) / statistics.median(results[small][kind])
        print(f"{kind:<22}{cells}   {ratio:.2f}x")
    every = {rows: [t for kind in results[rows].values() for t in kind] for rows in results}
    ratio = statistics.median(every[large]) / statistics.median(every[small])
    print(f"{'all reads':<22}" + "".join(
        f"{statistics.median(every[rows]):>11.2f} / {_pct(every[rows], 0.99):>6.2f}" for rows in results
    ) + f"   {ratio:.2f}x")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
