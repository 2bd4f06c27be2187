"""The screen registry: one line per screen. `MODES`, the number keys, the palette's screen entries and the help
overlay's screen list are all built from `SCREENS`; adding a screen is one module and one line here."""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from textual.binding import Binding
from textual.screen import Screen

from console.screens.ask import AskScreen
from console.screens.assets import AssetsScreen
from console.screens.audit import AuditScreen
from console.screens.inspector import InspectorScreen
from console.screens.investigations import InvestigationsScreen
from console.screens.metrics import MetricsScreen
from console.screens.ops_screen import OpsScreen
from console.screens.refunds import RefundsScreen
from console.screens.runbooks import RunbooksScreen
from console.screens.status import StatusScreen
from console.screens.worklist import WorklistScreen
from shared.scopes import Scope


@dataclass(frozen=True)
class ScreenSpec:
    key: str | None
    """Its number key, or None when it is reached from the palette only."""
    mode: str
    """The App mode it lives in (`switch_mode(mode)`)."""
    title: str
    screen: type[OpsScreen]
    scope: Scope | None
    """The scope a token needs to see it; None: every token."""
    description: str
    """One line for the palette and the help overlay."""


SCREENS: tuple[ScreenSpec, ...] = (
    ScreenSpec("1", "status", "Status", StatusScreen, Scope.OPS_READ, "Components, mode, open positions"),
    ScreenSpec("2", "audit", "Audit", AuditScreen, Scope.OPS_READ, "The audit trail, filterable, newest first"),
    ScreenSpec("3", "metrics", "Metrics", MetricsScreen, Scope.RUNBOOKS_READ, "Market-data feed metrics and charts"),
    ScreenSpec("4", "runbooks", "Runbooks", RunbooksScreen, Scope.RUNBOOKS_READ, "Dry-run, then run a runbook"),
    ScreenSpec("5", "investigations", "Investigations", InvestigationsScreen, Scope.OPS_AGENT_READ, "Agent traces"),
    ScreenSpec("6", "worklist", "Worklist", WorklistScreen, Scope.OPS_AGENT_READ, "Agent recommendations to decide"),
    ScreenSpec("7", "ask", "Ask", AskScreen, Scope.OPS_READ, "Ask the CMDB, metrics and audit a question"),
    ScreenSpec("8", "inspector", "Inspector", InspectorScreen, Scope.INSPECTOR_READ, "Traces, compare, regressions"),
    ScreenSpec("9", "refunds", "Refunds", RefundsScreen, None, "Governed agents: live board, feed, refund ledger"),
    ScreenSpec(None, "assets", "Assets", AssetsScreen, Scope.OPS_READ, "Versions of the assets that drive Ask"),
)


def modes(specs: Iterable[ScreenSpec]) -> dict[str, str | Callable[[], Screen[Any]]]:
    """`App.MODES`: each screen class is its mode's base screen."""
    return {spec.mode: spec.screen for spec in specs}


def screen_bindings(specs: Iterable[ScreenSpec]) -> list[Binding]:
    """The number keys of the screens that have one."""
    return [
        Binding(spec.key, f"show({spec.mode!r})", spec.title, id=f"screen.{spec.mode}", tooltip=spec.description)
        for spec in specs
        if spec.key is not None
    ]
