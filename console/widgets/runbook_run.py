"""RunPanel: the run being followed (or the last one): command, request id, status in its colour, exit code,
elapsed time while it runs, and its log lines as they arrive."""

import math
import time
from collections.abc import Callable, Iterable

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Log, Static

from shared.runbooks import LogLine, RunbookRun

STATUS_CLASSES = ("-running", "-success", "-failed", "-timeout", "-aborted")


def log_line(line: LogLine) -> str:
    return f"{line.at:%H:%M:%S} {line.level:<5} {line.message}"


def run_duration(run: RunbookRun) -> str:
    if run.finished_at is None:
        return ""
    return f"{(run.finished_at - run.started_at).total_seconds():.1f} s"


class RunPanel(Vertical):
    def __init__(self, *, clock: Callable[[], float] = time.monotonic, id: str | None = None) -> None:
        super().__init__(id=id)
        self.clock = clock
        """Measures the elapsed time of a run (the app's clock, so tests can move it)."""
        self.header = Static("No runbook run yet: pick a command and press x.", id="run-header", markup=False)
        self.log_view = Log(id="run-log", max_lines=5000)
        self.request_id: str | None = None
        self.command: str | None = None
        self.current: RunbookRun | None = None
        self.lines: list[str] = []
        self._started: float | None = None
        self._abandoned: str | None = None
        """Why the followed run was given up on, if it was."""
        self._header_text = ""

    def compose(self) -> ComposeResult:
        yield self.header
        yield self.log_view

    def on_mount(self) -> None:
        self.set_interval(1.0, self._show_header)

    @property
    def running(self) -> bool:
        return self._started is not None

    def start(self, command: str, request_id: str) -> None:
        """A run was sent: follow it from here (clears the previous run's log)."""
        self.command, self.request_id, self.current = command, request_id, None
        self._started, self._abandoned = self.clock(), None
        self.lines = []
        self.log_view.clear()
        self._show_header()

    def append(self, run: RunbookRun, lines: Iterable[LogLine]) -> None:
        """`lines` arrived for `run` (as it is now)."""
        self.current = run
        new = [log_line(line) for line in lines]
        if new:
            self.lines += new
            self.log_view.write_lines(new)
        if run.finished_at is not None:
            self._started = None
        self._show_header()

    def abandon(self, note: str) -> None:
        """The run was sent but its end was not seen (the server refused it, say): stop following it."""
        self._started = None
        self._abandoned = note
        self._show_header()

    def _show_header(self) -> None:
        run = self.current
        if self.request_id is None:
            return
        status = run.status if run is not None else "sent"
        parts = [f"{self.command} · {self.request_id}", status.upper()]
        if self._abandoned is not None and run is None:
            status = "failed"  # in the failure colour: the server did not run it
            parts[1:] = ["NOT RUN"]
        if run is not None and run.exit_code is not None:
            parts.append(f"exit {run.exit_code}")
        if self._started is not None:
            parts.append(f"running for {math.floor(self.clock() - self._started)} s")
        elif run is not None and run.finished_at is not None:
            parts.append(f"took {run_duration(run)}")
        if self._abandoned is not None:
            parts.append(self._abandoned)
        text = " · ".join(parts)
        if text != self._header_text:
            self._header_text = text
            self.header.update(text)
        for name in STATUS_CLASSES:
            self.header.set_class(name == f"-{status}", name)
