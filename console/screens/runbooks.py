"""Runbooks screen: the commands the server's manifest offers, with descriptions; a form for the fields a run
takes; `x` runs the selected command in two steps (a dry run whose plan and log the confirm dialog shows, then
the real run, only on an explicit confirm); the run's log tails in while it runs, with its elapsed time, then its
status and exit code in colour; `a` aborts it through the dialog; `h` switches to the history, paged from the
server's cursor."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import ClassVar

from textual import on, work
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import ContentSwitcher, DataTable, Input, Static
from textual.worker import Worker

from console.commanding import run_flow
from console.connection import ConnectionState
from console.problems import read
from console.screens.ops_screen import OpsScreen
from console.screens.runbook_flow import RunbookSteps, never_retry
from console.widgets.nav_table import NavTable
from console.widgets.runbook_form import RunbookForm
from console.widgets.runbook_history import RunbookHistory
from console.widgets.runbook_run import RunPanel
from shared.runbooks import LogLine, RunbookCommand, RunbookCommandInfo, RunbookRun
from shared.scopes import Scope

TALL = 30
"""From this terminal height on, the run dialog lists the command's description too."""


@dataclass
class RunStarted(Message):
    """The real run was sent with `request_id`: the log panel follows it."""

    command: RunbookCommand
    request_id: str


@dataclass
class RunProgressed(Message):
    """The followed run is now `run`; `lines` are the log lines that arrived since the last read."""

    run: RunbookRun
    lines: list[LogLine]


@dataclass
class RunNotFollowed(Message):
    """The real run `request_id` was sent but its end was not seen (the server refused it, or the connection
    failed): the panel stops waiting for it."""

    request_id: str


class RunbooksScreen(OpsScreen):
    HEADING = "Runbooks"
    CSS_PATH = "runbooks.tcss"
    PAGE_SIZE: ClassVar[int] = 20
    REFRESH_SECONDS: ClassVar[float] = 10.0
    """How often the history is read again while the screen is shown (others run runbooks too)."""
    TAIL_SECONDS: ClassVar[float] = 0.5
    """How often a running run's log is read."""
    ACTION_SCOPES: ClassVar[Mapping[str, Scope]] = {"execute": Scope.RUNBOOKS_EXECUTE, "abort": Scope.RUNBOOKS_EXECUTE}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("x", "execute", "Run", id="runbooks.execute", tooltip="Dry-run the selected command, then confirm"),
        Binding("a", "abort", "Abort", id="runbooks.abort", tooltip="Abort the run in progress"),
        Binding("h", "toggle_history", "History", id="runbooks.history", tooltip="Switch between run log and history"),
        Binding("o", "older", "Older", id="runbooks.older", tooltip="Load the next older page of the history"),
        Binding("r", "refresh", "Refresh", id="runbooks.refresh", tooltip="Read commands and history again"),
        Binding("escape", "to_commands", "Commands", show=False, id="runbooks.commands", tooltip="Back to the list"),
    ]
    HELP_COLOURS = (
        ("green status", "the run succeeded (exit 0)"),
        ("red status", "failed or timed out"),
        ("yellow status", "aborted"),
    )

    commands: reactive[list[RunbookCommandInfo]] = reactive(list, always_update=True)
    history: reactive[list[RunbookRun]] = reactive(list, always_update=True)
    problem: reactive[str] = reactive("")

    def __init__(self) -> None:
        super().__init__()
        self._commands = NavTable[str](id="runbook-commands")
        self.form = RunbookForm(id="runbook-form")
        self.panel = RunPanel(id="run-panel")
        self._history = RunbookHistory(id="runbook-history")
        self._switcher = ContentSwitcher(initial="runbook-history", id="runbook-lower")
        self._footnote = Static(id="runbooks-footnote", markup=False)
        self._footnote_text = ""
        self.next_cursor: str | None = None
        self._run_worker: Worker[None] | None = None

    def compose_body(self) -> Iterable[Widget]:
        with Horizontal(id="runbook-upper"):
            yield self._commands
            yield self.form
        with self._switcher:
            yield self.panel
            yield self._history
        yield self._footnote

    def on_mount(self) -> None:
        self.panel.clock = self.ops.clock
        self._commands.add_column("Command", key="command", width=12)
        self._commands.add_column("Description", key="description")
        self.watch(self.ops, "connection", self._on_connection, init=False)
        self.watch(self.ops, "scopes", lambda _scopes: self._scopes_changed())
        self.set_interval(self.REFRESH_SECONDS, self._poll)
        self._commands.focus()
        self._show_footnote()

    def on_screen_resume(self) -> None:
        self._poll()

    def _scopes_changed(self) -> None:
        self.refresh_bindings()
        self._show_footnote()

    def _on_connection(self, state: ConnectionState) -> None:
        self._show_footnote()
        if state is ConnectionState.CONNECTED:
            self.action_refresh()

    def _poll(self) -> None:
        if self.is_current and self.ops.connection is ConnectionState.CONNECTED:
            if not self.commands:
                self.load_commands()
            self.load_history()

    # --- reading ---

    @work(exclusive=True, group="commands")
    async def load_commands(self) -> None:
        answer = await read(self, self.ops.client.runbooks.commands(), title="Runbooks", on_problem=self._set_problem)
        if answer is not None:
            self.commands = answer.commands

    def _set_problem(self, problem: str) -> None:
        self.problem = problem

    @work(exclusive=True, group="history")
    async def load_history(self, older: bool = False) -> None:
        cursor = self.next_cursor if older else None
        history = self.ops.client.runbooks.history(self.PAGE_SIZE, cursor=cursor)
        page = await read(self, history, title="Runbook history", on_problem=self._set_problem)
        if page is None:
            return
        self.problem = ""
        if older:
            known = {run.request_id for run in self.history}
            self.history = self.history + [run for run in page.items if run.request_id not in known]
            self.next_cursor = page.next_cursor
            return
        # The newest page again: runs on it replace what was loaded of them; older pages stay loaded.
        fresh = {run.request_id for run in page.items}
        rest = [run for run in self.history if run.request_id not in fresh]
        if not self.history:
            self.next_cursor = page.next_cursor
        self.history = page.items + rest

    def watch_commands(self, commands: list[RunbookCommandInfo]) -> None:
        table = self._commands
        if [str(key.value) for key in table.rows] == [c.command for c in commands]:
            for info in commands:
                table.put(info.command, "description", info.description)
            return
        table.clear()
        for info in commands:
            table.add_row(info.command, info.description, key=info.command)

    def watch_history(self, runs: list[RunbookRun]) -> None:
        self._history.show(runs)
        self._show_footnote()

    def watch_problem(self) -> None:
        self._show_footnote()

    @on(DataTable.RowHighlighted, "#runbook-history")
    def _history_cursor(self, event: DataTable.RowHighlighted) -> None:
        # Reaching the last row loads the next older page, as the audit screen does.
        if event.cursor_row == self._history.row_count - 1 and self.next_cursor is not None:
            self.load_history(older=True)

    # --- actions ---

    def action_refresh(self) -> None:
        if self.ops.connection is ConnectionState.CONNECTED:
            self.load_commands()
            self.load_history()

    def action_older(self) -> None:
        if self.next_cursor is None:
            self.notify("All history is loaded.", timeout=3)
            return
        self._switcher.current = "runbook-history"
        self.load_history(older=True)

    def action_toggle_history(self) -> None:
        showing = self._switcher.current
        self._switcher.current = "run-panel" if showing == "runbook-history" else "runbook-history"
        self._show_footnote()

    def action_to_commands(self) -> None:
        self._commands.focus()

    @on(Input.Submitted)
    def _field_submitted(self) -> None:
        self._commands.focus()

    @property
    def selected_command(self) -> RunbookCommand | None:
        key = self._commands.cursor_key
        return next((c.command for c in self.commands if c.command == key), None)

    @property
    def run_in_flight(self) -> bool:
        return self._run_worker is not None and not self._run_worker.is_finished

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not super().check_action(action, parameters):
            return False
        if action == "abort":
            return self.panel.running
        return True

    def action_execute(self) -> None:
        if not self.require_scope(Scope.RUNBOOKS_EXECUTE, "runbooks"):
            return
        command = self.selected_command
        if command is None:
            self.notify("No command selected yet.", severity="warning")
            return
        if self.run_in_flight:
            self.notify("A runbook from this console is still running or waiting for its confirmation.")
            return
        # Kept from here, before the worker has run a step: a second key in the same tick sees it in flight.
        self._run_worker = self.run_runbook(command)

    def _steps(self, description: str = "") -> RunbookSteps:
        return RunbookSteps(
            self.ops.client,
            description=description,
            started=lambda command, request_id: self.post_message(RunStarted(command, request_id)),
            progress=lambda run, lines: self.post_message(RunProgressed(run, lines)),
            tail_seconds=self.TAIL_SECONDS,
        )

    @work(group="execute")
    async def run_runbook(self, command: RunbookCommand) -> None:
        fields = self.form.fields()
        # The dialog lists the description only where it has room: at 80x24 it fits exactly without it.
        roomy = self.app.size.height >= TALL
        description = next((c.description for c in self.commands if c.command == command and roomy), "")
        steps = self._steps(description)
        run = await run_flow(
            self.ops,
            title=f"runbook {command}",
            request=steps.requester(command, fields),
            confirm=steps.run_for_real,
            retryable=never_retry,
            reason=fields.reason,
        )
        if run is None and steps.started_id is not None:
            # The real run was sent and failed to follow (refused, say; the status line says why). A message, so
            # it reaches the panel after the one that started it.
            self.post_message(RunNotFollowed(steps.started_id))
        if run is not None:
            exit_code = "" if run.exit_code is None else f", exit {run.exit_code}"
            text = f"{run.command}: {run.status}{exit_code}"
            self.notify(text, title="Runbook", severity="information" if run.status == "success" else "error")
        self.load_history()

    def action_abort(self) -> None:
        if not self.require_scope(Scope.RUNBOOKS_EXECUTE, "runbooks"):
            return
        request_id = self.panel.request_id
        if request_id is None or not self.panel.running:
            self.notify("No runbook of this console is running.")
            return
        self.abort_run(request_id)

    @work(exclusive=True, group="abort")
    async def abort_run(self, request_id: str) -> None:
        steps = self._steps()
        answer = await run_flow(
            self.ops,
            title="abort runbook",
            request=lambda _reason: steps.request_abort(request_id),
            confirm=steps.abort,
            retryable=never_retry,
        )
        if answer is not None:
            self.ops.say(f"abort of {answer.request_id} requested; the run is {answer.status}")

    # --- following a run ---

    def on_run_started(self, message: RunStarted) -> None:
        self.panel.start(message.command, message.request_id)
        self._switcher.current = "run-panel"
        self.refresh_bindings()
        self._show_footnote()

    def on_run_progressed(self, message: RunProgressed) -> None:
        if message.run.request_id != self.panel.request_id:
            return
        was_running = self.panel.running
        self.panel.append(message.run, message.lines)
        if was_running != self.panel.running:
            self.refresh_bindings()
            self._show_footnote()

    def on_run_not_followed(self, message: RunNotFollowed) -> None:
        if self.panel.running and self.panel.request_id == message.request_id:
            self.panel.abandon("not followed: see the status line and the history")
            self.refresh_bindings()
            self._show_footnote()
            self.load_history()

    def _show_footnote(self) -> None:
        parts: list[str] = []
        if self.problem:
            parts.append(self.problem)
        if self.ops.connection is not ConnectionState.CONNECTED:
            parts.append("not refreshing while disconnected")
        elif not self.ops.has_scope(Scope.RUNBOOKS_EXECUTE):
            parts.append("read-only token: running runbooks needs runbooks:execute")
        elif self.panel.running:
            parts.append("a: abort the run")
        else:
            parts.append("x: dry run, then confirm · tab: form · h: log/history")
        if self._switcher.current == "runbook-history":
            parts.append(f"{len(self.history)} runs" + (", o: older" if self.next_cursor else ""))
        text = " · ".join(parts)
        if text != self._footnote_text:
            self._footnote_text = text
            self._footnote.update(text)
        self._footnote.set_class(bool(self.problem), "-problem")
