"""RunbookExecutor: runs one runbook script as a subprocess (never through a shell) in a process group of its own,
turns its output into log lines, and ends it — with its whole group — at its timeout or on abort: SIGTERM, a
grace period, then SIGKILL, so a script that ignores SIGTERM still ends.

A stdout line `INFO ...`, `WARN ...` or `ERROR ...` has that level (INFO without a prefix); every stderr line is
ERROR. A stdout line `HEALTH {json}` is the script's health report, not a log line."""

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from server.services.runbooks.manifest import ManifestError, RunbookSpec

Level = Literal["INFO", "WARN", "ERROR"]
Outcome = Literal["success", "failed", "timeout", "aborted"]
OnLine = Callable[[Level, str], None]
OnStarted = Callable[[int], Awaitable[None]]  # the script's process group id, as soon as it runs

_PREFIXES: tuple[tuple[str, Level], ...] = (
    ("INFO", "INFO"),
    ("WARNING", "WARN"),
    ("WARN", "WARN"),
    ("ERROR", "ERROR"),
)
_HEALTH_PREFIX = "HEALTH "
_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class ProcessResult:
    outcome: Outcome
    exit_code: int | None  # a signal's death as the shell shows it: 128 + the signal
    health: dict[str, Any] | None


def split_level(line: str) -> tuple[Level, str]:
    """The level a stdout line names with its prefix (`WARN disk low`, `ERROR: failed`), and the rest."""
    for prefix, level in _PREFIXES:
        if line.startswith(prefix):
            rest = line[len(prefix) :]
            if not rest or rest[0] in " :\t":
                return level, rest.lstrip(" :\t")
    return "INFO", line


def command_line(script: Path, arguments: Sequence[str]) -> list[str]:
    """A Python script runs with the server's own interpreter (not whatever `python3` is on PATH); any other
    executable runs as itself."""
    if script.suffix == ".py":
        return [sys.executable, str(script), *arguments]
    return [str(script), *arguments]


class RunbookExecutor:
    def __init__(self, *, kill_grace_seconds: float = 2.0, max_line_chars: int = 4000) -> None:
        self._grace = kill_grace_seconds
        self._max_line = max_line_chars

    async def run(
        self,
        spec: RunbookSpec,
        arguments: Sequence[str],
        env: Mapping[str, str],
        on_line: OnLine,
        abort: asyncio.Event,
        *,
        on_started: OnStarted | None = None,
    ) -> ProcessResult:
        """Run `spec`'s script to its end, its timeout or `abort`. Raises ManifestError when it cannot start.
        `on_started(pgid)` is awaited once the script runs (its process group is its pid): should it fail, the
        script is ended and the failure raised."""
        if not spec.script.is_file():
            raise ManifestError(f"runbook script for '{spec.command}' not found: {spec.script}")
        if spec.script.suffix != ".py" and not os.access(spec.script, os.X_OK):
            raise ManifestError(f"runbook script for '{spec.command}' is not executable: {spec.script}")
        try:
            process = await asyncio.create_subprocess_exec(
                *command_line(spec.script, arguments),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=dict(env),
                cwd=spec.script.parent,
                start_new_session=True,  # its own process group: a timeout ends whatever it started too
            )
        except OSError as exc:
            raise ManifestError(f"runbook script for '{spec.command}' cannot start: {exc.strerror or exc}") from None
        if on_started is not None:
            try:
                await on_started(process.pid)
            except BaseException:
                _signal_group(process.pid, signal.SIGKILL)
                with contextlib.suppress(Exception):
                    await process.wait()
                raise
        health: list[dict[str, Any]] = []

        def stdout_line(line: str) -> None:
            if line.startswith(_HEALTH_PREFIX):
                report = _health(line[len(_HEALTH_PREFIX) :])
                if report is not None:
                    health.append(report)
                    return
                on_line("WARN", "the script's HEALTH line is not a JSON object; kept as a log line")
            on_line(*split_level(line))

        assert process.stdout is not None and process.stderr is not None
        readers = asyncio.gather(
            self._read(process.stdout, stdout_line),
            self._read(process.stderr, lambda line: on_line("ERROR", line)),
        )
        try:
            outcome = await self._wait(process, spec.timeout_seconds, abort)
        except asyncio.CancelledError:  # the server is going down hard: leave nothing of the script behind
            _signal_group(process.pid, signal.SIGKILL)
            readers.cancel()
            raise
        if outcome is not None:
            await self._kill_group(process)
        else:
            # The script ended; anything it left running in its group goes too, so no reader waits on it.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(readers), timeout=1.0)
            _signal_group(process.pid, signal.SIGKILL)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(readers, timeout=self._grace + 1.0)
        code = process.returncode
        exit_code = 128 - code if code is not None and code < 0 else code
        if outcome is None:
            outcome = "success" if code == 0 else "failed"
        return ProcessResult(outcome, exit_code, health[-1] if health else None)

    async def _wait(self, process: asyncio.subprocess.Process, timeout: float, abort: asyncio.Event) -> Outcome | None:
        """None when the process ended by itself; else why it must be ended."""
        exited = asyncio.ensure_future(process.wait())
        aborted = asyncio.ensure_future(abort.wait())
        try:
            done, _ = await asyncio.wait({exited, aborted}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            aborted.cancel()
        if exited in done:
            return None
        return "aborted" if aborted in done else "timeout"

    async def _kill_group(self, process: asyncio.subprocess.Process) -> None:
        _signal_group(process.pid, signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), timeout=self._grace)
        # Whether or not the leader obeyed, nothing of its group outlives the grace period.
        _signal_group(process.pid, signal.SIGKILL)
        await process.wait()

    async def _read(self, stream: asyncio.StreamReader, on_line: Callable[[str], None]) -> None:
        """Lines of `stream` until its end, each cut to max_line_chars; read in chunks, so a line of any length
        (no newline for megabytes) cannot overrun the reader's buffer."""
        pending = b""
        dropping = False
        while chunk := await stream.read(_CHUNK):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for raw in lines:
                if dropping:  # the rest of a line already cut
                    dropping = False
                    continue
                on_line(self._text(raw))
            if len(pending) > self._max_line * 4:
                if not dropping:
                    on_line(self._text(pending))
                dropping, pending = True, b""
        if pending and not dropping:
            on_line(self._text(pending))

    def _text(self, raw: bytes) -> str:
        text = raw.decode("utf-8", "replace").rstrip("\r")
        if len(text) > self._max_line:
            return text[: self._max_line] + " [cut]"
        return text


def _health(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
