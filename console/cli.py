"""ops-console [--url URL] [--token TOKEN] | ops-console demo"""

import argparse
import logging
import os
import secrets
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

from console.app import OpsConsole
from shared.client import OpsClient

DEFAULT_URL = "http://127.0.0.1:8000"


@contextmanager
def demo_data_dir(keep: Path | None = None) -> Iterator[Path]:
    """The demo server's data dir: `keep` when given (created if missing, left in place), else a fresh temporary
    dir removed on exit, so every demo starts with an empty audit trail like the plant it drives."""
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
        return
    path = Path(tempfile.mkdtemp(prefix="ops-console-demo-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ops-console",
        description="Terminal console of the ops server. 'ops-console demo' runs a server with a simulated plant "
        "in-process and opens the console on it.",
    )
    parser.add_argument("mode", nargs="?", choices=["demo"], help="run against an in-process demo server")
    parser.add_argument("--url", default=os.environ.get("OPS_URL", DEFAULT_URL), help="server URL (env OPS_URL)")
    parser.add_argument("--token", default=os.environ.get("OPS_API_TOKEN"), help="bearer token (env OPS_API_TOKEN)")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="demo only: keep the demo server's data here across runs (default: a temporary dir, removed on exit)",
    )
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
    with demo_data_dir(data_dir) as path, _exit_on_hangup():
        _run_demo_in(path)


@contextmanager
def _exit_on_hangup() -> Iterator[None]:
    """A closed terminal (SIGHUP, common over SSH) or a SIGTERM ends the demo like q does, so the temporary data dir
    is still removed."""

    def leave(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = {signum: signal.signal(signum, leave) for signum in (signal.SIGHUP, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _run_demo_in(data_dir: Path) -> None:
    # The only place the console touches the server package: a demo needs a server in-process.
    from pydantic import SecretStr

    from server.embedded import EmbeddedServer
    from server.settings import Settings

    # Server logs go to a file: anything written to the terminal would tear through the console's screen.
    log_file = logging.FileHandler(data_dir / "server.log")
    log_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    # Only the file while the console owns the terminal; the handlers before are back once it ends.
    previous_handlers, previous_level = root.handlers[:], root.level
    root.handlers = [log_file]
    root.setLevel(logging.INFO)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the console's own requests are in the audit trail
    token = secrets.token_urlsafe(32)
    server = EmbeddedServer(Settings(data_dir=data_dir, host="127.0.0.1", port=0, api_token=SecretStr(token)))
    url = server.start()
    try:
        run_console(url, token)
    finally:
        server.stop()
        # Detached and closed before a temporary data dir is removed: a later record must not reopen the file.
        root.handlers, root.level = previous_handlers, previous_level
        log_file.close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.mode == "demo":
        run_demo(args.data_dir)
        return
    if args.data_dir is not None:
        print(f"{parser.prog}: error: --data-dir is for 'ops-console demo' only", file=sys.stderr)
        raise SystemExit(2)
    problem = url_problem(args.url) or token_problem(args.token)
    if problem:
        # One line and status 2, as argparse does for a bad argument; nothing has started yet.
        print(f"{parser.prog}: error: {problem}", file=sys.stderr)
        raise SystemExit(2)
    run_console(args.url, args.token)


if __name__ == "__main__":
    main()
