"""ConnectionBanner: why the console is not talking to the server (unreachable, token refused, rate limited) and
when it tries again; hidden while connected."""

import math
from typing import TYPE_CHECKING, cast

from textual.widgets import Static

from console.connection import PROBLEM_STATES, UNAUTHORIZED_HINT, ConnectionState

if TYPE_CHECKING:
    from console.app import OpsConsole


class ConnectionBanner(Static):
    """Reads the app's connection state; every screen composes one."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, markup=False)

    def on_mount(self) -> None:
        app = cast("OpsConsole", self.app)
        self.watch(app, "connection", self._refresh_banner)
        self.watch(app, "retry_at", self._refresh_banner)
        self.set_interval(0.5, self._refresh_banner)

    def _refresh_banner(self, _value: object = None) -> None:
        app = cast("OpsConsole", self.app)
        problem = app.connection in PROBLEM_STATES
        self.display = problem
        if not problem:
            return
        if app.connection is ConnectionState.UNAUTHORIZED:
            self.update(f"{UNAUTHORIZED_HINT} (ctrl+r retries)")
            return
        if app.retry_at is None:
            retry = "retrying"
        else:
            seconds = max(0, math.ceil(app.retry_at - app.clock()))
            retry = f"retrying in {seconds} s" if seconds else "retrying now"
        headline = "rate limited" if app.connection is ConnectionState.RATE_LIMITED else "disconnected"
        self.update(f"{headline} — {retry} (ctrl+r: now) · {app.connection_problem}")
