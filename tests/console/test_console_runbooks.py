"""Runbooks screen: commands with descriptions from the server's manifest; `x` dry-runs the selected command with
the form's fields and the dialog shows its log; only an explicit confirm runs it for real with a fresh request id;
the log tails in while it runs; abort goes through the dialog; the history pages; a token without
runbooks:execute sees no run key. Against the real server, with test scripts the test releases by hand."""

import asyncio
import itertools
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from console_harness import (
    ADMIN_TOKEN,
    DISPLAY_URL,
    RESTART_SECONDS,
    ConsoleUnderTest,
    FakeMonotonic,
    PlantServer,
    RecordingTransport,
    server_settings,
    status_line_text,
    wait_until,
)
from runbooks_support import write_runbooks
from textual.pilot import Pilot
from textual.widgets import Static

from console.app import OpsConsole
from console.connection import ConnectionState
from console.screens import runbook_flow
from console.screens.runbooks import RunbooksScreen
from console.widgets.confirm_dialog import ConfirmDialog
from console.widgets.nav_table import NavTable
from server.clock import ManualClock
from server.embedded import EmbeddedServer
from server.plant.plant import Plant
from shared.client import OpsClient
from shared.errors import NotFound

EXECUTE = "/api/ops/runbooks/execute"

# Each script says what it would do on a dry run; the drill's real run waits for a file the test creates, so the
# test sees it running (log tailing in, abort offered) for as long as it likes.
HEALTH_CHECK = """
    import sys
    dry = "--dry-run" in sys.argv
    print("INFO plan: measure coverage and throughput", flush=True)
    print("INFO dry run: nothing measured" if dry else "INFO measured: coverage 0.999", flush=True)
"""
DRILL = """
    import os, sys, time
    release = {release!r}
    print("INFO plan: fail over to backup, then fail back", flush=True)
    if "--dry-run" in sys.argv:
        print("INFO dry run: nothing changed", flush=True)
        sys.exit(0)
    print("INFO failing over", flush=True)
    deadline = time.monotonic() + 30
    while not os.path.exists(release) and time.monotonic() < deadline:
        time.sleep(0.05)
    print("INFO failed back", flush=True)
"""
FAILOVER = """
    import sys
    print("INFO plan: fail over to backup", flush=True)
    if "--dry-run" not in sys.argv:
        print("ERROR backup profile unreachable", flush=True)
        sys.exit(3)
"""


@pytest.fixture
def release(tmp_path: Path) -> Path:
    return tmp_path / "release-drill"


@pytest.fixture
def plant_server(tmp_path: Path, release: Path) -> Iterator[PlantServer]:
    """The console tests' plant server, running the test's runbook scripts."""
    runbooks = write_runbooks(
        tmp_path / "runbooks",
        {
            "health_check": (HEALTH_CHECK, 10),
            "drill": (DRILL.format(release=str(release)), 40),
            "failover": (FAILOVER, 10),
        },
    )
    clock = ManualClock()
    plant = Plant(clock, seed=7, restart_seconds=RESTART_SECONDS)
    settings = server_settings(tmp_path / "data").model_copy(
        update={"runbooks_dir": runbooks, "metrics_sample_seconds": 3600.0}
    )
    server = EmbeddedServer(settings, clock=clock, plant=plant)
    server.start()
    try:
        yield PlantServer(server, clock, plant)
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def steady_screen(monkeypatch: pytest.MonkeyPatch) -> None:
    """Request ids a snapshot can hold, a quick tail, and no timed refresh."""
    counter = itertools.count(1)
    monkeypatch.setattr(runbook_flow, "new_request_id", lambda: f"console-{next(counter):04d}")
    monkeypatch.setattr(RunbooksScreen, "REFRESH_SECONDS", 3600.0)
    monkeypatch.setattr(RunbooksScreen, "TAIL_SECONDS", 0.05)


class TimingOutTransport(RecordingTransport):
    """Sends a real (not dry) execute on to the server but answers it as the client's timeout would: at once,
    whatever the machine's load, while the run goes on on the server."""

    def __init__(self, port: int) -> None:
        super().__init__(port)
        self.timed_out = False
        self._sent: set[asyncio.Task[httpx.Response]] = set()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else {}
        if request.url.path != EXECUTE or body.get("dry_run"):
            return await super().handle_async_request(request)
        sent = asyncio.create_task(super().handle_async_request(request))
        self._sent.add(sent)
        await asyncio.sleep(0.2)
        self.timed_out = True
        raise httpx.ReadTimeout("timed out", request=request)


def runbooks_screen(app: OpsConsole) -> RunbooksScreen:
    screen = app.screen_stack[0] if isinstance(app.screen, ConfirmDialog) else app.screen
    assert isinstance(screen, RunbooksScreen), screen
    return screen


def dialog(app: OpsConsole) -> ConfirmDialog:
    assert isinstance(app.screen, ConfirmDialog), app.screen
    return app.screen


def executes(console: ConsoleUnderTest) -> list[dict[str, object]]:
    return [r.body or {} for r in console.transport.requests if r.method == "POST" and r.path == EXECUTE]


async def open_runbooks(pilot: Pilot) -> None:
    app = pilot.app
    assert isinstance(app, OpsConsole)
    await pilot.press("4")
    await wait_until(pilot, lambda: isinstance(app.screen, RunbooksScreen), what="the runbooks screen")
    screen = runbooks_screen(app)
    await wait_until(pilot, lambda: len(screen.commands) == 3, what="the commands")
    await pilot.pause()


async def select(pilot: Pilot, command: str) -> None:
    app = pilot.app
    assert isinstance(app, OpsConsole)
    screen = runbooks_screen(app)
    await pilot.press("home")
    for _ in range(5):
        if screen.selected_command == command:
            return
        await pilot.press("down")
    raise AssertionError(f"could not select {command}")


async def dry_run(pilot: Pilot, command: str) -> None:
    """Open the screen, select `command`, press x, and wait for the dry run's dialog."""
    await open_runbooks(pilot)
    await select(pilot, command)
    await pilot.press("x")
    app = pilot.app
    await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the dry-run dialog")
    await pilot.pause()


def preview(app: OpsConsole) -> str:
    return str(dialog(app).query_one("#preview Static", Static).content)


class TestRunbooksScreen:
    @pytest.mark.parametrize("size", [(80, 24), (120, 40)])
    def test_snapshot_runbooks_screen(
        self,
        snap_compare,
        make_console: Callable[..., ConsoleUnderTest],
        plant_server: PlantServer,
        size: tuple[int, int],
    ) -> None:
        async def run_before(pilot: Pilot) -> None:
            # A history to show: a dry run, a success and a failure.
            client, _ = plant_server.client()
            async with client:
                await client.runbooks.execute("health_check", request_id="earlier-1", dry_run=True)
                await client.runbooks.execute("health_check", request_id="earlier-2")
                await client.runbooks.execute("failover", request_id="earlier-3", reason="drill week")
            await open_runbooks(pilot)
            app = pilot.app
            assert isinstance(app, OpsConsole)
            await wait_until(pilot, lambda: len(runbooks_screen(app).history) == 3, what="the history")

        assert snap_compare(make_console().app, terminal_size=size, run_before=run_before)

    @pytest.mark.parametrize("size", [(80, 24), (120, 40)])
    def test_snapshot_dry_run_confirmation(
        self, snap_compare, make_console: Callable[..., ConsoleUnderTest], size: tuple[int, int]
    ) -> None:
        async def run_before(pilot: Pilot) -> None:
            await dry_run(pilot, "health_check")

        assert snap_compare(make_console().app, terminal_size=size, run_before=run_before)

    async def test_commands_are_listed_with_their_descriptions(
        self, make_console: Callable[..., ConsoleUnderTest]
    ) -> None:
        console = make_console()
        async with console.app.run_test(size=(120, 40)) as pilot:
            await open_runbooks(pilot)
            screen = runbooks_screen(console.app)
            table = screen.query_one("#runbook-commands", NavTable)
            # In the order the contract lists the commands, whatever the manifest's order.
            assert [str(key.value) for key in table.rows] == ["failover", "drill", "health_check"]
            assert table.get_cell("drill", "description") == "test drill"


class TestTwoSteps:
    async def test_x_dry_runs_with_the_form_fields_and_the_dialog_shows_its_log(
        self, make_console: Callable[..., ConsoleUnderTest]
    ) -> None:
        console = make_console()
        async with console.app.run_test(size=(120, 40)) as pilot:
            await open_runbooks(pilot)
            screen = runbooks_screen(console.app)
            screen.form.window.value = "day"
            screen.form.enforce.value = True
            screen.form.reason.value = "weekly check"
            await select(pilot, "health_check")
            await pilot.press("x")
            await wait_until(pilot, lambda: isinstance(console.app.screen, ConfirmDialog), what="the dialog")
            sent = executes(console)
            assert len(sent) == 1
            assert sent[0] == {
                "command": "health_check",
                "request_id": "console-0001",
                "window": "day",
                "enforce": True,
                "dry_run": True,
                "reason": "weekly check",
            }
            text = preview(console.app)
            assert "INFO  plan: measure coverage and throughput" in text
            assert "dry run: nothing measured" in text
            rows = dict(dialog(console.app).view.rows)
            assert rows["Params"] == "window=day, enforce=true, reason=weekly check"
            assert rows["Dry run"] == "success, exit 0 (console-0001)"

    async def test_cancel_after_the_dry_run_runs_nothing_for_real(
        self, make_console: Callable[..., ConsoleUnderTest]
    ) -> None:
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await dry_run(pilot, "health_check")
            await pilot.press("n")
            await wait_until(pilot, lambda: isinstance(console.app.screen, RunbooksScreen), what="the screen")
            await pilot.pause(0.2)
            assert [body["dry_run"] for body in executes(console)] == [True]

    async def test_confirm_runs_it_for_real_with_a_fresh_request_id(
        self, make_console: Callable[..., ConsoleUnderTest]
    ) -> None:
        console = make_console()
        async with console.app.run_test(size=(120, 40)) as pilot:
            await dry_run(pilot, "health_check")
            await pilot.press("y")
            screen = runbooks_screen(console.app)
            await wait_until(
                pilot, lambda: screen.panel.current is not None and screen.panel.current.status == "success"
            )
            sent = executes(console)
            assert [(b["request_id"], b["dry_run"]) for b in sent] == [("console-0001", True), ("console-0002", False)]
            assert "measured: coverage 0.999" in "\n".join(screen.panel.lines)
            header = screen.query_one("#run-header", Static)
            assert header.has_class("-success") and "exit 0" in str(header.content)
            await wait_until(pilot, lambda: len(screen.history) == 2, what="both runs in the history")
            assert [(r.request_id, r.dry_run) for r in screen.history] == [
                ("console-0002", False),
                ("console-0001", True),
            ]

    async def test_a_failed_run_shows_its_exit_code_in_the_error_colour(
        self, make_console: Callable[..., ConsoleUnderTest]
    ) -> None:
        console = make_console()
        async with console.app.run_test(size=(120, 40)) as pilot:
            await dry_run(pilot, "failover")
            await pilot.press("y")
            screen = runbooks_screen(console.app)
            header = screen.query_one("#run-header", Static)
            await wait_until(pilot, lambda: header.has_class("-failed"), what="a failed run")
            assert "FAILED · exit 3" in str(header.content)
            assert any("ERROR backup profile unreachable" in line for line in screen.panel.lines)


class TestRunning:
    async def test_the_log_tails_in_while_it_runs_and_it_ends_when_released(
        self, make_console: Callable[..., ConsoleUnderTest], release: Path, monotonic: FakeMonotonic
    ) -> None:
        console = make_console()
        async with console.app.run_test(size=(120, 40)) as pilot:
            await dry_run(pilot, "drill")
            await pilot.press("y")
            screen = runbooks_screen(console.app)
            header = screen.query_one("#run-header", Static)
            await wait_until(pilot, lambda: any("failing over" in line for line in screen.panel.lines), what="tail")
            assert screen.panel.running and "RUNNING" in str(header.content)
            monotonic.advance(7)
            await wait_until(pilot, lambda: "running for 7 s" in str(header.content), what="the elapsed time")
            assert not any("failed back" in line for line in screen.panel.lines)
            release.touch()
            await wait_until(pilot, lambda: not screen.panel.running, what="the run's end")
            assert any("failed back" in line for line in screen.panel.lines)
            assert screen.panel.current is not None and screen.panel.current.status == "success"

    async def test_a_run_outliving_the_client_timeout_is_followed_to_its_end(
        self, plant_server: PlantServer, monotonic: FakeMonotonic, release: Path
    ) -> None:
        # `execute` answers when the run ends; a drill outlives the client's timeout, and the run goes on.
        transport = TimingOutTransport(plant_server.port)
        client = OpsClient(DISPLAY_URL, ADMIN_TOKEN, transport=transport)
        app = OpsConsole(client, clock=monotonic)
        async with app.run_test(size=(120, 40)) as pilot:
            await dry_run(pilot, "drill")
            await pilot.press("y")
            screen = runbooks_screen(app)
            # Generous waits: the drill is a real subprocess, slow to start on a loaded machine.
            await wait_until(
                pilot, lambda: any("failing over" in line for line in screen.panel.lines), timeout=20, what="tail"
            )
            await wait_until(pilot, lambda: transport.timed_out, timeout=20, what="the execute request timing out")
            assert screen.panel.running
            release.touch()
            await wait_until(pilot, lambda: not screen.panel.running, timeout=20, what="the run's end")
            assert screen.panel.current is not None and screen.panel.current.status == "success"
            assert app.connection is ConnectionState.CONNECTED

    async def test_abort_goes_through_the_dialog_and_ends_the_run_aborted(
        self, make_console: Callable[..., ConsoleUnderTest]
    ) -> None:
        console = make_console()
        async with console.app.run_test(size=(120, 40)) as pilot:
            await dry_run(pilot, "drill")
            await pilot.press("y")
            screen = runbooks_screen(console.app)
            await wait_until(pilot, lambda: any("failing over" in line for line in screen.panel.lines), what="tail")
            await pilot.press("a")
            await wait_until(pilot, lambda: isinstance(console.app.screen, ConfirmDialog), what="the abort dialog")
            rows = dict(dialog(console.app).view.rows)
            assert rows["Request"] == "console-0002" and rows["Status"] == "running"
            assert console.transport.sent("POST", "/api/ops/runbooks/console-0002/abort") == 0
            await pilot.press("y")
            await wait_until(pilot, lambda: not screen.panel.running, timeout=10, what="the aborted run's end")
            assert console.transport.sent("POST", "/api/ops/runbooks/console-0002/abort") == 1
            assert screen.panel.current is not None and screen.panel.current.status == "aborted"
            assert screen.query_one("#run-header", Static).has_class("-aborted")

    async def test_abort_is_offered_only_while_a_run_is_in_progress(
        self, make_console: Callable[..., ConsoleUnderTest]
    ) -> None:
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await open_runbooks(pilot)
            assert "a" not in footer_keys(console.app)


class TestScopesAndHistory:
    async def test_a_read_only_token_sees_no_run_key_and_pressing_it_says_why(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer
    ) -> None:
        token = plant_server.create_token("reader", "ops:read,runbooks:read")
        console = make_console(token)
        async with console.app.run_test(size=(80, 24)) as pilot:
            await open_runbooks(pilot)
            assert "x" not in footer_keys(console.app)
            await pilot.press("x")
            await pilot.pause(0.2)
            assert executes(console) == []
            assert "runbooks:execute" in str(runbooks_screen(console.app).query_one("#runbooks-footnote").render())

    async def test_history_pages_older_runs_from_the_cursor(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(RunbooksScreen, "PAGE_SIZE", 2)
        client, _ = plant_server.client()
        for n in range(5):
            await client.runbooks.execute("health_check", request_id=f"earlier-{n}", dry_run=True)
        await client.aclose()
        console = make_console()
        async with console.app.run_test(size=(120, 40)) as pilot:
            await open_runbooks(pilot)
            screen = runbooks_screen(console.app)
            await wait_until(pilot, lambda: len(screen.history) == 2, what="the first page")
            assert [r.request_id for r in screen.history] == ["earlier-4", "earlier-3"]
            await pilot.press("o")
            await wait_until(pilot, lambda: len(screen.history) == 4, what="the second page")
            await pilot.press("o")
            await wait_until(pilot, lambda: len(screen.history) == 5, what="the last page")
            assert [r.request_id for r in screen.history] == [f"earlier-{n}" for n in range(4, -1, -1)]
            assert screen.next_cursor is None


def footer_keys(app: OpsConsole) -> set[str]:
    """Keys the footer offers: what the active bindings allow, as the Footer computes it."""
    return {key for key, active in app.screen.active_bindings.items() if active.enabled and active.binding.show}


class TestRefusals:
    async def test_a_real_run_refused_as_another_runs_leaves_the_panel_not_running(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer, release: Path
    ) -> None:
        console = make_console()
        async with console.app.run_test(size=(120, 40)) as pilot:
            await dry_run(pilot, "health_check")
            # While the operator reads the dialog, someone else starts the drill: one runbook at a time.
            client, _ = plant_server.client()
            drill = asyncio.create_task(client.runbooks.execute("drill", request_id="other-drill"))
            await wait_for_run(pilot, client, "other-drill")
            await pilot.press("y")
            screen = runbooks_screen(console.app)
            header = screen.query_one("#run-header", Static)
            await wait_until(pilot, lambda: "NOT RUN" in str(header.content), what="the refused run given up")
            assert not screen.panel.running and "a" not in footer_keys(console.app)
            await pilot.pause(1.2)  # the header's once-a-second refresh must keep saying so
            assert "NOT RUN" in str(header.content) and header.has_class("-failed")
            assert "Refused" in status_line_text(console.app)
            release.touch()
            await drill
            await client.aclose()


async def wait_for_run(pilot: Pilot, client: OpsClient, request_id: str) -> None:
    """Until the server has started the run `request_id`."""
    for _ in range(100):
        try:
            await client.runbooks.run(request_id)
        except NotFound:
            await pilot.pause(0.05)
        else:
            return
    raise AssertionError(f"{request_id} never started")
