"""NavTable: a row-cursor DataTable with the keys operators bring from k9s and less (j/k, home/end), and cell
updates that redraw only when the value changed."""

from typing import ClassVar, TypeVar

from textual.binding import Binding, BindingType
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey

CellType = TypeVar("CellType")


class NavTable(DataTable[CellType]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", show=False, id="table.down"),
        Binding("k", "cursor_up", "Up", show=False, id="table.up"),
        # DataTable binds home/end to horizontal scrolling, which a row table never needs: first and last row.
        Binding("home", "scroll_top", "First row", show=False, id="table.first"),
        Binding("end", "scroll_bottom", "Last row", show=False, id="table.last"),
    ]

    def __init__(self, *, id: str | None = None, zebra_stripes: bool = True) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=zebra_stripes)
        self.cell_updates = 0
        """Cells actually rewritten by `put` (tests read it to prove an idle refresh redraws nothing)."""

    def put(self, row_key: RowKey | str, column_key: ColumnKey | str, value: CellType) -> bool:
        """Set a cell only if its value differs: `update_cell` always refreshes the table, even for an equal value."""
        if self.get_cell(row_key, column_key) == value:
            return False
        self.update_cell(row_key, column_key, value)
        self.cell_updates += 1
        return True

    @property
    def cursor_key(self) -> str | None:
        """The key of the row under the cursor, or None while the table is empty."""
        if self.row_count == 0:
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return str(row_key.value)
