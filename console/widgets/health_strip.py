"""HealthStrip: the plant at a glance — mode, open positions, a chip per component with its state, and a red
warning when the venue is live while a component is not running."""

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.widgets import Label

from shared.control import ComponentState, ComponentStatus, StatusSnapshot

SHORT_NAMES = {
    "orchestrator": "orch",
    "connector": "connector",
    "database": "db",
    "execution_engine": "engine",
    "position_manager": "pos.mgr",
    "mt5_bridge": "mt5",
}
STATE_WORDS: dict[ComponentState, tuple[str, str]] = {
    # state: (word on the chip, css class)
    "running": ("up", "-ok"),
    "stopped": ("down", "-bad"),
    "restarting": ("restarting", "-busy"),
}


def live_warning(snapshot: StatusSnapshot) -> str:
    """Why this snapshot is dangerous to trade on, or '' when it is not: live (or of unknown mode, when the
    orchestrator itself is down) with any component not running."""
    if snapshot.mode == "dry-run":
        return ""
    down = [c.name for c in snapshot.components if c.state != "running"]
    if not down:
        return ""
    if snapshot.mode == "unknown":
        return f"mode unknown: {', '.join(down)} not running"
    return f"LIVE with {', '.join(down)} not running"


class HealthStrip(Vertical):
    """Labels are created once and rewritten only when their text or colour changes, so an idle poll redraws
    nothing. `stale` dims the strip while the status shown is the last one read before the connection was lost."""

    stale: reactive[bool] = reactive(False)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._mode = Label("Mode …", id="pill-mode", classes="pill -unknown")
        self._positions = Label("Positions …", id="pill-positions", classes="pill -unknown")
        self._warning = Label("", id="health-warning")
        self._chips_row = Horizontal(id="health-chips")
        self._chips: dict[str, Label] = {}
        self._shown: dict[Label, tuple[str, str]] = {}
        self.label_writes = 0
        """Labels rewritten so far (tests read it to prove an idle refresh redraws nothing)."""

    def compose(self) -> ComposeResult:
        with Horizontal(id="health-summary"):
            yield self._mode
            yield self._positions
            yield self._warning
        yield self._chips_row

    def watch_stale(self, stale: bool) -> None:
        self.set_class(stale, "-stale")

    def show(self, snapshot: StatusSnapshot | None) -> None:
        if snapshot is None:
            return
        mode_class = {"live": "-live", "dry-run": "-dry-run"}.get(snapshot.mode, "-bad")
        self._set(self._mode, f"Mode {snapshot.mode.upper()}", f"pill {mode_class}")
        if snapshot.open_positions is None:
            self._set(self._positions, "Positions ?", "pill -unknown")
        else:
            self._set(self._positions, f"Positions {snapshot.open_positions}", "pill -info")
        warning = live_warning(snapshot)
        self._set(self._warning, f"▲ {warning}" if warning else "", "-alarm" if warning else "")
        self._show_chips(snapshot.components)

    def _show_chips(self, components: list[ComponentStatus]) -> None:
        if list(self._chips) != [c.name for c in components]:
            # The plant's component list is fixed; this runs on the first snapshot only.
            for chip in self._chips.values():
                self._shown.pop(chip, None)
            self._chips_row.remove_children()
            self._chips = {c.name: Label(id=f"chip-{c.name}", classes="pill") for c in components}
            self._chips_row.mount_all(self._chips.values())
        for component in components:
            word, css_class = STATE_WORDS[component.state]
            name = SHORT_NAMES.get(component.name, component.name)
            self._set(self._chips[component.name], f"{name} {word}", f"pill {css_class}")

    def _set(self, label: Label, text: str, classes: str) -> None:
        if self._shown.get(label) == (text, classes):
            return
        self._shown[label] = (text, classes)
        self.label_writes += 1
        label.update(text)
        label.set_classes(classes)
