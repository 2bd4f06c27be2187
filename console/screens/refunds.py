"""Refunds screen: the governed agents of the live + refunds family (contract 5). Three tabs, so it works at 80x24:
Board (the guardian, signal and refund agents' cards, refreshed; the refund worker's runtime state for operators),
Feed (the sanitized public feed, newest on top) and Ledger (keyset pages of the refund ledger with filters, the
selected entry's evidence record, read from the server once the cursor rests on it, beside or under it;
process-once and reveal, both through the ConfirmDialog).

Board and feed are public, so every token sees them; the ledger and process-once need refunds:operator, and the
reveal of customer fields refunds:pii. The ledger is always read masked and one page at a time: a reveal reads
exactly one entry unmasked, which the server audits."""

import asyncio
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import ClassVar, Literal, TypeVar, get_args

from textual import events, on, work
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import DataTable, Static, TabbedContent, TabPane
from textual.worker import Worker

from console.connection import ConnectionState
from console.messages import ConnectionAlive
from console.problems import CONNECTION_ERRORS, describe
from console.screens.ops_screen import OpsScreen
from console.screens.refunds_flows import process_entry, read_entry, reveal_customer
from console.widgets.agent_card import AgentCard
from console.widgets.evidence_detail import EntryFacts, EvidenceDetail
from console.widgets.ledger_table import LedgerTable
from console.widgets.live_feed import LiveFeed
from shared.errors import OpsClientError
from shared.live import (
    FEED_MAX_LIMIT,
    AgentName,
    CustomerData,
    DecisionName,
    EntryStatus,
    Evidence,
    LedgerEntry,
    LiveStatus,
    ProcessOnceResult,
    RefundAgentStatus,
)
from shared.scopes import Scope

Tab = Literal["board", "feed", "ledger"]
T = TypeVar("T")
PANES: dict[Tab, str] = {"board": "board", "feed": "feed-tab", "ledger": "ledger-tab"}
TABS: dict[str, Tab] = {pane: tab for tab, pane in PANES.items()}
AGENTS: tuple[AgentName, ...] = get_args(AgentName)
STATUS_FILTERS: tuple[EntryStatus | None, ...] = (None, *get_args(EntryStatus))
DECISION_FILTERS: tuple[DecisionName | None, ...] = (None, *get_args(DecisionName))
WIDE = 120
"""From this width on the evidence pane sits beside the ledger instead of under it."""
DETAIL_WIDTH = 42
LOCKED = "This token lacks refunds:operator: the ledger, its evidence and process-once are hidden."
TIME_FILTERS: tuple[tuple[str, timedelta | None], ...] = (
    ("all", None),
    ("last hour", timedelta(hours=1)),
    ("last 24 h", timedelta(days=1)),
    ("last 7 days", timedelta(days=7)),
)
"""The time filter's choices: entries created since that long before the filter was chosen."""
LEDGER_ONLY = frozenset({"reveal", "filter_status", "filter_decision", "filter_time", "older", "newer"})


def wall_clock() -> datetime:
    return datetime.now(UTC)


def _cycle(values: tuple[T, ...], current: T) -> T:
    return values[(values.index(current) + 1) % len(values)]


class RefundsScreen(OpsScreen):
    HEADING = "Refunds"
    CSS_PATH = "refunds.tcss"
    REFRESH_SECONDS: ClassVar[float] = 2.0
    """How often the ledger is read again while it is shown (operator reads count against the token)."""
    PUBLIC_REFRESH_SECONDS: ClassVar[float] = 6.0
    """How often the board or the feed is read again while shown. Public reads with a token count against the
    token (with the board's operator read, 20 of its 100 a minute by default), not the address it may share."""
    EVIDENCE_SETTLE_SECONDS: ClassVar[float] = 0.2
    """How long the cursor rests on an entry before its evidence is read: running down the page reads none."""
    PAGE_SIZE: ClassVar[int] = 50
    """Ledger entries per page (the server allows at most 200); the screen holds one page at a time."""
    FEED_LIMIT: ClassVar[int] = FEED_MAX_LIMIT
    ACTION_SCOPES: ClassVar[Mapping[str, Scope]] = {
        "show_ledger": Scope.REFUNDS_OPERATOR,
        "process": Scope.REFUNDS_OPERATOR,
        "filter_status": Scope.REFUNDS_OPERATOR,
        "filter_decision": Scope.REFUNDS_OPERATOR,
        "filter_time": Scope.REFUNDS_OPERATOR,
        "older": Scope.REFUNDS_OPERATOR,
        "newer": Scope.REFUNDS_OPERATOR,
        "reveal": Scope.REFUNDS_PII,
    }
    HELP_COLOURS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("green", "agent active; decision ALLOW; entry refunded"),
        ("yellow", "agent idle; REQUIRE_APPROVAL; entry awaiting approval or processing"),
        ("red", "agent degraded (its last action failed closed); DENY; entry denied or failed closed"),
    )
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("b", "show_board", "Board", id="refunds.board", tooltip="The three governed agents"),
        Binding("f", "show_feed", "Feed", id="refunds.feed", tooltip="The sanitized public feed, newest on top"),
        Binding("l", "show_ledger", "Ledger", id="refunds.ledger", tooltip="The refund ledger, a page at a time"),
        Binding(
            "p",
            "process",
            "Process",
            id="refunds.process",
            tooltip="Process the selected pending entry (else the newest pending) once, after confirming",
        ),
        Binding("v", "reveal", "Reveal", id="refunds.reveal", tooltip="Show the selected entry's customer (audited)"),
        Binding("s", "filter_status", "Status", id="refunds.status", tooltip="Filter the ledger by status"),
        Binding("d", "filter_decision", "Decision", id="refunds.decision", tooltip="Filter the ledger by decision"),
        Binding("t", "filter_time", "Time", id="refunds.time", tooltip="Filter the ledger: the last hour, day or week"),
        Binding(
            "right_square_bracket", "older", "Older", key_display="]", id="refunds.older", tooltip="Next older page"
        ),
        Binding("left_square_bracket", "newer", "Newer", key_display="[", id="refunds.newer", tooltip="Back a page"),
        Binding("r", "refresh", "Refresh", show=False, id="refunds.refresh", tooltip="Read the shown tab again"),
        Binding("escape", "back", "Back", show=False, id="refunds.back", tooltip="From the evidence to the ledger"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._tabs = TabbedContent(initial="board", id="refunds-tabs")
        self._cards = {name: AgentCard(name, id=f"card-{name}") for name in AGENTS}
        self._board_note = Static(id="board-note", markup=False)
        self._feed = LiveFeed(id="feed")
        self._feed_note = Static(id="feed-note", markup=False)
        self._ledger_bar = Static(id="ledger-bar", markup=False)
        self._ledger = LedgerTable(id="ledger")
        self._detail = EvidenceDetail(id="evidence")
        self._locked = Static(LOCKED, id="ledger-locked", markup=False)
        self.board: LiveStatus | None = None
        self.worker_status: RefundAgentStatus | None = None
        self.problems: dict[Tab, str] = {"board": "", "feed": "", "ledger": ""}
        """Why the last read of a tab failed other than by the connection (a 500, a 403), shown in place."""
        self.status_filter: EntryStatus | None = None
        self.decision_filter: DecisionName | None = None
        self.time_filter = 0
        """Index into TIME_FILTERS."""
        self.since: datetime | None = None
        """The time filter's start, fixed when it was chosen so that the pages walked stay one window."""
        self.cursors: list[str | None] = [None]
        """The keyset cursor of each page walked through, newest first: the last one is the page shown."""
        self.next_cursor: str | None = None
        self._paging = (False, False)
        """Whether `]` and `[` were offered when the footer was last refreshed."""
        self.page_loaded = False
        self.evidence: dict[int, Evidence] = {}
        """Evidence records read (or answered by process-once), by entry id: a record never changes."""
        self._evidence_wanted: int | None = None
        self.revealed: tuple[int, CustomerData] | None = None
        """The one entry whose customer is shown unmasked; dropped as soon as the cursor leaves it."""
        self._process_worker: Worker[None] | None = None
        self._texts: dict[str, str] = {}

    def compose_body(self) -> Iterable[Widget]:
        with self._tabs:
            with TabPane("Board", id="board"):
                with Horizontal(id="cards"):
                    yield from self._cards.values()
                yield self._board_note
            with TabPane("Feed", id="feed-tab"):
                yield self._feed_note
                yield self._feed
            with TabPane("Ledger", id="ledger-tab"):
                yield self._locked
                yield self._ledger_bar
                with Vertical(id="ledger-body"):
                    yield self._ledger
                    yield self._detail

    def on_mount(self) -> None:
        self._resized(self.size.width or 80)
        self.watch(self.ops, "connection", self._on_connection, init=False)
        self.watch(self.ops, "scopes", lambda _scopes: self._scopes_changed())
        self.set_interval(self.REFRESH_SECONDS, lambda: self._poll(public=False))
        self.set_interval(self.PUBLIC_REFRESH_SECONDS, lambda: self._poll(public=True))
        self._scopes_changed()

    def on_screen_resume(self) -> None:
        # Back from a confirm dialog the flow's worker refreshes once it knows the outcome.
        if not self._process_in_flight:
            self.refresh_tab()

    def on_screen_suspend(self) -> None:
        # Customer data stays on screen only while the operator is looking at it.
        if self.revealed is not None and not self._confirming:
            self.revealed = None
            self._show_detail()

    def on_resize(self, event: events.Resize) -> None:
        super().on_resize(event)
        self._resized(event.size.width)

    def _resized(self, width: int) -> None:
        wide = width >= WIDE
        self.set_class(wide, "-wide")
        self._feed.set_width(width - 2)
        self._ledger.set_width(width - 2 - (DETAIL_WIDTH if wide else 0))

    # --- tabs ---

    @property
    def active_tab(self) -> Tab:
        return TABS.get(self._tabs.active, "board")

    def _activate(self, tab: Tab) -> None:
        self._tabs.active = PANES[tab]

    def action_show_board(self) -> None:
        self._activate("board")

    def action_show_feed(self) -> None:
        self._activate("feed")

    def action_show_ledger(self) -> None:
        if self.require_scope(Scope.REFUNDS_OPERATOR):
            self._activate("ledger")

    @on(TabbedContent.TabActivated, "#refunds-tabs")
    def _tab_activated(self) -> None:
        self.refresh_bindings()
        tab = self.active_tab
        if tab == "feed":
            self._feed.focus()
        elif tab == "ledger" and self._operator:
            self._ledger.focus()
        if self.is_mounted:
            self.refresh_tab()

    # --- scopes ---

    @property
    def _operator(self) -> bool:
        return self.ops.has_scope(Scope.REFUNDS_OPERATOR)

    def require_scope(self, scope: Scope, what: str = "commands") -> bool:
        if what == "commands":  # the base's word for a key pressed without its scope: say which part
            what = "reveal" if scope is Scope.REFUNDS_PII else "the ledger and process-once"
        return super().require_scope(scope, what)

    def _scopes_changed(self) -> None:
        operator = self._operator
        self._locked.display = not operator
        self._ledger_bar.display = operator
        self.query_one("#ledger-body").display = operator
        if not operator:
            self.worker_status = None
            self._ledger.show([])
            self._detail.show(None)
        self.refresh_bindings()
        self._show_board_note()
        self._show_detail()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not super().check_action(action, parameters):
            return False
        if action in LEDGER_ONLY and self.active_tab != "ledger":
            return False
        if action == "older":
            return self.next_cursor is not None
        if action == "newer":
            return len(self.cursors) > 1
        if action == "back":
            return self.focused is self._detail
        return True

    # --- refreshing ---

    def _on_connection(self, state: ConnectionState) -> None:
        if state is ConnectionState.CONNECTED and self.is_current:
            self.refresh_tab()

    def _poll(self, *, public: bool) -> None:
        if not self.is_current or self.ops.connection is not ConnectionState.CONNECTED:
            return
        if public != (self.active_tab != "ledger"):
            return  # the other timer's tab
        # A slow answer is still worth having: an interval tick does not cancel a read in flight.
        if not any(w.node is self and w.group == self.active_tab and w.is_running for w in self.workers):
            self.refresh_tab()

    def action_refresh(self) -> None:
        self.refresh_tab()

    def refresh_tab(self) -> None:
        """Read the shown tab again (the others are read when shown: a token's rate limit is shared)."""
        match self.active_tab:
            case "board":
                self.load_board()
            case "feed":
                self.load_feed()
            case "ledger" if self._operator:
                self.load_ledger()

    def _failed(self, tab: Tab, exc: OpsClientError, title: str) -> None:
        if isinstance(exc, CONNECTION_ERRORS):
            self.ops.show_problem(exc, title=title)
        else:
            self._set_problem(tab, describe(exc))

    def _set_problem(self, tab: Tab, problem: str) -> None:
        if self.problems[tab] != problem:
            self.problems[tab] = problem
            {"board": self._show_board_note, "feed": self._show_feed_note, "ledger": self._show_ledger_bar}[tab]()

    @work(exclusive=True, group="board")
    async def load_board(self) -> None:
        live = self.ops.client.live
        try:
            board = await live.status()
            worker = await live.refund_agent_status() if self._operator else None
        except OpsClientError as exc:
            self._failed("board", exc, "Board")
            return
        self.post_message(ConnectionAlive())
        self.board, self.worker_status = board, worker
        for name, card in self._cards.items():
            card.show(getattr(board, name))
        self._set_problem("board", "")
        self._show_board_note()

    @work(exclusive=True, group="feed")
    async def load_feed(self) -> None:
        try:
            feed = await self.ops.client.live.feed(self.FEED_LIMIT)
        except OpsClientError as exc:
            self._failed("feed", exc, "Feed")
            return
        self.post_message(ConnectionAlive())
        self._feed.show(feed.items)
        self._set_problem("feed", "")
        self._show_feed_note()

    @work(exclusive=True, group="ledger")
    async def load_ledger(self, select: int | None = None) -> None:
        """The page the cursors point at, with the filters; `select` puts the cursor on that entry if shown."""
        query = (self.cursors[-1], self.status_filter, self.decision_filter, self.since)
        try:
            page = await self.ops.client.live.ledger(
                limit=self.PAGE_SIZE, cursor=query[0], status=query[1], decision=query[2], since=query[3], masked=True
            )
        except OpsClientError as exc:
            self._failed("ledger", exc, "Ledger")
            return
        if query != (self.cursors[-1], self.status_filter, self.decision_filter, self.since):
            return  # the operator moved on meanwhile; that read is on its way
        self.post_message(ConnectionAlive())
        self.page_loaded = True
        self.next_cursor = page.next_cursor
        self._ledger.show(page.items)
        if select is not None:
            self._ledger.select(select)
        self._set_problem("ledger", "")
        self._show_ledger_bar()
        self._show_detail()
        self._paging_keys_changed()

    # --- the ledger's keys ---

    def _paging_keys_changed(self) -> None:
        """Refresh the footer only when `]` or `[` comes or goes: a footer rebuild costs more than painting the
        page (bench/refunds_console.py), and paging through the middle of the ledger changes neither."""
        paging = (self.next_cursor is not None, len(self.cursors) > 1)
        if paging != self._paging:
            self._paging = paging
            self.refresh_bindings()

    def _new_page(self, cursors: list[str | None]) -> None:
        self.cursors = cursors
        self.revealed = None
        self._show_ledger_bar()
        self._paging_keys_changed()
        self.load_ledger()

    def action_older(self) -> None:
        if self.next_cursor is not None:
            self._new_page([*self.cursors, self.next_cursor])

    def action_newer(self) -> None:
        if len(self.cursors) > 1:
            self._new_page(self.cursors[:-1])

    def action_filter_status(self) -> None:
        self.status_filter = _cycle(STATUS_FILTERS, self.status_filter)
        self._new_page([None])

    def action_filter_decision(self) -> None:
        self.decision_filter = _cycle(DECISION_FILTERS, self.decision_filter)
        self._new_page([None])

    def action_filter_time(self) -> None:
        self.time_filter = (self.time_filter + 1) % len(TIME_FILTERS)
        window = TIME_FILTERS[self.time_filter][1]
        self.since = wall_clock() - window if window is not None else None
        self._new_page([None])

    def action_back(self) -> None:
        self._ledger.focus()

    @on(DataTable.RowHighlighted, "#ledger")
    def _row_highlighted(self) -> None:
        selected = self._ledger.selected
        if self.revealed is not None and (selected is None or selected.entry_id != self.revealed[0]):
            self.revealed = None
        self._show_detail()

    @on(DataTable.RowSelected, "#ledger")
    def _row_selected(self) -> None:
        self._detail.focus()
        self.refresh_bindings()

    def _show_detail(self, entry: LedgerEntry | None = None) -> None:
        entry = entry or self._ledger.selected
        if entry is None or not self._operator:
            self._detail.show(None)
            return
        revealed = self.revealed[1] if self.revealed is not None and self.revealed[0] == entry.entry_id else None
        can_reveal = self.ops.has_scope(Scope.REFUNDS_PII)
        evidence = self.evidence.get(entry.entry_id)
        self._detail.show(EntryFacts(entry, evidence, revealed, can_reveal))
        if evidence is None and entry.evidence_id is not None and self._evidence_wanted != entry.evidence_id:
            self._evidence_wanted = entry.evidence_id
            self.load_evidence(entry.entry_id, entry.evidence_id)

    @work(exclusive=True, group="evidence")
    async def load_evidence(self, entry_id: int, evidence_id: int) -> None:
        """The entry's evidence record, once the cursor has rested on it (a newer call cancels this one)."""
        try:
            await asyncio.sleep(self.EVIDENCE_SETTLE_SECONDS)
            record = await self.ops.client.live.evidence(evidence_id)
        except OpsClientError as exc:
            self._failed("ledger", exc, "Evidence")
            return
        finally:
            if self._evidence_wanted == evidence_id:
                self._evidence_wanted = None
        self.evidence[entry_id] = record
        selected = self._ledger.selected
        if selected is not None and selected.entry_id == entry_id:
            self._show_detail()

    # --- process-once and reveal ---

    @property
    def _process_in_flight(self) -> bool:
        return self._process_worker is not None and not self._process_worker.is_finished

    @property
    def _confirming(self) -> bool:
        return any(w.node is self and w.group in {"process", "reveal"} and w.is_running for w in self.workers)

    def action_process(self) -> None:
        if not self.require_scope(Scope.REFUNDS_OPERATOR):
            return
        if self._process_in_flight:
            self.notify("Another process-once is waiting for its confirmation.", severity="warning")
            return
        selected = self._ledger.selected if self.active_tab == "ledger" else None
        # Kept from here, before the worker has run a step: a second key in the same tick sees it in flight.
        self._process_worker = self.run_process(selected)

    @work(group="process")
    async def run_process(self, selected: LedgerEntry | None) -> None:
        entry = selected if selected is not None and selected.status == "pending" else None
        if entry is None:
            try:
                page = await self.ops.client.live.ledger(limit=1, status="pending", masked=True)
            except OpsClientError as exc:
                self.ops.show_problem(exc, title="Process")
                return
            if not page.items:
                self.ops.say("No pending refund requests: nothing to process.")
                return
            entry = page.items[0]
        result = await process_entry(self.ops, entry)
        if result is not None:
            await self._processed(result)

    async def _processed(self, result: ProcessOnceResult) -> None:
        if not result.processed or result.entry_id is None or result.evidence is None:
            self.ops.say(result.detail)
            self.refresh_tab()
            return
        entry_id = result.entry_id
        self.evidence[entry_id] = result.evidence
        self.notify(f"Entry {entry_id}: {result.status} ({result.evidence.outcome})", title="Processed")
        self._activate("ledger")
        try:
            fresh = await read_entry(self.ops.client.live, entry_id)
        except OpsClientError as exc:
            self._failed("ledger", exc, "Ledger")
            fresh = None
        if fresh is not None:
            self._show_detail(fresh)  # shown now, whether or not the page holds it
        self.load_ledger(select=entry_id)

    def action_reveal(self) -> None:
        if not self.require_scope(Scope.REFUNDS_PII):
            return
        entry = self._ledger.selected
        if entry is None:
            self.notify("No entry selected.", severity="warning")
            return
        self.run_reveal(entry)

    @work(exclusive=True, group="reveal")
    async def run_reveal(self, entry: LedgerEntry) -> None:
        customer = await reveal_customer(self.ops, entry)
        if customer is None:
            return
        selected = self._ledger.selected
        if selected is not None and selected.entry_id == entry.entry_id:
            self.revealed = (entry.entry_id, customer)
            self._show_detail()

    # --- the lines under the tabs ---

    def _put(self, widget: Static, text: str) -> None:
        key = widget.id or ""
        if self._texts.get(key) != text:
            self._texts[key] = text
            widget.update(text)

    def _show_board_note(self) -> None:
        parts = [self.problems["board"]] if self.problems["board"] else []
        if self.board is not None:
            parts.append(f"tenant {self.board.tenant} · public, sanitized")
        worker = self.worker_status
        if worker is not None:
            errors = worker.error_counts
            parts.append(
                f"refund worker {'running' if worker.running else 'stopped'} · queue {worker.queue_depth} · "
                f"processed {worker.processed} · failed closed {errors.failed_closed} · "
                f"worker errors {errors.worker_errors} · policy {worker.policy_point} · {worker.redaction_status}"
            )
        elif self.ops.identified and not self._operator:
            parts.append("worker details and the ledger need refunds:operator")
        self._put(self._board_note, "\n".join(parts))
        self._board_note.set_class(bool(self.problems["board"]), "-problem")

    def _show_feed_note(self) -> None:
        count = len(self._feed.events)
        line = self.problems["feed"] or f"{count} recent {'event' if count == 1 else 'events'}, newest on top"
        self._put(self._feed_note, line)
        self._feed_note.set_class(bool(self.problems["feed"]), "-problem")

    def _show_ledger_bar(self) -> None:
        if self.problems["ledger"]:
            line = self.problems["ledger"]
        else:
            filters = [
                *([f"status {self.status_filter} (s)"] if self.status_filter else []),
                *([f"decision {self.decision_filter} (d)"] if self.decision_filter else []),
                *([f"{TIME_FILTERS[self.time_filter][0]} (t)"] if self.since is not None else []),
            ]
            shown = self._ledger.row_count
            page = f"page {len(self.cursors)}" + (" (newest)" if len(self.cursors) == 1 else "")
            more = " · ]: older" if self.next_cursor else " · oldest page"
            line = " · ".join([page, f"{shown} shown", *(filters or ["no filter (s d t)"])]) + more
        self._put(self._ledger_bar, line)
        self._ledger_bar.set_class(bool(self.problems["ledger"]), "-problem")
