"""StatusSummary: one line of pills — mode, open positions, and whether each vital part is up."""

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label

from shared.control import StatusSnapshot


def _up(value: bool | None) -> tuple[str, str]:
    if value is None:
        return "unknown", "-unknown"
    return ("up", "-ok") if value else ("down", "-bad")


class StatusSummary(Horizontal):
    """Pills are updated in place by `show()`; colours come from classes in app.tcss."""

    _PILLS = {
        "mode": "Mode",
        "positions": "Positions",
        "engine": "Engine",
        "position_manager": "Pos.mgr",
        "database": "DB",
        "mt5": "MT5",
    }

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._labels = {pill: Label("…", id=f"pill-{pill}", classes="pill -unknown") for pill in self._PILLS}

    def compose(self) -> ComposeResult:
        yield from self._labels.values()

    def show(self, snapshot: StatusSnapshot | None) -> None:
        if snapshot is None:
            for pill, name in self._PILLS.items():
                self._set(pill, f"{name} …", "-unknown")
            return
        mode_class = {"live": "-live", "dry-run": "-dry-run"}.get(snapshot.mode, "-unknown")
        self._set("mode", f"Mode {snapshot.mode.upper()}", mode_class)
        positions = "?" if snapshot.open_positions is None else str(snapshot.open_positions)
        self._set("positions", f"Positions {positions}", "-unknown" if snapshot.open_positions is None else "-info")
        for pill, value in (
            ("engine", snapshot.execution_engine),
            ("position_manager", snapshot.position_manager),
            ("database", snapshot.database),
            ("mt5", snapshot.mt5_up),
        ):
            text, css_class = _up(value)
            self._set(pill, f"{self._PILLS[pill]} {text}", css_class)

    def _set(self, pill: str, text: str, css_class: str) -> None:
        label = self._labels[pill]
        label.update(text)
        label.set_classes(f"pill {css_class}")
