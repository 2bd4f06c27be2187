"""ops-console's command line, and the rule that the console does not import the server."""

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from console import cli
from console.cli import DEFAULT_URL, build_parser, demo_data_dir, main, run_demo


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


def test_demo_subcommand_and_its_data_dir_flag(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    demos: list[Path | None] = []
    monkeypatch.setattr(cli, "run_demo", demos.append)
    main(["demo"])
    main(["demo", "--data-dir", str(tmp_path / "kept")])
    assert demos == [None, tmp_path / "kept"]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve"])


def test_data_dir_is_for_the_demo_only(
    started: list[tuple[str, str | None]], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--data-dir", str(tmp_path)])
    assert info.value.code == 2
    assert "--data-dir is for 'ops-console demo' only" in capsys.readouterr().err
    assert started == []


def test_each_demo_gets_a_fresh_data_dir_removed_on_exit(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    seen: list[list[str]] = []

    def console_on(url: str, token: str | None) -> None:
        [data_dir] = tmp_path.glob("ops-console-demo-*")
        seen.append(sorted(path.name for path in data_dir.iterdir()))

    monkeypatch.setattr(cli, "run_console", console_on)
    run_demo()
    run_demo()
    assert len(seen) == 2
    assert all("server.log" in names for names in seen)
    assert list(tmp_path.glob("ops-console-demo-*")) == []  # nothing left behind


def test_a_closed_terminal_still_removes_the_demo_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(cli, "run_console", lambda url, token: os.kill(os.getpid(), signal.SIGHUP))
    before = signal.getsignal(signal.SIGHUP)
    with pytest.raises(SystemExit):
        run_demo()
    assert list(tmp_path.glob("ops-console-demo-*")) == []
    assert signal.getsignal(signal.SIGHUP) == before  # the demo's handler is gone again


def test_a_demo_data_dir_given_on_purpose_is_kept(tmp_path: Path) -> None:
    keep = tmp_path / "demo"
    with demo_data_dir(keep) as path:
        assert path == keep
        (path / "marker").write_text("still here")
    assert (keep / "marker").read_text() == "still here"


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
