"""Status screen: components with their state and since-when, the mode, open positions, database and MT5; keys
to start, stop, restart a component and to switch the orchestrator between dry-run and live."""

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import cast

from rich.text import Text
from textual import work
from textual.app import SystemCommand
from textual.binding import Binding
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import DataTable, Static
from textual.worker import Worker

from console.commanding import run_confirmed
from console.connection import ConnectionState
from console.messages import CommandExecuted, ConnectionLost
from console.screens.ops_screen import OpsScreen
from console.widgets.status_summary import StatusSummary
from shared.control import Command, ComponentStatus, StatusSnapshot
from shared.errors import OpsClientError, ServerUnavailable

# Mode changes are the orchestrator's, whichever row is selected.
MODE_COMPONENT = "orchestrator"
COMMAND_KEYS: dict[str, tuple[str, str]] = {
    # command: (title for the palette, help)
    "start": ("Start selected component", "Start the component under the cursor (key s)"),
    "stop": ("Stop selected component", "Stop the component under the cursor (key x)"),
    "restart": ("Restart selected component", "Restart the component under the cursor (key r)"),
    "dry-run-on": ("Dry-run on", "Orchestrator: stop sending real orders (key d)"),
    "dry-run-off": ("Dry-run off (go live)", "Orchestrator: send real orders again (key l)"),
}
STATE_COLOURS = {"running": "success", "stopped": "error", "restarting": "warning"}


def format_age(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def format_since(since: datetime) -> str:
    return since.strftime("%Y-%m-%d %H:%M:%S")


class StatusScreen(OpsScreen):
    HEADING = "Status"
    BINDINGS = [
        Binding("s", "command('start')", "Start", id="command.start"),
        Binding("x", "command('stop')", "Stop", id="command.stop"),
        Binding("r", "command('restart')", "Restart", id="command.restart"),
        Binding("d", "command('dry-run-on')", "Dry-run", id="command.dry-run-on"),
        Binding("l", "command('dry-run-off')", "Go live", id="command.dry-run-off"),
    ]

    snapshot: reactive[StatusSnapshot | None] = reactive(None)
    problem: reactive[str] = reactive("")
    """Why the last refresh failed other than by the server being down (e.g. 403), shown under the table."""

    def __init__(self) -> None:
        super().__init__()
        self._table: DataTable[str | Text] = DataTable(id="components", cursor_type="row", zebra_stripes=True)
        self._summary = StatusSummary(id="summary")
        self._footnote = Static(id="status-footnote")
        self._command_worker: Worker[None] | None = None

    def compose_body(self) -> Iterable[Widget]:
        yield self._summary
        yield self._table
        yield self._footnote

    def on_mount(self) -> None:
        self._table.add_column("Component", key="name", width=18)
        self._table.add_column("State", key="state", width=10)
        self._table.add_column("Since (UTC)", key="since", width=19)
        self._table.add_column("For", key="age", width=14)
        self._summary.show(None)
        self.watch(self.ops, "connection", self._on_connection, init=False)
        self.watch(self.ops, "read_only", lambda _ro: self.refresh_bindings())
        self.set_interval(self.ops.status_interval, self._poll)
        self._table.focus()

    def on_screen_resume(self) -> None:
        # Back from the confirm dialog the command worker refreshes once it knows the outcome; a second read now
        # would race the confirming request.
        if not self._command_in_flight:
            self._poll()

    def _on_connection(self, state: ConnectionState) -> None:
        self.set_class(state is not ConnectionState.CONNECTED and self.snapshot is not None, "-stale")
        self._show_footnote()
        if state is ConnectionState.CONNECTED:
            self.refresh_status()

    def _poll(self) -> None:
        if not self.is_current or self.ops.connection is not ConnectionState.CONNECTED:
            return
        # A slow answer is still worth having: an interval tick does not cancel a read in flight.
        if not any(w.node is self and w.group == "status" and w.is_running for w in self.workers):
            self.refresh_status()

    # --- reading ---

    @work(exclusive=True, group="status")
    async def refresh_status(self) -> None:
        try:
            response = await self.ops.client.status()
        except ServerUnavailable as exc:
            self.post_message(ConnectionLost(str(exc)))
            return
        except OpsClientError as exc:
            self.problem = str(exc)
            return
        self.problem = ""
        self.snapshot = response.status

    def watch_snapshot(self, snapshot: StatusSnapshot | None) -> None:
        self._summary.show(snapshot)
        if snapshot is not None:
            self._fill_table(snapshot.components, snapshot.as_of)
        self._show_footnote()

    def watch_problem(self) -> None:
        self._show_footnote()

    def _fill_table(self, components: list[ComponentStatus], as_of: datetime | None) -> None:
        table = self._table
        names = [c.name for c in components]
        if [str(key.value) for key in table.rows] != names:
            table.clear()
            for component in components:
                table.add_row(*self._cells(component, as_of), key=component.name)
            return
        for component in components:
            for column, value in zip(("name", "state", "since", "age"), self._cells(component, as_of), strict=True):
                table.update_cell(component.name, column, value)

    def _cells(self, component: ComponentStatus, as_of: datetime | None) -> tuple[str, Text, str, str]:
        colour = self.app.theme_variables.get(STATE_COLOURS.get(component.state, "warning"), "")
        state = Text(component.state, style=f"bold {colour}".strip())
        age = format_age(as_of - component.since) if as_of is not None else ""
        return component.name, state, format_since(component.since), age

    def _show_footnote(self) -> None:
        parts: list[str] = []
        if self.problem:
            parts.append(self.problem)
        if self.snapshot is not None and self.snapshot.as_of is not None:
            parts.append(f"as of {self.snapshot.as_of:%H:%M:%S} UTC")
        if self.ops.connection is not ConnectionState.CONNECTED:
            parts.append("not refreshing while disconnected")
        elif self.ops.read_only:
            parts.append("read-only token: no commands")
        else:
            parts.append("select a row, then s/x/r; d/l switch the mode")
        self._footnote.update(" · ".join(parts))
        self._footnote.set_class(bool(self.problem), "-problem")

    @property
    def selected_component(self) -> str | None:
        table = self._table
        if table.row_count == 0:
            return None
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return str(row_key.value)

    # --- commanding ---

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "command":
            return not self.ops.read_only
        return True

    def action_command(self, command: Command) -> None:
        if self.ops.read_only:
            return
        component = MODE_COMPONENT if command.startswith("dry-run") else self.selected_component
        if component is None:
            self.notify("No component selected yet.", severity="warning")
            return
        if self._command_in_flight:
            self.notify("Another command is waiting for its confirmation.", severity="warning")
            return
        # Kept from here, before the worker has run a step: a second key in the same tick sees it in flight.
        self._command_worker = self.run_command(command, component)

    @property
    def _command_in_flight(self) -> bool:
        """A command worker was started and has not finished (succeeded, failed or been cancelled)."""
        return self._command_worker is not None and not self._command_worker.is_finished

    @work(group="command")
    async def run_command(self, command: Command, component: str) -> None:
        result = await run_confirmed(self.ops, command, component)
        if result is not None:
            self.post_message(CommandExecuted(result))

    def on_command_executed(self, message: CommandExecuted) -> None:
        result = message.result
        state = "" if result.state == result.action else f", now {result.state}"
        self.notify(f"{result.component}: {result.action}{state}; mode {result.mode}", title="Executed")
        self.refresh_status()

    def palette_commands(self) -> Iterable[SystemCommand]:
        if self.ops.read_only:
            return
        for command, (title, help_text) in COMMAND_KEYS.items():
            yield SystemCommand(title, help_text, self._palette_action(command))

    def _palette_action(self, command: str) -> Callable[[], None]:
        return lambda: self.action_command(cast(Command, command))
