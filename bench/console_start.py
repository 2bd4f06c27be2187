"""Console cold start benchmark (not a test): from process start to the first painted status screen with data, for
`ops-console` against a running ops server and for a bare Textual app painting the same table from a file, taken in
turns in one run; the ratio of the medians, and each program's peak memory (ru_maxrss).

    python bench/console_start.py [--runs 5] [--columns 120] [--lines 40]

Each program runs in a pseudo-terminal of its own (bench/pty_terminal.py) as an operator's terminal would run it,
a new Python process every run (imports, CSS, first layout and all). The clock starts just before the fork and
stops when the terminal receives the first component's since-time: for ops-console that is after it has asked the
server (who am I, then the status) and painted the status table; for the bare app, a DataTable with the same rows
read from a file. The ops server (`ops-server serve` in its own process, as server_load.py starts it) is started
and warmed first and is not part of the time. Peak memory is the console process's alone. Python's bytecode caches
are as the install left them (written by the first run): remove the __pycache__ dirs for a first-ever start."""

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import textwrap
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pty_terminal import Terminal
from server_load import OPS_SERVER, ROOT, TOKEN, free_port, start, wait_ready

# The floor: Python, Textual, one screen with a DataTable of the status's components.
BARE_APP = textwrap.dedent(
    """
    import json
    import sys
    from textual.app import App
    from textual.widgets import DataTable
    components = json.load(open(sys.argv[1]))["status"]["components"]
    class Bare(App):
        def compose(self):
            yield DataTable()
        def on_mount(self):
            table = self.query_one(DataTable)
            table.add_columns("Component", "State", "Since (UTC)")
            for c in components:
                table.add_row(c["name"], c["state"], c["since"][:19].replace("T", " "))
    Bare().run()
    """
)


def console_argv() -> list[str]:
    """`ops-console` as installed beside this Python, else its module."""
    script = Path(sys.executable).parent / "ops-console"
    return [str(script)] if script.exists() else [sys.executable, "-m", "console.cli"]


def first_since(status: bytes) -> bytes:
    """What both programs paint only once the status is in: the first component's since-time as the table shows
    it (UTC, to the second)."""
    since = json.loads(status)["status"]["components"][0]["since"]
    return datetime.fromisoformat(since.replace("Z", "+00:00")).strftime("%Y-%m-%d %H:%M:%S").encode()


def cold_start(argv: list[str], env: dict[str, str], marker: bytes, args: argparse.Namespace) -> tuple[float, int]:
    """Seconds from fork to `marker` painted, and the peak memory in KiB."""
    terminal = Terminal(argv, env, columns=args.columns, lines=args.lines)
    try:
        _, painted = terminal.wait_for(re.compile(re.escape(marker)), timeout=60)
    finally:
        terminal.close(quit_keys=b"\x11")  # ctrl+q: Textual's quit (ops-console also quits on q)
    return painted - terminal.started, terminal.max_rss_kib


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5, help="cold starts per program, taken in turns")
    parser.add_argument("--columns", type=int, default=120)
    parser.add_argument("--lines", type=int, default=40)
    args = parser.parse_args()

    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPS_API_TOKEN": TOKEN}
    times: dict[str, list[float]] = {"ops-console": [], "bare textual": []}
    memory: dict[str, int] = dict.fromkeys(times, 0)
    with tempfile.TemporaryDirectory() as data_dir:
        port = free_port()
        server = start(OPS_SERVER, str(port), data_dir, TOKEN)
        try:
            status = wait_ready(port, {"Authorization": f"Bearer {TOKEN}"})
            status_file = Path(data_dir) / "status.json"
            status_file.write_bytes(status)
            marker = first_since(status)
            programs = {
                "ops-console": [*console_argv(), "--url", f"http://127.0.0.1:{port}"],
                "bare textual": [sys.executable, "-c", BARE_APP, str(status_file)],
            }
            for _ in range(args.runs):
                for name, argv in programs.items():
                    seconds, peak = cold_start(argv, env, marker, args)
                    times[name].append(seconds)
                    memory[name] = max(memory[name], peak)
        finally:
            server.terminate()
            server.wait()

    print(f"cold start to the first painted status screen, {args.runs} runs each in turns, {args.columns}x{args.lines}")
    print(f"{'program':<14} {'median s':>9} {'min s':>7} {'max s':>7} {'peak RSS MiB':>13}   runs")
    for name, values in times.items():
        runs = ", ".join(f"{v:.2f}" for v in values)
        print(
            f"{name:<14} {statistics.median(values):>9.2f} {min(values):>7.2f} {max(values):>7.2f} "
            f"{memory[name] / 1024:>13.1f}   {runs}"
        )
    ratio = statistics.median(times["ops-console"]) / statistics.median(times["bare textual"])
    print(f"ratio ops-console/bare textual: {ratio:.2f}")
    summary: dict[str, object] = {
        name: {"median_s": round(statistics.median(values), 3), "peak_rss_mib": round(memory[name] / 1024, 1)}
        for name, values in times.items()
    }
    print(json.dumps({**summary, "ratio": round(ratio, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
