"""RunPicker: which deposit to investigate, and how deeply. The recent suspicious deposits are listed, newest first
by their time (enter picks one); or type a transaction id and press enter. `ctrl+t` switches between a quick and a
deep investigation. Only the choice comes back: running it goes through the confirm dialog."""

from dataclasses import dataclass
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Input, Label, Static

from console.widgets.agent_format import format_at, short_id
from console.widgets.nav_table import NavTable
from shared.agent import Mode, Transaction


@dataclass(frozen=True)
class RunChoice:
    transaction_id: str
    mode: Mode
    transaction: Transaction | None
    """The deposit as listed, when it was picked from the list."""


class RunPicker(ModalScreen[RunChoice | None]):
    DEFAULT_CSS = """
    RunPicker {
        align: center middle;
    }
    #run-dialog {
        width: 76;
        max-width: 100%;
        height: auto;
        max-height: 90%;
        border: thick $primary;
        background: $surface;
        padding: 0 1;
    }
    #run-title {
        text-style: bold;
    }
    #run-problem {
        color: $text-error;
    }
    #run-suspicious {
        height: auto;
        max-height: 12;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+t", "toggle_mode", "Quick/deep", id="run.mode"),
        Binding("escape", "cancel", "Cancel", id="run.cancel"),
    ]

    mode: reactive[Mode] = reactive("quick")

    def __init__(self, suspicious: list[Transaction], problem: str = "") -> None:
        """`problem`: why the suspicious deposits could not be listed (the id can still be typed)."""
        super().__init__()
        # The server pages them as stored; a deposit reported late is stored after newer ones. Newest first by
        # when it happened (stable: storage order among equal times).
        self.suspicious = sorted(suspicious, key=lambda t: t.occurred_at, reverse=True)
        self.problem = problem
        self._input = Input(placeholder="transaction id, enter runs", id="run-transaction")
        self._table: NavTable[str] = NavTable(id="run-suspicious")
        self._mode_label = Static(id="run-mode", markup=False)
        self._answered = False

    def compose(self) -> ComposeResult:
        with Vertical(id="run-dialog"):
            yield Label("Run an investigation", id="run-title")
            yield self._input
            yield self._mode_label
            if self.problem:
                yield Static(self.problem, id="run-problem", markup=False)
            else:
                yield Label(f"Recent suspicious deposits ({len(self.suspicious)}), enter picks:", id="run-hint")
            yield self._table
        yield Footer()

    def on_mount(self) -> None:
        table = self._table
        table.add_column("When (UTC)", key="at", width=14)
        table.add_column("Pattern", key="pattern", width=18)
        table.add_column("Amount", key="amount", width=12)
        table.add_column("Transaction", key="id", width=14)
        for tx in self.suspicious:
            table.add_row(
                format_at(tx.occurred_at),
                tx.pattern or "-",
                f"{tx.amount} {tx.currency}",
                short_id(tx.transaction_id, 14),
                key=tx.transaction_id,
            )
        self.watch_mode()
        (table if self.suspicious else self._input).focus()

    def watch_mode(self) -> None:
        other = "deep" if self.mode == "quick" else "quick"
        self._mode_label.update(f"Mode: {self.mode} (ctrl+t: {other})")

    def action_toggle_mode(self) -> None:
        self.mode = "deep" if self.mode == "quick" else "quick"

    def action_cancel(self) -> None:
        self._answer(None)

    def _answer(self, choice: RunChoice | None) -> None:
        """Dismiss once. A second enter queued before the picker is gone (a double tap) would otherwise dismiss
        again, and dismissing pops whatever screen is on top by then."""
        if not self._answered:
            self._answered = True
            self.dismiss(choice)

    @on(Input.Submitted, "#run-transaction")
    def _typed(self, event: Input.Submitted) -> None:
        event.stop()
        transaction_id = event.value.strip()
        if transaction_id:
            known = next((t for t in self.suspicious if t.transaction_id == transaction_id), None)
            self._answer(RunChoice(transaction_id, self.mode, known))

    @on(DataTable.RowSelected, "#run-suspicious")
    def _picked(self, event: DataTable.RowSelected) -> None:
        event.stop()
        transaction_id = str(event.row_key.value)
        known = next((t for t in self.suspicious if t.transaction_id == transaction_id), None)
        self._answer(RunChoice(transaction_id, self.mode, known))
