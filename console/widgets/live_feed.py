"""LiveFeed: the sanitized public feed as a scrolling list, newest on top. New events go on top and the cursor
stays on the event it was on; an unchanged feed redraws nothing."""

from dataclasses import dataclass

from rich.text import Text

from console.screens.refunds_words import format_time
from console.widgets.agent_card import DECISION_COLOURS
from console.widgets.nav_table import NavTable
from shared.live import PublicEvent

WIDE = 110
"""From this table width on, the time shows its date and the event its sequence number and subject."""


@dataclass(frozen=True)
class FeedColumn:
    key: str
    label: str
    width: int


def feed_columns(width: int) -> tuple[FeedColumn, ...]:
    wide = width >= WIDE
    columns = [
        FeedColumn("at", "Time (UTC)", 14 if wide else 10),
        FeedColumn("agent", "Agent", 8),
        FeedColumn("action", "Action", 14),
        FeedColumn("decision", "Decision", 16),
        FeedColumn("outcome", "Outcome", 17),
    ]
    if wide:
        columns = [FeedColumn("sequence", "#", 8), *columns, FeedColumn("subject", "Subject", 9)]
    return tuple(columns)


class LiveFeed(NavTable[str | Text]):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.columns_shown: tuple[FeedColumn, ...] = ()
        self.events: list[PublicEvent] = []
        self.rebuilds = 0
        """How often the rows were rebuilt (tests read it: an unchanged feed must not rebuild)."""

    def set_width(self, width: int) -> None:
        columns = feed_columns(width)
        if columns == self.columns_shown:
            return
        self.columns_shown = columns
        self.clear(columns=True)
        for column in columns:
            self.add_column(column.label, key=column.key, width=column.width)
        self._fill(self.events)

    def show(self, events: list[PublicEvent]) -> bool:
        """Show the feed's events (newest first); False when they are the ones already shown."""
        if events == self.events:
            return False
        self.events = events
        self._fill(events)
        return True

    def _fill(self, events: list[PublicEvent]) -> None:
        selected = self.cursor_key
        self.clear()
        self.rebuilds += 1
        for event in events:
            self.add_row(*self._cells(event), key=str(event.sequence))
        if selected is not None and selected in self.rows:
            self.move_cursor(row=self.get_row_index(selected), animate=False)

    def _cells(self, event: PublicEvent) -> list[str | Text]:
        wide = any(c.key == "sequence" for c in self.columns_shown)
        colour = self.app.theme_variables.get(DECISION_COLOURS.get(event.decision or "", ""), "")
        cells: dict[str, str | Text] = {
            "sequence": str(event.sequence),
            "at": format_time(event.at, wide=wide),
            "agent": event.agent,
            "action": event.action,
            "decision": Text(event.decision or "-", style=colour),
            "outcome": event.outcome,
            "subject": event.subject,
        }
        return [cells[c.key] for c in self.columns_shown]
