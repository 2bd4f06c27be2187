"""LedgerTable: one keyset page of the refund ledger, newest first. The screen never loads more than a page, so the
table stays the same size however long the ledger grows; a refresh rewrites only the cells that changed."""

from dataclasses import dataclass

from rich.text import Text

from console.screens.refunds_words import format_amount, format_when
from console.widgets.agent_card import DECISION_COLOURS
from console.widgets.nav_table import NavTable
from shared.live import LedgerEntry

STATUS_COLOURS = {
    "pending": "primary",
    "processing": "warning",
    "refunded": "success",
    "denied": "error",
    "awaiting_approval": "warning",
    "failed_closed": "error",
}
LONG_TIME = 140
"""From this table width on, the creation time shows its year and seconds."""
CUSTOMER_WIDTH = 14
MIN_FLAGS_WIDTH = 16
MAX_FLAGS_WIDTH = 40


@dataclass(frozen=True)
class LedgerColumn:
    key: str
    label: str
    width: int


def ledger_columns(width: int) -> tuple[LedgerColumn, ...]:
    """Columns for a table `width` wide: the (masked) customer and the risk flags come when there is room."""
    long_time = width >= LONG_TIME
    columns = [
        LedgerColumn("entry", "Entry", 7),
        LedgerColumn("at", "Created (UTC)" if long_time else "Created", 19 if long_time else 11),
        LedgerColumn("status", "Status", 17),
        LedgerColumn("decision", "Decision", 16),
        LedgerColumn("amount", "Amount", 13),
    ]
    room = width - 2 - sum(c.width + 2 for c in columns)  # each column pads 1 on both sides; 2 for the scrollbar
    if room >= CUSTOMER_WIDTH + 2 + MIN_FLAGS_WIDTH + 2:
        columns.append(LedgerColumn("customer", "Customer", CUSTOMER_WIDTH))
        flags = min(MAX_FLAGS_WIDTH, room - CUSTOMER_WIDTH - 2 - 2)
        columns.append(LedgerColumn("flags", "Risk flags", flags))
    return tuple(columns)


class LedgerTable(NavTable[str | Text]):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.columns_shown: tuple[LedgerColumn, ...] = ()
        self.entries: list[LedgerEntry] = []
        self.rebuilds = 0
        """How often the rows were rebuilt (a refresh of the same page rewrites cells, not rows)."""

    def set_width(self, width: int) -> None:
        columns = ledger_columns(width)
        if columns == self.columns_shown:
            return
        self.columns_shown = columns
        self.clear(columns=True)
        for column in columns:
            self.add_column(column.label, key=column.key, width=column.width)
        self._rebuild(self.entries)

    def show(self, entries: list[LedgerEntry], *, keep_cursor: bool = True) -> None:
        """Show one page; with `keep_cursor` the cursor stays on the entry it was on if that is still shown."""
        same_rows = [str(key.value) for key in self.rows] == [str(e.entry_id) for e in entries]
        self.entries = entries
        if same_rows:
            for entry in entries:
                for column, value in zip(self.columns_shown, self._cells(entry), strict=True):
                    self.put(str(entry.entry_id), column.key, value)
            return
        self._rebuild(entries, keep_cursor=keep_cursor)

    def _rebuild(self, entries: list[LedgerEntry], *, keep_cursor: bool = True) -> None:
        selected = self.cursor_key if keep_cursor else None
        self.clear()
        self.rebuilds += 1
        for entry in entries:
            self.add_row(*self._cells(entry), key=str(entry.entry_id))
        if selected is not None and selected in self.rows:
            self.move_cursor(row=self.get_row_index(selected), animate=False)

    def select(self, entry_id: int) -> bool:
        key = str(entry_id)
        if key not in self.rows:
            return False
        self.move_cursor(row=self.get_row_index(key), animate=False)
        return True

    @property
    def selected(self) -> LedgerEntry | None:
        key = self.cursor_key
        return next((e for e in self.entries if str(e.entry_id) == key), None) if key is not None else None

    def _cells(self, entry: LedgerEntry) -> list[str | Text]:
        colours = self.app.theme_variables
        wide = any(c.key == "at" and c.width > 11 for c in self.columns_shown)
        decision_colour = DECISION_COLOURS.get(entry.decision or "", "")
        cells: dict[str, str | Text] = {
            "entry": str(entry.entry_id),
            "at": format_when(entry.created_at, wide=wide),
            "status": Text(entry.status, style=colours.get(STATUS_COLOURS[entry.status], "")),
            "decision": Text(entry.decision or "-", style=colours.get(decision_colour, "")),
            "amount": Text(format_amount(entry.amount_minor, entry.currency), justify="right"),
            "customer": entry.customer.name,
            "flags": ", ".join(entry.risk_flags) or "-",
        }
        return [cells[c.key] for c in self.columns_shown]
