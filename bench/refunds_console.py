"""The console's keystroke-to-paint on the Refunds ledger with 1,000,000 entries: the Refunds screen (key 9, tab
Ledger) driven by Textual's `App.run_test` (headless, 120x40), against `ops-server serve` in a process of its own
whose ledger holds the rows (filled as bench/refunds_ledger.py fills it). Each sample is one key: `]` (the next
older page) or `[` (back a page), timed from the key press until the table has painted the new page — its
entries replaced and its lines rendered again after that.

    python bench/refunds_console.py [--rows 10000 1000000] [--keys 200]"""

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from refunds_ledger import fill
from textual.strip import Strip

from console.app import OpsConsole
from console.screens.refunds import RefundsScreen
from console.widgets.ledger_table import LedgerTable
from server.embedded import free_port
from shared.client import OpsClient

TOKEN = "bench-admin"


class Painted:
    """When the ledger table was last given a page (`show`) and when it first rendered its lines after that
    (Textual calls `render_lines` when it paints a widget)."""

    def __init__(self) -> None:
        self.shown = 0.0
        self.painted = 0.0
        show: Callable[..., None] = LedgerTable.show
        render_lines: Callable[..., list[Strip]] = LedgerTable.render_lines

        def timed_show(table: LedgerTable, *args: Any, **kwargs: Any) -> None:
            show(table, *args, **kwargs)
            self.shown, self.painted = time.perf_counter(), 0.0

        def timed_render_lines(table: LedgerTable, crop: Any) -> list[Strip]:
            lines = render_lines(table, crop)
            if not self.painted:
                self.painted = time.perf_counter()
            return lines

        LedgerTable.show = timed_show  # type: ignore[method-assign,assignment]
        LedgerTable.render_lines = timed_render_lines  # type: ignore[method-assign,assignment]


def serve(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "OPS_DATA_DIR": str(data_dir),
        "OPS_PORT": str(port),
        "OPS_API_TOKEN": TOKEN,
        "OPS_AUDIT_KEY": "b" * 64,
        "OPS_RATE_LIMIT_PER_MINUTE": "1000000",
        "OPS_PLANT_TICK_SECONDS": "3600",
    }
    process = subprocess.Popen([sys.executable, "-c", "from server.cli import main; main()", "serve"], env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ops/api/live/status", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("the server did not start")


async def drive(port: int, keys: int) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Per key: milliseconds from the press to the painted page, and to the page handed to the table."""
    # Only the keys read the ledger: no timer refreshes it meanwhile.
    RefundsScreen.REFRESH_SECONDS = RefundsScreen.PUBLIC_REFRESH_SECONDS = 3600.0
    painted = Painted()
    app = OpsConsole(OpsClient(f"http://127.0.0.1:{port}", TOKEN))
    took: dict[str, list[float]] = {"]": [], "[": []}
    fetched: dict[str, list[float]] = {"]": [], "[": []}
    async with app.run_test(size=(120, 40)) as pilot:

        async def until(condition: Callable[[], bool], what: str) -> None:
            deadline = time.perf_counter() + 30
            while not condition():
                if time.perf_counter() > deadline:
                    raise RuntimeError(f"timed out waiting for {what}")
                await asyncio.sleep(0.0005)

        await until(lambda: app.identified, "whoami")
        await pilot.press("9")
        await until(lambda: app.current_mode == "refunds", "the Refunds screen")
        await pilot.press("l")
        screen = app.screen_stack[0]
        assert isinstance(screen, RefundsScreen)
        table = screen.query_one("#ledger", LedgerTable)
        await until(lambda: screen.page_loaded and table.row_count > 0, "the first page")
        for key in "]" * keys + "[" * keys:
            page = len(screen.cursors)
            started = time.perf_counter()
            await pilot.press("right_square_bracket" if key == "]" else "left_square_bracket")
            await until(lambda: len(screen.cursors) != page and painted.shown > started, "the new page")  # noqa: B023
            await until(lambda: bool(painted.painted), "its paint")
            took[key].append((painted.painted - started) * 1000)
            fetched[key].append((painted.shown - started) * 1000)
    return took, fetched


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(rows: int, keys: int) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    with tempfile.TemporaryDirectory() as tmp:
        seconds = await fill(Path(tmp) / "ops.sqlite3", rows)
        print(f"filled {rows:,} rows in {seconds:.1f} s")
        port = free_port()
        server = serve(Path(tmp), port)
        try:
            return await drive(port, keys)
        finally:
            server.terminate()
            server.wait(30)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="*", default=[10_000, 1_000_000])
    parser.add_argument("--keys", type=int, default=100, help="presses of each key; the ledger needs more pages")
    args = parser.parse_args()
    page_rows = 50  # the screen's page
    if any(args.keys >= rows // page_rows for rows in args.rows):
        parser.error(f"--keys {args.keys} pages past the end of {min(args.rows)} rows ({page_rows} a page)")
    results = {rows: await measure(rows, args.keys) for rows in args.rows}
    print(f"\nRefunds ledger at 120x40, key press to painted page, p50 / p99 ms ({args.keys} presses of each key;")
    print("in brackets the p50 to the page reaching the table: the request and the worker)")
    print(f"{'key':<22}" + "".join(f"{rows:>26,}" for rows in results))
    for key, name in (("]", "] next older page"), ("[", "[ back a page")):
        cells = ""
        for took, fetched in results.values():
            p50, p99, to_table = statistics.median(took[key]), _pct(took[key], 0.99), statistics.median(fetched[key])
            cells += f"{p50:>9.1f} / {p99:>6.1f} ({to_table:>5.1f})"
        print(f"{name:<22}{cells}")


if __name__ == "__main__":
    asyncio.run(main())
