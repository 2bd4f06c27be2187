"""OpsConsole: the thin App. It owns the client, the connection state and navigation; screens do the rest."""

import asyncio
import time
from collections.abc import Callable, Iterable

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.reactive import reactive
from textual.screen import Screen

from console.connection import ConnectionState, backoff_delay
from console.messages import ConnectionLost
from console.screens.audit import AuditScreen
from console.screens.status import StatusScreen
from shared.client import OpsClient
from shared.errors import OpsClientError, RateLimited, ServerUnavailable, Unauthorized
from shared.scopes import Scope

AUDIT_PAGE_LIMIT = 200
# How often the reconnect loop looks at the clock while it waits (the clock may be a test's frozen clock).
_WAIT_STEP_SECONDS = 0.1


class OpsConsole(App[None]):
    """Navigation (1 Status, 2 Audit, q Quit), connection state with reconnect backoff, the command palette."""

    TITLE = "Ops Console"
    CSS_PATH = "app.tcss"
    MODES = {"status": StatusScreen, "audit": AuditScreen}
    BINDINGS = [
        Binding("1", "show('status')", "Status", id="screen.status"),
        Binding("2", "show('audit')", "Audit", id="screen.audit"),
        Binding("q", "quit", "Quit", id="quit"),
        Binding("ctrl+r", "reconnect", "Reconnect", id="reconnect"),
    ]

    connection: reactive[ConnectionState] = reactive(ConnectionState.CONNECTING)
    """Whether the server answers; screens watch it to pause and resume their refreshes."""
    connection_problem: reactive[str] = reactive("")
    retry_at: reactive[float | None] = reactive(None)
    """When the next reconnect attempt runs, on `clock`'s scale."""
    principal: reactive[str | None] = reactive(None)
    read_only: reactive[bool] = reactive(True)
    """True until whoami() shows the token carries ops:command: no command keys are offered before that."""

    def __init__(
        self,
        client: OpsClient,
        *,
        clock: Callable[[], float] = time.monotonic,
        status_interval: float = 2.0,
        audit_limit: int = AUDIT_PAGE_LIMIT,
    ) -> None:
        super().__init__()
        self.client = client
        self.clock = clock
        """Monotonic seconds; the confirm countdown and the reconnect banner read it (tests freeze it)."""
        self.status_interval = status_interval
        self.audit_limit = min(audit_limit, 500)
        self._retry_requested = False

    def on_mount(self) -> None:
        self._update_sub_title()
        self.switch_mode("status")
        self.connect()

    async def on_unmount(self) -> None:
        await self.client.aclose()

    # --- connection ---

    @work(exclusive=True, group="connection")
    async def connect(self) -> None:
        """Ask the server who we are until it answers, waiting 1, 2, 4 ... 30 s between attempts."""
        attempt = 0
        while True:
            try:
                me = await self.client.whoami()
            except ServerUnavailable as exc:
                state, problem, delay = ConnectionState.DISCONNECTED, str(exc), backoff_delay(attempt)
            except Unauthorized as exc:
                state, problem, delay = ConnectionState.UNAUTHORIZED, str(exc), backoff_delay(attempt)
            except RateLimited as exc:
                state, problem = ConnectionState.DISCONNECTED, f"rate limited: {exc}"
                delay = max(exc.retry_after or 0.0, backoff_delay(attempt))
            except OpsClientError as exc:
                state, problem, delay = ConnectionState.DISCONNECTED, str(exc), backoff_delay(attempt)
            else:
                self.principal = me.principal
                self.read_only = Scope.OPS_COMMAND.value not in me.scopes
                self.connection_problem = ""
                self.retry_at = None
                self.connection = ConnectionState.CONNECTED
                return
            attempt += 1
            self.connection_problem = problem
            self.retry_at = self.clock() + delay
            self.connection = state
            await self._wait_for_retry()

    async def _wait_for_retry(self) -> None:
        self._retry_requested = False
        while not self._retry_requested and self.retry_at is not None and self.clock() < self.retry_at:
            await asyncio.sleep(_WAIT_STEP_SECONDS)

    def on_connection_lost(self, message: ConnectionLost) -> None:
        if self.connection is ConnectionState.CONNECTED:
            self.connection_problem = message.reason
            self.connection = ConnectionState.DISCONNECTED
            self.connect()

    def action_reconnect(self) -> None:
        self._retry_requested = True

    # --- navigation and palette ---

    def action_show(self, mode: str) -> None:
        if self.current_mode != mode:
            self.switch_mode(mode)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "reconnect":
            return self.connection in (ConnectionState.DISCONNECTED, ConnectionState.UNAUTHORIZED)
        return True

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield SystemCommand("Status screen", "Components, mode, open positions (key 1)", self._show("status"))
        yield SystemCommand("Audit screen", "Newest audit entries, filterable (key 2)", self._show("audit"))
        palette_commands = getattr(screen, "palette_commands", None)
        if callable(palette_commands):
            yield from palette_commands()
        if self.check_action("reconnect", ()):
            yield SystemCommand("Reconnect now", "Retry the server without waiting (ctrl+r)", self.action_reconnect)
        yield from super().get_system_commands(screen)

    def _show(self, mode: str) -> Callable[[], None]:
        return lambda: self.action_show(mode)

    # --- watchers ---

    def watch_connection(self) -> None:
        self._update_sub_title()
        self.refresh_bindings()

    def watch_read_only(self) -> None:
        self.refresh_bindings()

    def _update_sub_title(self) -> None:
        self.sub_title = f"{self.client.base_url} · {self.connection.value}"
