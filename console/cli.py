"""ops-console [--url URL] [--token TOKEN] | ops-console demo"""

import argparse
import logging
import os
import secrets
from collections.abc import Sequence
from pathlib import Path

from console.app import OpsConsole
from shared.client import OpsClient

DEFAULT_URL = "http://127.0.0.1:8000"


def demo_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "ops-console" / "demo"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ops-console",
        description="Terminal console of the ops server. 'ops-console demo' runs a server with a simulated plant "
        "in-process and opens the console on it.",
    )
    parser.add_argument("mode", nargs="?", choices=["demo"], help="run against an in-process demo server")
    parser.add_argument("--url", default=os.environ.get("OPS_URL", DEFAULT_URL), help="server URL (env OPS_URL)")
    parser.add_argument("--token", default=os.environ.get("OPS_API_TOKEN"), help="bearer token (env OPS_API_TOKEN)")
    return parser


def run_console(url: str, token: str | None) -> None:
    OpsConsole(OpsClient(url, token)).run()


def run_demo(data_dir: Path | None = None) -> None:
    """Start the embedded server with its plant on a free loopback port, run the console on it, stop on exit."""
    # The only place the console touches the server package: a demo needs a server in-process.
    from server.embedded import EmbeddedServer
    from server.settings import Settings

    data_dir = data_dir or demo_data_dir()
    data_dir.mkdir(parents=True, exist_ok=True)
    # Server logs go to a file: anything written to the terminal would tear through the console's screen.
    logging.basicConfig(filename=data_dir / "server.log", level=logging.INFO, force=True)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the console's own requests are in the audit trail
    token = secrets.token_urlsafe(32)
    server = EmbeddedServer(Settings(data_dir=data_dir, host="127.0.0.1", port=0, api_token=token))
    url = server.start()
    try:
        run_console(url, token)
    finally:
        server.stop()


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.mode == "demo":
        run_demo()
    else:
        run_console(args.url, args.token)


if __name__ == "__main__":
    main()
