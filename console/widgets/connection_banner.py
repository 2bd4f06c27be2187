"""ConnectionBanner: 'disconnected — retrying in N s' while the server is unreachable; hidden otherwise."""

import math
from typing import TYPE_CHECKING, cast

from textual.widgets import Static

from console.connection import ConnectionState

if TYPE_CHECKING:
    from console.app import OpsConsole

_PROBLEM_STATES = (ConnectionState.DISCONNECTED, ConnectionState.UNAUTHORIZED)


class ConnectionBanner(Static):
    """Reads the app's connection state; every screen composes one."""

    def on_mount(self) -> None:
        app = cast("OpsConsole", self.app)
        self.watch(app, "connection", self._refresh_banner)
        self.watch(app, "retry_at", self._refresh_banner)
        self.set_interval(0.5, self._refresh_banner)

    def _refresh_banner(self, _value: object = None) -> None:
        app = cast("OpsConsole", self.app)
        problem = app.connection in _PROBLEM_STATES
        self.display = problem
        if not problem:
            return
        headline = "token refused" if app.connection is ConnectionState.UNAUTHORIZED else "disconnected"
        if app.retry_at is None:
            retry = "retrying"
        else:
            seconds = max(0, math.ceil(app.retry_at - app.clock()))
            retry = f"retrying in {seconds} s" if seconds else "retrying now"
        self.update(f"{headline} — {retry} (ctrl+r: now) · {app.connection_problem}")
