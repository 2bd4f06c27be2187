"""ops-console's command line, and the rule that the console does not import the server."""

import subprocess
import sys
from pathlib import Path

import pytest

from console.cli import DEFAULT_URL, build_parser, demo_data_dir


def test_defaults_to_local_server_without_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPS_URL", raising=False)
    monkeypatch.delenv("OPS_API_TOKEN", raising=False)
    args = build_parser().parse_args([])
    assert (args.mode, args.url, args.token) == (None, DEFAULT_URL, None)
    assert DEFAULT_URL == "http://127.0.0.1:8000"


def test_environment_then_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPS_URL", "http://ops.internal:9000")
    monkeypatch.setenv("OPS_API_TOKEN", "from-env")
    args = build_parser().parse_args([])
    assert (args.url, args.token) == ("http://ops.internal:9000", "from-env")
    args = build_parser().parse_args(["--url", "http://other:1", "--token", "from-flag"])
    assert (args.url, args.token) == ("http://other:1", "from-flag")


def test_demo_subcommand_and_its_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert build_parser().parse_args(["demo"]).mode == "demo"
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert demo_data_dir() == tmp_path / "ops-console" / "demo"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve"])


def test_console_does_not_import_the_server() -> None:
    code = (
        "import sys, console.app, console.cli;"
        "bad = sorted(m for m in sys.modules if m == 'server' or m.startswith('server.'));"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
