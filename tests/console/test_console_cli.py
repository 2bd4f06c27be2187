"""ops-console's command line, and the rule that the console does not import the server."""

import subprocess
import sys
from pathlib import Path

import pytest

from console import cli
from console.cli import DEFAULT_URL, build_parser, demo_data_dir, main


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


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str | None]]:
    """The (url, token) the console was started with, instead of starting it."""
    calls: list[tuple[str, str | None]] = []
    monkeypatch.setattr(cli, "run_console", lambda url, token: calls.append((url, token)))
    monkeypatch.delenv("OPS_URL", raising=False)
    monkeypatch.delenv("OPS_API_TOKEN", raising=False)
    return calls


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--token", "tökén"], "--token (or OPS_API_TOKEN) contains a non-ASCII character"),
        (["--token", "two words"], "--token (or OPS_API_TOKEN) contains a space or control character"),
        (["--token", "line\nbreak"], "--token (or OPS_API_TOKEN) contains a space or control character"),
        (["--url", "http://[::1"], "--url 'http://[::1' is not a valid URL"),
        (["--url", "ops.internal:9000"], "--url 'ops.internal:9000' must be an http:// or https:// URL"),
        (["--url", "http://"], "--url 'http://' must be an http:// or https:// URL"),
        (["--url", "http://ops:99999"], "--url 'http://ops:99999' has a port out of range"),
    ],
)
def test_bad_url_or_token_is_a_one_line_error_not_a_traceback(
    argv: list[str], expected: str, started: list[tuple[str, str | None]], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)

    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"ops-console: error: {expected}")
    assert err.count("\n") == 1
    assert "tökén" not in err and "two words" not in err  # the token is never echoed
    assert started == []


def test_a_bad_token_from_the_environment_is_caught_too(
    monkeypatch: pytest.MonkeyPatch, started: list[tuple[str, str | None]], capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPS_API_TOKEN", "s€cret")
    with pytest.raises(SystemExit) as info:
        main([])

    assert info.value.code == 2
    assert "non-ASCII" in capsys.readouterr().err
    assert started == []


def test_good_url_and_token_start_the_console(started: list[tuple[str, str | None]]) -> None:
    main(["--url", "http://[::1]:8000", "--token", "abc-DEF_123.~+/="])
    main(["--url", "https://ops.internal/base"])

    assert started == [("http://[::1]:8000", "abc-DEF_123.~+/="), ("https://ops.internal/base", None)]


def test_the_real_entry_point_exits_2_without_a_traceback() -> None:
    code = "from console.cli import main; main(['--url', 'http://[::1'])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("ops-console: error: --url 'http://[::1' is not a valid URL")


def test_console_does_not_import_the_server() -> None:
    code = (
        "import sys, console.app, console.cli;"
        "bad = sorted(m for m in sys.modules if m == 'server' or m.startswith('server.'));"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
