"""OpsConsole: the thin App. It owns the client, the connection monitor, the token's scopes, navigation built
from the screen registry, and the one place client errors become what the operator reads."""

import asyncio
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.notifications import Notify
from textual.reactive import reactive
from textual.screen import Screen
from textual.timer import Timer

from console.connection import (
    HEARTBEAT_SECONDS,
    PROBLEM_STATES,
    UNAUTHORIZED_HINT,
    ConnectionState,
    backoff_delay,
)
from console.messages import ConnectionAlive, ConnectionLost
from console.palette import ScreensProvider
from console.problems import describe
from console.registry import SCREENS, ScreenSpec, modes, screen_bindings
from console.screens.help import HelpScreen
from shared.client import OpsClient
from shared.errors import OpsClientError, RateLimited, ServerUnavailable, Unauthorized
from shared.scopes import Scope

_HERE = Path(__file__).parent
Severity = Literal["information", "warning", "error"]

# How often the reconnect wait looks at the clock (the clock may be a test's frozen clock).
_WAIT_STEP_SECONDS = 0.1
# How often (real seconds) the app looks whether a heartbeat is due and refreshes the header's countdown.
_TICK_SECONDS = 0.5
MAX_TOASTS = 3
"""Toasts cover the table's corner: older ones give way rather than pile up."""
STATUS_NOTE_SECONDS = 10.0
PROBLEM_TOAST_SECONDS = 3.0
"""The toast only draws the eye; the status line keeps the words for longer."""


@dataclass(frozen=True)
class StatusNote:
    """What the status line above the footer says."""

    text: str
    severity: Severity = "information"


class OpsConsole(App[None]):
    """Navigation from the registry (number keys, palette, help), one connection monitor, scope checks."""

    TITLE = "Ops Console"
    # Absolute, so a subclass defined elsewhere (a test's registry) finds them too.
    CSS_PATH = [
        _HERE / "screens" / "ops_screen.tcss",
        _HERE / "widgets" / "confirm_dialog.tcss",
        _HERE / "widgets" / "reason_prompt.tcss",
        _HERE / "app.tcss",
    ]
    NOTIFICATION_TIMEOUT = 4
    SCREEN_SPECS: ClassVar[tuple[ScreenSpec, ...]] = SCREENS
    """The screens of this console. A subclass that sets it gets MODES and number keys built from it."""
    MODES = modes(SCREENS)
    BASE_BINDINGS: ClassVar[list[Binding]] = [
        Binding("question_mark", "help", "Help", key_display="?", tooltip="Keys, colours and screens", id="help"),
        Binding("q", "quit", "Quit", tooltip="Quit the console", id="quit"),
        Binding("ctrl+r", "reconnect", "Reconnect", tooltip="Retry the server now", id="reconnect"),
    ]
    BINDINGS = [*screen_bindings(SCREENS), *BASE_BINDINGS]
    COMMANDS = App.COMMANDS | {ScreensProvider}

    connection: reactive[ConnectionState] = reactive(ConnectionState.CONNECTING)
    """Whether the server answers; screens watch it to pause and resume their refreshes."""
    connection_problem: reactive[str] = reactive("")
    retry_at: reactive[float | None] = reactive(None)
    """When the next reconnect attempt runs, on `clock`'s scale; None while waiting for ctrl+r (401)."""
    principal: reactive[str | None] = reactive(None)
    scopes: reactive[frozenset[str]] = reactive(frozenset())
    """The token's scopes as whoami() last reported them; empty until it first answers."""
    status_note: reactive[StatusNote | None] = reactive(None)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Before super(): Textual merges the class's BINDINGS when the subclass is created.
        if "SCREEN_SPECS" in cls.__dict__:
            cls.MODES = modes(cls.SCREEN_SPECS)
            cls.BINDINGS = [*screen_bindings(cls.SCREEN_SPECS), *cls.BASE_BINDINGS]
        super().__init_subclass__(**kwargs)

    def __init__(self, client: OpsClient, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.client = client
        self.clock = clock
        """Monotonic seconds; the confirm countdown, the reconnect wait and the heartbeat read it (tests freeze it)."""
        self._retry_requested = False
        self._last_alive = clock()
        self._note_timer: Timer | None = None

    def on_mount(self) -> None:
        self._update_sub_title()
        self.switch_mode(self.SCREEN_SPECS[0].mode)
        self.set_interval(_TICK_SECONDS, self._tick)
        self.connect()

    async def on_unmount(self) -> None:
        await self.client.aclose()

    # --- scopes and screens ---

    @property
    def identified(self) -> bool:
        """whoami() has answered at least once: the scopes are known."""
        return self.principal is not None

    def has_scope(self, scope: Scope | str) -> bool:
        return str(scope) in self.scopes

    def can_see(self, spec: ScreenSpec) -> bool:
        # Until the server says who we are every screen is offered; its own requests will tell.
        return spec.scope is None or not self.identified or self.has_scope(spec.scope)

    def visible_screens(self) -> list[ScreenSpec]:
        return [spec for spec in self.SCREEN_SPECS if self.can_see(spec)]

    def hidden_screens(self) -> list[ScreenSpec]:
        return [spec for spec in self.SCREEN_SPECS if not self.can_see(spec)]

    def hidden_screen_for_key(self, key: str) -> ScreenSpec | None:
        return next((spec for spec in self.hidden_screens() if spec.key == key), None)

    def watch_scopes(self) -> None:
        self.refresh_bindings()
        self.screen.refresh_bindings()

    # --- what the operator reads ---

    def say(self, text: str, *, severity: Severity = "information", seconds: float = STATUS_NOTE_SECONDS) -> None:
        """Put `text` in the status line of every screen for `seconds`."""
        self.status_note = StatusNote(text, severity)
        if self._note_timer is not None:
            self._note_timer.stop()
        self._note_timer = self.set_timer(seconds, self._clear_note)

    def _clear_note(self) -> None:
        self.status_note = None

    def show_problem(self, exc: OpsClientError, *, title: str) -> None:
        """The one way a failed request reaches the operator: the status line, a short toast, and the connection
        state when the failure is about the connection (unreachable, token refused, rate limited)."""
        text = describe(exc)
        match exc:
            case ServerUnavailable():
                # The banner says it on every screen; a toast per failed request would only repeat it.
                self.post_message(ConnectionLost(self._unreachable(exc)))
                return
            case Unauthorized():
                self._unauthorized()
            case RateLimited():
                self._rate_limited(exc)
        self.say(f"{title}: {text}" if title else text, severity="error")
        self.notify(text, title=title, severity="error", timeout=PROBLEM_TOAST_SECONDS)

    def _on_notify(self, event: Notify) -> None:
        super()._on_notify(event)
        # Textual keeps every toast until it times out; keep only the newest few on screen.
        while len(self._notifications) > MAX_TOASTS:
            self._unnotify(next(iter(self._notifications)))

    # --- connection ---

    @work(exclusive=True, group="connection")
    async def connect(self, wait_first: bool = False) -> None:
        """Ask the server who we are until it answers: 1, 2, 4, 5, 5 ... s apart while it is unreachable, after
        its Retry-After while rate limited, and only on ctrl+r after a 401 (retrying a refused token is noise)."""
        if wait_first:
            await self._wait_for_retry()
        attempt = 0
        while True:
            try:
                me = await self.client.control.whoami()
            except Unauthorized:
                self._set_state(ConnectionState.UNAUTHORIZED, UNAUTHORIZED_HINT, None)
                attempt = 0
            except RateLimited as exc:
                self._rate_limited(exc, backoff_delay(attempt))
                attempt += 1
            except OpsClientError as exc:
                self._set_state(ConnectionState.DISCONNECTED, self._unreachable(exc), backoff_delay(attempt))
                attempt += 1
            else:
                self._identified(me.principal, me.scopes)
                return
            await self._wait_for_retry()

    @work(exclusive=True, group="heartbeat")
    async def probe(self) -> None:
        """One whoami() to learn whether the server is still there (and whether the token's scopes changed)."""
        try:
            me = await self.client.control.whoami()
        except OpsClientError as exc:
            if self.connection is ConnectionState.CONNECTED:
                self.show_connection_failure(exc)
            return
        self._identified(me.principal, me.scopes)

    def show_connection_failure(self, exc: OpsClientError) -> None:
        """A request failed in a way that is about the connection: change state and start reconnecting."""
        match exc:
            case Unauthorized():
                self._unauthorized()
            case RateLimited():
                self._rate_limited(exc)
            case _:
                self.post_message(ConnectionLost(self._unreachable(exc)))

    def _identified(self, principal: str, scopes: Iterable[str]) -> None:
        self.principal = principal
        self.scopes = frozenset(str(scope) for scope in scopes)
        self._last_alive = self.clock()
        self._set_state(ConnectionState.CONNECTED, "", None)

    def _set_state(self, state: ConnectionState, problem: str, delay: float | None) -> None:
        self.connection_problem = problem
        self.retry_at = None if delay is None else self.clock() + delay
        self.connection = state

    def _unauthorized(self) -> None:
        if self.connection is not ConnectionState.UNAUTHORIZED:
            self._set_state(ConnectionState.UNAUTHORIZED, UNAUTHORIZED_HINT, None)
            self.connect(wait_first=True)

    def _rate_limited(self, exc: RateLimited, fallback: float = 1.0) -> None:
        delay = exc.retry_after if exc.retry_after else fallback
        was_connected = self.connection is ConnectionState.CONNECTED
        self._set_state(ConnectionState.RATE_LIMITED, "too many requests for this token", delay)
        if was_connected:
            self.connect(wait_first=True)

    def _unreachable(self, exc: OpsClientError) -> str:
        if exc.status is not None:
            detail = f": {exc.detail}" if exc.detail else ""
            return f"the server answered {exc.status}{detail}"
        return "cannot reach the server"  # its URL is in the header

    async def _wait_for_retry(self) -> None:
        """Until `retry_at` (None: until ctrl+r) or ctrl+r, whichever comes first."""
        self._retry_requested = False
        while not self._retry_requested and (self.retry_at is None or self.clock() < self.retry_at):
            await asyncio.sleep(_WAIT_STEP_SECONDS)

    def on_connection_lost(self, message: ConnectionLost) -> None:
        if self.connection is ConnectionState.CONNECTED:
            self._set_state(ConnectionState.DISCONNECTED, message.reason, backoff_delay(0))
            self.connect(wait_first=True)

    def on_connection_alive(self, _message: ConnectionAlive) -> None:
        self.connection_alive()

    def connection_alive(self) -> None:
        """A screen's request was answered: no heartbeat is needed for a while."""
        self._last_alive = self.clock()

    def _tick(self) -> None:
        self._update_sub_title()
        if self.connection is ConnectionState.CONNECTED and self.clock() - self._last_alive >= HEARTBEAT_SECONDS:
            self._last_alive = self.clock()  # one probe per quiet period, not one per tick
            self.probe()

    def action_reconnect(self) -> None:
        self._retry_requested = True

    # --- navigation, help and palette ---

    def action_show(self, mode: str) -> None:
        spec = next((s for s in self.SCREEN_SPECS if s.mode == mode), None)
        if spec is None or not self.can_see(spec):
            return
        if self.current_mode != mode:
            self.switch_mode(mode)

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.screen))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "reconnect":
            return self.connection in PROBLEM_STATES
        if action == "show" and parameters:
            spec = next((s for s in self.SCREEN_SPECS if s.mode == parameters[0]), None)
            return spec is not None and self.can_see(spec)
        if action == "help":
            return not isinstance(self.screen, HelpScreen)
        return True

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield SystemCommand("Help", "Keys, colours and screens of this screen (key ?)", self.action_help)
        if self.check_action("reconnect", ()):
            yield SystemCommand("Reconnect now", "Retry the server without waiting (ctrl+r)", self.action_reconnect)
        # Textual's own "Keys" panel would be a second, less complete help.
        yield from (command for command in super().get_system_commands(screen) if command.title != "Keys")

    # --- watchers ---

    def watch_connection(self) -> None:
        self._update_sub_title()
        self.refresh_bindings()

    def _update_sub_title(self) -> None:
        state = self.connection.value
        if self.connection is ConnectionState.RATE_LIMITED and self.retry_at is not None:
            state = f"rate limited, retry in {max(0, math.ceil(self.retry_at - self.clock()))} s"
        self.sub_title = f"{self.client.base_url} · {state}"
