"""Worklist screen: the agent's recommendations, most severe first (oldest first within a severity), filtered by
severity (`f`); more load with the server's cursor when the cursor reaches the last row (or `o`). `a` acknowledges
and `x` rejects the selected one with a comment, through the confirm dialog (`e` there writes the comment). A
recommendation someone decided meanwhile (409) is said in words and its row shows who decided it."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import events, on, work
from textual.binding import Binding, BindingType
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import DataTable, Static

from console.commanding import Prepared, run_flow
from console.connection import ConnectionState
from console.messages import ConnectionAlive
from console.problems import CONNECTION_ERRORS, describe
from console.screens.ops_screen import OpsScreen
from console.widgets.agent_format import format_at, short_id
from console.widgets.confirm_dialog import ConfirmView
from console.widgets.nav_table import NavTable
from console.widgets.reason_prompt import ReasonWording
from console.widgets.step_detail import item_text
from shared.agent import COMMENT_MAX_LENGTH, Decision, Recommendation, Severity
from shared.errors import Conflict, OpsClientError
from shared.scopes import Scope

SEVERITIES: tuple[Severity | None, ...] = (None, "critical", "high", "medium", "low")
SEVERITY_STYLES = {"critical": "bold white on red", "high": "bold red", "medium": "yellow", "low": "dim"}
STATUS_STYLES = {"PENDING": "", "ACKNOWLEDGED": "green", "REJECTED": "magenta"}
DECISION_WORDS: dict[str, str] = {"ACKNOWLEDGED": "acknowledge", "REJECTED": "reject"}
NO_COMMENT_CODE = "comment_required"
WIDE = 110


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int


def columns_for(width: int) -> tuple[Column, ...]:
    wide = width >= WIDE
    fixed = 8 + (36 if wide else 12) + 12 + (19 if wide else 14)
    room = width - 2 * 5 - 2 - fixed
    return (
        Column("severity", "Severity", 8),
        Column("action", "Action", max(16, min(40, room))),
        Column("transaction", "Transaction", 36 if wide else 12),
        Column("status", "Status", 12),
        Column("created", "Created (UTC)", 19 if wide else 14),
    )


def row_cells(rec: Recommendation, columns: tuple[Column, ...]) -> list[str | Text]:
    wide = columns[2].width >= 36
    cells: dict[str, str | Text] = {
        "severity": Text(rec.severity, style=SEVERITY_STYLES.get(rec.severity, "")),
        "action": rec.action,
        "transaction": rec.transaction_id if wide else short_id(rec.transaction_id, 12),
        "status": Text(rec.status.lower(), style=STATUS_STYLES.get(rec.status, "")),
        "created": format_at(rec.created_at, wide=wide),
    }
    return [cells[c.key] for c in columns]


@dataclass(frozen=True)
class AlreadyDecided:
    """The server said 409: someone decided this recommendation first."""

    detail: str


def comment_wording(rec: Recommendation, decision: Decision) -> ReasonWording:
    """The prompt `e` opens: a comment on this decision, required, kept with it (not a command's reason)."""
    return ReasonWording(
        kind="comment",
        title=f"Comment: why {DECISION_WORDS[decision]} {rec.action}?",
        placeholder="e.g. confirmed with the customer; ticket RISK-1234",
        note="Required. Saved with the decision, with who made it and when.",
        max_length=COMMENT_MAX_LENGTH,
    )


def decision_view(rec: Recommendation, decision: Decision, comment: str | None) -> ConfirmView:
    return ConfirmView(
        title=f"Confirm: {DECISION_WORDS[decision]} {rec.action}",
        rows=(
            ("Decision", decision),
            ("Recommendation", f"{rec.action} ({rec.severity})"),
            ("Transaction", rec.transaction_id),
            ("Rationale", rec.rationale),
            ("Comment", comment or "none yet: press e to write one (required)"),
        ),
        asks_reason=True,
        reason=comment,
        reason_wording=comment_wording(rec, decision),
    )


def needs_comment(exc: OpsClientError) -> bool:
    return exc.code == NO_COMMENT_CODE


class WorklistScreen(OpsScreen):
    HEADING = "Worklist"
    CSS_PATH = "worklist.tcss"
    PAGE_SIZE: ClassVar[int] = 50
    REFRESH_SECONDS: ClassVar[float] = 10.0
    """How often the first page is read again while the screen is shown (new recommendations arrive)."""
    ACTION_SCOPES: ClassVar[Mapping[str, Scope]] = {"decide": Scope.OPS_AGENT_ACK}
    HELP_COLOURS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("red severity", "critical (reversed) and high"),
        ("yellow severity", "medium"),
        ("green status", "acknowledged"),
        ("magenta status", "rejected"),
    )
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "decide('ACKNOWLEDGED')", "Acknowledge", id="worklist.ack", tooltip="Acknowledge, with a comment"),
        Binding("x", "decide('REJECTED')", "Reject", id="worklist.reject", tooltip="Reject, with a comment"),
        Binding("f", "cycle_severity", "Severity", id="worklist.severity", tooltip="Show one severity, then all"),
        Binding("o", "more", "More", id="worklist.more", tooltip="Load the next page"),
        Binding("r", "refresh", "Refresh", id="worklist.refresh", tooltip="Read the first page again"),
    ]

    items: reactive[list[Recommendation]] = reactive(list, always_update=True)
    severity: reactive[Severity | None] = reactive(None, init=False)
    problem: reactive[str] = reactive("", init=False)
    next_cursor: reactive[str | None] = reactive(None, init=False, repaint=False, bindings=True)
    """Where the next page starts (the server's opaque cursor); None once all are loaded, which hides `o More`."""

    def __init__(self) -> None:
        super().__init__()
        self._counts = Static(id="worklist-counts", markup=False)
        self._table: NavTable[str | Text] = NavTable(id="worklist")
        self._detail = Static(id="worklist-detail", markup=False)
        self._columns = columns_for(80)
        self._loaded_severity: Severity | None = None

    def compose_body(self) -> Iterable[Widget]:
        yield self._counts
        yield self._table
        yield self._detail

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "more" and self.next_cursor is None:
            return False  # everything is loaded: the footer offers no `o More`
        return super().check_action(action, parameters)

    def on_mount(self) -> None:
        self._columns = columns_for(self.size.width or 80)
        self._add_columns()
        self.watch(self.ops, "connection", self._on_connection, init=False)
        self.set_interval(self.REFRESH_SECONDS, self._refresh_tick)
        self._show_counts()
        self._table.focus()

    def on_screen_resume(self) -> None:
        self.action_refresh()

    def on_resize(self, event: events.Resize) -> None:
        super().on_resize(event)
        columns = columns_for(event.size.width)
        if columns != self._columns:
            self._columns = columns
            self._table.clear(columns=True)
            self._add_columns()
            self._fill_table()

    def _add_columns(self) -> None:
        for column in self._columns:
            self._table.add_column(column.label, key=column.key, width=column.width)

    def _on_connection(self, state: ConnectionState) -> None:
        if state is ConnectionState.CONNECTED and self.is_current:
            self.load_first()

    def _busy(self, *groups: str) -> bool:
        return any(w.node is self and w.group in groups and w.is_running for w in self.workers)

    def _refresh_tick(self) -> None:
        # Only while nothing beyond the first page is loaded: a refresh would drop the pages the operator paged to.
        connected = self.ops.connection is ConnectionState.CONNECTED
        if self.is_current and connected and len(self.items) <= self.PAGE_SIZE and not self._busy("first", "more"):
            self.load_first()

    # --- reading ---

    async def _read(self, cursor: str | None) -> tuple[list[Recommendation], str | None] | None:
        try:
            page = await self.ops.client.agent.worklist(self.PAGE_SIZE, cursor=cursor, severity=self.severity)
        except CONNECTION_ERRORS as exc:
            self.ops.show_problem(exc, title="Worklist")
            return None
        except OpsClientError as exc:
            self.problem = describe(exc)
            return None
        self.post_message(ConnectionAlive())
        self.problem = ""
        return page.items, page.next_cursor

    @work(exclusive=True, group="first")
    async def load_first(self) -> None:
        severity = self.severity
        read = await self._read(None)
        if read is None:
            return
        self._loaded_severity = severity
        # The cursor first: setting the items redraws the counts line, which says whether more can be loaded.
        self.next_cursor = read[1]
        self.items = read[0]

    @work(exclusive=True, group="more")
    async def load_more(self) -> None:
        cursor, severity = self.next_cursor, self.severity
        if cursor is None:
            return
        read = await self._read(cursor)
        if read is None or cursor != self.next_cursor or severity != self._loaded_severity:
            return  # the first page was read again meanwhile: this page belongs to the old list
        known = {r.recommendation_id for r in self.items}
        new = [r for r in read[0] if r.recommendation_id not in known]
        self.next_cursor = read[1]
        self.set_reactive(WorklistScreen.items, self.items + new)
        for rec in new:
            self._table.add_row(*row_cells(rec, self._columns), key=rec.recommendation_id)
        self._show_counts()

    # --- the table ---

    def watch_items(self) -> None:
        self._fill_table()

    def watch_problem(self) -> None:
        self._show_counts()

    def watch_severity(self) -> None:
        self._show_counts()
        self.action_refresh()

    def _fill_table(self) -> None:
        table = self._table
        keys = [r.recommendation_id for r in self.items]
        if keys == [str(k.value) for k in table.rows]:
            for rec in self.items:
                for column, cell in zip(self._columns, row_cells(rec, self._columns), strict=True):
                    table.put(rec.recommendation_id, column.key, cell)
        else:
            selected = table.cursor_key
            table.clear()
            for rec in self.items:
                table.add_row(*row_cells(rec, self._columns), key=rec.recommendation_id)
            if selected is not None and selected in table.rows:
                table.move_cursor(row=table.get_row_index(selected), animate=False)
        self._show_counts()
        self._show_detail()

    def _show_counts(self) -> None:
        if self.problem:
            text = self.problem
        else:
            pending = sum(1 for r in self.items if r.status == "PENDING")
            text = f"{len(self.items)} recommendation{'' if len(self.items) == 1 else 's'}, {pending} pending"
            if self._loaded_severity:
                text += f", {self._loaded_severity} only"
            text += " · more: o" if self.next_cursor else " · all loaded"
            text += " · f severity"
        self._counts.update(text)
        self._counts.set_class(bool(self.problem), "-problem")

    @property
    def selected(self) -> Recommendation | None:
        key = self._table.cursor_key
        return next((r for r in self.items if r.recommendation_id == key), None)

    def _show_detail(self) -> None:
        rec = self.selected
        self._detail.update(item_text(rec) if rec is not None else "No recommendations yet: investigations add them.")

    @on(DataTable.RowHighlighted, "#worklist")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()
        at_end = event.cursor_row == self._table.row_count - 1 and self.next_cursor is not None
        if at_end and not self._busy("more", "first"):
            self.load_more()

    def _replace(self, rec: Recommendation) -> None:
        """One recommendation as the server now has it, in place."""
        self.set_reactive(
            WorklistScreen.items, [rec if r.recommendation_id == rec.recommendation_id else r for r in self.items]
        )
        self._fill_table()

    # --- actions ---

    def action_refresh(self) -> None:
        if self.ops.connection is ConnectionState.CONNECTED:
            self.load_first()

    def action_cycle_severity(self) -> None:
        self.severity = SEVERITIES[(SEVERITIES.index(self.severity) + 1) % len(SEVERITIES)]

    def action_more(self) -> None:
        if self.next_cursor is None:
            self.notify("All recommendations are loaded.", timeout=3)
            return
        self.load_more()

    def action_decide(self, decision: Decision) -> None:
        if not self.require_scope(Scope.OPS_AGENT_ACK, "decisions"):
            return
        rec = self.selected
        if rec is None:
            self.ops.say("No recommendation selected.", severity="warning")
            return
        if rec.status != "PENDING":
            self.ops.say(f"Already {rec.status.lower()} by {rec.decided_by or 'someone'}.", severity="warning")
            return
        self.decide(rec, decision)

    @work(exclusive=True, group="decide")
    async def decide(self, rec: Recommendation, decision: Decision) -> None:
        agent = self.ops.client.agent

        async def request(comment: str | None) -> Prepared[str | None]:
            return Prepared(decision_view(rec, decision, comment), comment)

        async def confirm(comment: str | None) -> Recommendation | AlreadyDecided:
            if not comment:
                raise OpsClientError(
                    "a comment is required",
                    code=NO_COMMENT_CODE,
                    detail="A comment is required: e writes one, then r asks again.",
                )
            try:
                return await agent.acknowledge(rec.recommendation_id, decision, comment)
            except Conflict as exc:
                return AlreadyDecided(exc.detail or "")

        title = f"{DECISION_WORDS[decision].capitalize()} {rec.action}"
        outcome = await run_flow(self.ops, title=title, request=request, confirm=confirm, retryable=needs_comment)
        match outcome:
            case Recommendation():
                self._replace(outcome)
                self.ops.say(f"{title}: {outcome.status.lower()} ({short_id(outcome.recommendation_id)}).")
            case AlreadyDecided():
                why = f" ({outcome.detail.rstrip('.')})" if outcome.detail else ""
                self.ops.say(
                    f"{title}: someone decided this recommendation first{why}; nothing was changed.",
                    severity="warning",
                )
                self.load_first()
