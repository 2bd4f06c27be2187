"""ops-console [--url URL] [--token TOKEN] | ops-console demo"""

import argparse
import logging
import os
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path

import httpx

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


def url_problem(url: str) -> str | None:
    """Why `url` cannot be the server's URL, or None when it can."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        return f"--url {url!r} is not a valid URL ({exc})"
    if parsed.scheme not in ("http", "https") or not parsed.host:
        return f"--url {url!r} must be an http:// or https:// URL with a host, e.g. {DEFAULT_URL}"
    if parsed.port is not None and not 0 < parsed.port < 65536:
        return f"--url {url!r} has a port out of range"
    return None


def token_problem(token: str | None) -> str | None:
    """Why `token` cannot go in an Authorization header, or None when it can. Never repeats the token."""
    if not token:
        return None
    if not token.isascii():
        return "--token (or OPS_API_TOKEN) contains a non-ASCII character; tokens are printable ASCII"
    if not all("!" <= ch <= "~" for ch in token):
        return "--token (or OPS_API_TOKEN) contains a space or control character; tokens are printable ASCII"
    return None


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
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.mode == "demo":
        run_demo()
        return
    problem = url_problem(args.url) or token_problem(args.token)
    if problem:
        # One line and status 2, as argparse does for a bad argument; nothing has started yet.
        print(f"{parser.prog}: error: {problem}", file=sys.stderr)
        raise SystemExit(2)
    run_console(args.url, args.token)


if __name__ == "__main__":
    main()
