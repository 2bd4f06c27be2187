"""The Inspector's filter bar: search text, feature, status, route and a time range in one row of compact boxes.
Enter in a box or a changed choice reads the whole bar: `FilterBar.Applied` carries the filters, `FilterBar.Refused`
what is wrong with them (nothing is sent then)."""

from collections.abc import Iterable
from dataclasses import dataclass

from textual import on
from textual.containers import Horizontal
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Input, Select

from console.screens.inspector_words import FilterInput, TraceFilters
from shared.orchestration import Route, TraceStatus

STATUSES: tuple[TraceStatus, ...] = ("success", "partial", "rejected", "error")
ROUTES: tuple[Route, ...] = ("direct", "orch", "reject")


class FilterBar(Horizontal):
    @dataclass
    class Applied(Message):
        """The bar was read and is valid: list what these filters match."""

        filters: TraceFilters
        submitted: bool
        """Enter in a box (the operator is done typing), not a changed choice."""

    @dataclass
    class Refused(Message):
        """The bar was read and a value is not valid; `problem` says which, in words."""

        problem: str

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._q = Input(placeholder="/ search", id="filter-q", compact=True)
        self._feature = Input(placeholder="feature", id="filter-feature", compact=True)
        self._status = Select([(s, s) for s in STATUSES], prompt="status", id="filter-status", compact=True)
        self._route = Select([(r, r) for r in ROUTES], prompt="route", id="filter-route", compact=True)
        self._from = Input(placeholder="from (UTC)", id="filter-from", compact=True)
        self._to = Input(placeholder="to (UTC)", id="filter-to", compact=True)

    def compose(self) -> Iterable[Widget]:
        return (self._q, self._feature, self._status, self._route, self._from, self._to)

    def focus_search(self) -> None:
        self._q.focus()

    def read(self) -> TraceFilters | str:
        """The filters the bar holds, or what is wrong with them."""
        status, route = self._status.value, self._route.value
        return FilterInput(
            q=self._q.value,
            feature=self._feature.value,
            status=status if isinstance(status, str) else None,
            route=route if isinstance(route, str) else None,
            from_text=self._from.value,
            to_text=self._to.value,
        ).parse()

    def clear(self) -> None:
        """Empty every box and choice, then report the (empty) filters once."""
        for box in (self._q, self._feature, self._from, self._to):
            box.value = ""
        with self.prevent(Select.Changed):
            self._status.clear()
            self._route.clear()
        self._report(submitted=False)

    def _report(self, *, submitted: bool) -> None:
        read = self.read()
        self.post_message(self.Refused(read) if isinstance(read, str) else self.Applied(read, submitted))

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._report(submitted=True)

    @on(Select.Changed)
    def _selected(self, event: Select.Changed) -> None:
        event.stop()
        self._report(submitted=False)
