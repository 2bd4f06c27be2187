"""Status screen: the health strip, the components with their state and since-when, and a detail pane for the
selected one; keys to start, stop, restart a component and to switch the orchestrator between dry-run and live."""

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.binding import Binding, BindingType
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import DataTable, Static
from textual.worker import Worker

from console.commanding import run_confirmed
from console.connection import ConnectionState
from console.messages import CommandExecuted
from console.problems import CONNECTION_ERRORS, describe, read
from console.screens.audit_words import COMMAND_STEPS
from console.screens.ops_screen import OpsScreen
from console.widgets.component_detail import ComponentDetail, ComponentFacts, playbook_section
from console.widgets.health_strip import HealthStrip
from console.widgets.nav_table import NavTable
from shared.control import Command, ComponentStatus, StatusSnapshot
from shared.errors import OpsClientError
from shared.scopes import Scope

# Mode changes are the orchestrator's, whichever row is selected.
MODE_COMPONENT = "orchestrator"
STATE_COLOURS = {"running": "success", "stopped": "error", "restarting": "warning"}
COLUMNS = ("name", "state", "since", "age")
HISTORY_LIMIT = 20
"""Command entries read for a component's last command: the newest one is enough, a few more survive noise."""

Cell = str | Text


def format_age(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def format_since(since: datetime) -> str:
    return since.strftime("%Y-%m-%d %H:%M:%S")


def section_body(excerpt: str) -> str:
    """A playbook excerpt without its own `## ` heading, which the pane shows as its title."""
    first, _, rest = excerpt.partition("\n")
    return rest.strip() if first.startswith("## ") else excerpt


class StatusScreen(OpsScreen):
    HEADING = "Status"
    CSS_PATH = "status.tcss"
    REFRESH_SECONDS: ClassVar[float] = 2.0
    ACTION_SCOPES: ClassVar[Mapping[str, Scope]] = {"command": Scope.OPS_COMMAND}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "command('start')", "Start", id="command.start", tooltip="Start the component under the cursor"),
        Binding("x", "command('stop')", "Stop", id="command.stop", tooltip="Stop the component under the cursor"),
        Binding(
            "r", "command('restart')", "Restart", id="command.restart", tooltip="Restart the component under the cursor"
        ),
        Binding(
            "d", "command('dry-run-on')", "Dry-run", id="command.dry-run-on", tooltip="Orchestrator: stop real orders"
        ),
        Binding("l", "command('dry-run-off')", "Go live", id="command.dry-run-off", tooltip="Orchestrator: go live"),
        # Not in the footer (the footnote says it while the pane is open): at 80 columns every key counts.
        Binding(
            "escape", "close_detail", "Close detail", show=False, id="status.close-detail", tooltip="Close the pane"
        ),
    ]

    snapshot: reactive[StatusSnapshot | None] = reactive(None)
    problem: reactive[str] = reactive("")
    """Why the last refresh failed other than by the connection (e.g. a 500), in words, shown under the table."""

    def __init__(self) -> None:
        super().__init__()
        self._table: NavTable[Cell] = NavTable(id="components")
        self._strip = HealthStrip(id="health")
        self._detail = ComponentDetail(id="component-detail")
        self._footnote = Static(id="status-footnote", markup=False)
        self._footnote_text = ""
        self._command_worker: Worker[None] | None = None
        self._sections: list[str] | None = None
        self._section_bodies: dict[str, str] = {}

    def compose_body(self) -> Iterable[Widget]:
        yield self._strip
        yield self._table
        yield self._detail
        yield self._footnote

    def on_mount(self) -> None:
        self._table.add_column("Component", key="name", width=18)
        self._table.add_column("State", key="state", width=10)
        self._table.add_column("Since (UTC)", key="since", width=19)
        self._table.add_column("For", key="age", width=14)
        self._detail.display = False
        self.watch(self.ops, "connection", self._on_connection, init=False)
        self.watch(self.ops, "scopes", lambda _scopes: self._scopes_changed())
        self.set_interval(self.REFRESH_SECONDS, self._poll)
        self._show_footnote()
        self._table.focus()

    def on_screen_resume(self) -> None:
        # Back from the confirm dialog the command worker refreshes once it knows the outcome; a second read now
        # would race the confirming request.
        if not self._command_in_flight:
            self._poll()

    def _scopes_changed(self) -> None:
        self.refresh_bindings()
        self._show_footnote()

    def _on_connection(self, state: ConnectionState) -> None:
        # While disconnected the status shown is the last one read: dim it.
        stale = state is not ConnectionState.CONNECTED and self.snapshot is not None
        self._strip.stale = stale
        self.set_class(stale, "-stale")
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
        response = await read(self, self.ops.client.control.status(), title="Status", on_problem=self._set_problem)
        if response is None:
            return
        self.problem = ""
        self.snapshot = response.status

    def _set_problem(self, problem: str) -> None:
        self.problem = problem

    def watch_snapshot(self, old: StatusSnapshot | None, snapshot: StatusSnapshot | None) -> None:
        # Runs only when the snapshot differs from the last one (pydantic models compare by value).
        self._strip.show(snapshot)
        if snapshot is not None:
            self._fill_table(snapshot.components, snapshot.as_of)
            if old is None or old.mode != snapshot.mode:
                self.refresh_bindings()  # d and l depend on the mode
            self._follow_detail(old, snapshot)
        self._show_footnote()

    def watch_problem(self) -> None:
        self._show_footnote()

    def _fill_table(self, components: list[ComponentStatus], as_of: datetime | None) -> None:
        table = self._table
        if [str(key.value) for key in table.rows] != [c.name for c in components]:
            table.clear()
            for component in components:
                table.add_row(*self._cells(component, as_of), key=component.name)
            return
        # Rewrite only the cells that changed: an idle poll must not redraw the table.
        for component in components:
            for column, value in zip(COLUMNS, self._cells(component, as_of), strict=True):
                table.put(component.name, column, value)

    def _cells(self, component: ComponentStatus, as_of: datetime | None) -> list[Cell]:
        colour = self.app.theme_variables.get(STATE_COLOURS.get(component.state, "warning"), "")
        state = Text(component.state, style=f"bold {colour}".strip())
        age = format_age(as_of - component.since) if as_of is not None else ""
        return [component.name, state, format_since(component.since), age]

    def _show_footnote(self) -> None:
        parts: list[str] = []
        if self.problem:
            parts.append(self.problem)
        if self.snapshot is not None and self.snapshot.as_of is not None:
            parts.append(f"as of {self.snapshot.as_of:%H:%M:%S} UTC")
        if self.ops.connection is not ConnectionState.CONNECTED:
            parts.append("not refreshing while disconnected")
        elif not self.ops.has_scope(Scope.OPS_COMMAND):
            parts.append("read-only token: no commands")
        elif self._detail.display:
            parts.append("esc: close the detail · tab: scroll it")
        else:
            parts.append("enter: detail · s/x/r: start/stop/restart · d/l: mode")
        text = " · ".join(parts)
        if text != self._footnote_text:
            self._footnote_text = text
            self._footnote.update(text)
        self._footnote.set_class(bool(self.problem), "-problem")

    @property
    def selected_component(self) -> str | None:
        return self._table.cursor_key

    # --- the detail pane ---

    @on(DataTable.RowSelected, "#components")
    def _row_selected(self) -> None:
        self.open_detail()

    @on(DataTable.RowHighlighted, "#components")
    def _row_highlighted(self) -> None:
        if self._detail.display:
            self.open_detail()

    def open_detail(self) -> None:
        name = self.selected_component
        if name is None or self.snapshot is None:
            return
        self._detail.display = True
        self.add_class("-detail")
        self.refresh_bindings()
        self._show_footnote()
        self.load_detail(name)

    def action_close_detail(self) -> None:
        self._detail.display = False
        self.remove_class("-detail")
        self.refresh_bindings()
        self._show_footnote()
        self._table.focus()

    def _follow_detail(self, old: StatusSnapshot | None, snapshot: StatusSnapshot) -> None:
        """A component shown in the pane changed state: read its last command again."""
        facts = self._detail.facts
        if not self._detail.display or facts is None or old is None:
            return
        name = facts.component.name
        before = next((c for c in old.components if c.name == name), None)
        now = next((c for c in snapshot.components if c.name == name), None)
        if now is not None and (before is None or (before.state, before.since) != (now.state, now.since)):
            self.load_detail(name)

    @work(exclusive=True, group="detail")
    async def load_detail(self, name: str) -> None:
        snapshot = self.snapshot
        component = next((c for c in snapshot.components if c.name == name), None) if snapshot else None
        if snapshot is None or component is None:
            return
        facts = ComponentFacts(component, snapshot.as_of)
        self._detail.show(facts)
        control = self.ops.client.control
        try:
            history = await control.audit(HISTORY_LIMIT, q=name, changes_only=True)
        except CONNECTION_ERRORS as exc:
            self.ops.show_problem(exc, title=f"Detail of {name}")
            return
        except OpsClientError as exc:
            facts = replace(facts, history_loaded=True, history_problem=describe(exc))
        else:
            entry = next((e for e in history.results if e.target == name and e.action in COMMAND_STEPS), None)
            facts = replace(facts, history_loaded=True, last_entry=entry)
        self._detail.show(facts)
        try:
            if self._sections is None:
                self._sections = (await control.runbook()).sections
            section = playbook_section(name, snapshot.mode, self._sections)
            if section is not None and section not in self._section_bodies:
                self._section_bodies[section] = section_body((await control.runbook(section)).runbook_excerpt)
        except CONNECTION_ERRORS as exc:
            self.ops.show_problem(exc, title=f"Detail of {name}")
            return
        except OpsClientError as exc:
            facts = replace(facts, playbook_loaded=True, playbook_problem=describe(exc))
        else:
            body = self._section_bodies.get(section, "") if section is not None else ""
            facts = replace(facts, playbook_loaded=True, section=section, section_body=body)
        self._detail.show(facts)

    # --- commanding ---

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not super().check_action(action, parameters):
            return False
        if action == "close_detail":
            return bool(self._detail.display)
        if action != "command":
            return True
        # Offer a mode switch only when it would change the mode (never while the mode is unknown).
        mode = self.snapshot.mode if self.snapshot is not None else None
        if parameters == ("dry-run-on",):
            return mode == "live"
        if parameters == ("dry-run-off",):
            return mode == "dry-run"
        return True

    def action_command(self, command: Command) -> None:
        if not self.require_scope(Scope.OPS_COMMAND):
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
        if self._detail.display and self._detail.facts is not None:
            self.load_detail(self._detail.facts.component.name)
