"""Console test harness (conftest.py turns it into fixtures): a real ops server (EmbeddedServer) with a
ManualClock and a seeded plant on a free port, and console apps wired to it through a recording transport.

The transport sends every request to the real server's port while the client's base URL stays
`http://127.0.0.1:8000`, so the URL in the header — and with it every snapshot — does not depend on the port."""

import asyncio
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr
from textual.pilot import Pilot
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist

from console.app import OpsConsole
from console.palette import ScreenActionsProvider, ScreensProvider
from console.screens.ops_screen import OpsScreen
from console.screens.status import StatusScreen
from console.widgets.status_line import StatusLine
from server.clock import ManualClock
from server.embedded import EmbeddedServer
from server.keys import TOKENS
from server.plant.plant import Plant
from server.settings import Settings
from shared.client import OpsClient

DISPLAY_URL = "http://127.0.0.1:8000"
ADMIN_TOKEN = "test-admin-token"
RESTART_SECONDS = 2.0


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: str
    body: dict[str, Any] | None
    request_id: str


class RecordingTransport(httpx.AsyncBaseTransport):
    """Forwards to the server's real port and remembers what was sent. `answer(path, ...)` makes it answer
    requests to that path itself instead (still recorded), for answers the real server will not give on demand."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.requests: list[RecordedRequest] = []
        self._answers: dict[str, tuple[int, dict[str, Any], dict[str, str]]] = {}
        self._inner = httpx.AsyncHTTPTransport()

    def answer(self, path: str, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        self._answers[path] = (status, body, headers or {})

    def forget(self, path: str) -> None:
        """Send requests to `path` to the real server again."""
        self._answers.pop(path, None)

    def sent(self, method: str, path: str) -> int:
        """How many `method path` requests were sent."""
        return sum(1 for r in self.requests if r.method == method and r.path == path)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        self.requests.append(
            RecordedRequest(
                request.method, request.url.path, request.url.query.decode(), body, request.headers["X-Request-ID"]
            )
        )
        if request.url.path in self._answers:
            status, answer, headers = self._answers[request.url.path]
            return httpx.Response(status, json=answer, headers=headers, request=request)
        request.url = request.url.copy_with(host="127.0.0.1", port=self.port)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()

    def commands(self) -> list[dict[str, Any]]:
        """Bodies of every POST /ops/command, in order."""
        return [r.body or {} for r in self.requests if r.method == "POST" and r.path == "/ops/command"]

    def confirms(self) -> list[dict[str, Any]]:
        return [body for body in self.commands() if body.get("confirm_token")]


class FakeMonotonic:
    """The console's clock (confirm countdown, reconnect wait). Moves only when told to."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class PlantServer:
    server: EmbeddedServer
    clock: ManualClock
    plant: Plant
    transports: list[RecordingTransport] = field(default_factory=list)

    @property
    def port(self) -> int:
        return self.server.settings.port

    def advance(self, seconds: float) -> None:
        self.server.call(self.clock.advance, seconds)

    def create_token(self, name: str, scopes: str) -> str:
        assert self.server.app is not None
        return self.server.run(self.server.app[TOKENS].create(name, scopes))

    def client(self, token: str = ADMIN_TOKEN, base_url: str = DISPLAY_URL) -> tuple[OpsClient, RecordingTransport]:
        transport = RecordingTransport(self.port)
        self.transports.append(transport)
        counter = itertools.count(1)
        client = OpsClient(base_url, token, request_ids=lambda: f"req-{next(counter):04d}", transport=transport)
        return client, transport


def server_settings(data_dir: Path) -> Settings:
    return Settings(
        data_dir=data_dir,
        port=0,
        api_token=SecretStr(ADMIN_TOKEN),
        restart_seconds=RESTART_SECONDS,
        rate_limit_per_minute=100_000,
        # The plant's own simulation would move positions on wall-clock time: keep it still.
        plant_tick_seconds=3600,
        plant_seed=7,
    )


@dataclass
class ConsoleUnderTest:
    app: OpsConsole
    transport: RecordingTransport
    notifications: list[str]


def record_notifications(app: OpsConsole) -> list[str]:
    """Every message the app shows as a notification, with its title, in order."""
    seen: list[str] = []
    notify = app.notify

    def recording_notify(message: str, *, title: str = "", **kwargs: Any) -> None:
        seen.append(f"{title}: {message}" if title else message)
        notify(message, title=title, **kwargs)

    app.notify = recording_notify  # type: ignore[method-assign]
    return seen


async def wait_until(pilot: Pilot, condition: Callable[[], object], timeout: float = 5.0, what: str = "") -> None:
    """Let the app run until `condition()` holds; fail naming `what` after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")
        await pilot.pause(0.02)
    await pilot.pause()


def status_screen(app: OpsConsole) -> StatusScreen:
    assert app.current_mode == "status", app.current_mode
    screen = app.screen_stack[0]
    assert isinstance(screen, StatusScreen)
    return screen


def component_state(app: OpsConsole, name: str) -> str:
    """The State cell of `name` in the status screen's components table ('' before the first refresh)."""
    table = status_screen(app).query_one("#components", DataTable)
    try:
        return str(table.get_cell(name, "state"))
    except CellDoesNotExist:
        return ""


async def select_component(pilot: Pilot, name: str) -> None:
    """Move the components table's cursor to `name` by keys, as an operator would."""
    app = pilot.app
    assert isinstance(app, OpsConsole)
    await wait_until(pilot, lambda: component_state(app, name), what=f"{name} in the table")
    screen = status_screen(app)
    await pilot.press("ctrl+home")
    for _ in range(10):
        if screen.selected_component == name:
            return
        await pilot.press("down")
    raise AssertionError(f"could not select {name}")


def palette_titles(app: OpsConsole) -> list[str]:
    """Titles the command palette offers on the current screen: screens, the screen's own keys, system commands."""
    screen = app.screen
    titles = [title for title, _, _ in ScreensProvider(screen).entries()]
    if isinstance(screen, OpsScreen):
        titles += [title for title, _, _ in ScreenActionsProvider(screen).entries()]
    titles += [command.title for command in app.get_system_commands(screen)]
    return titles


def status_line_text(app: OpsConsole) -> str:
    """What the current screen's status line says ('' when hidden)."""
    line = app.screen.query_one(StatusLine)
    return str(line.content) if line.display else ""
