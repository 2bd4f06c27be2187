"""The two-step ConfirmDialog flow, driven by keys against a real server."""

from collections.abc import Callable

from console_harness import (
    ConsoleUnderTest,
    FakeMonotonic,
    PlantServer,
    component_state,
    select_component,
    status_line_text,
    wait_until,
)
from textual.pilot import Pilot
from textual.widgets import Button, Input, Label, Static
from textual.worker import Worker

from console.app import OpsConsole
from console.commanding import Prepared, run_flow
from console.connection import ConnectionState
from console.widgets.confirm_dialog import ConfirmDialog, ConfirmView
from console.widgets.reason_prompt import ReasonPrompt
from server.keys import AUDIT
from shared.control import CommandParams
from shared.errors import Conflict, Forbidden, OpsClientError


def dialog_of(console: ConsoleUnderTest) -> ConfirmDialog | None:
    screen = console.app.screen
    return screen if isinstance(screen, ConfirmDialog) else None


async def open_dialog(pilot: Pilot, console: ConsoleUnderTest, component: str, key: str) -> ConfirmDialog:
    await select_component(pilot, component)
    requests_before = len(console.transport.commands())
    await pilot.press(key)
    await wait_until(pilot, lambda: dialog_of(console) is not None, what="the confirm dialog")
    assert len(console.transport.commands()) == requests_before + 1
    dialog = dialog_of(console)
    assert dialog is not None
    return dialog


def countdown_text(dialog: ConfirmDialog) -> str:
    return str(dialog.query_one("#countdown", Static).content)


class TestConfirmDialog:
    def test_snapshot_confirm_dialog(self, snap_compare, make_console: Callable[..., ConsoleUnderTest]) -> None:
        console = make_console()

        async def open_restart(pilot: Pilot) -> None:
            await open_dialog(pilot, console, "execution_engine", "r")

        assert snap_compare(console.app, terminal_size=(80, 24), run_before=open_restart)

    def test_snapshot_confirm_dialog_120x40(self, snap_compare, make_console: Callable[..., ConsoleUnderTest]) -> None:
        console = make_console()

        async def open_restart(pilot: Pilot) -> None:
            await open_dialog(pilot, console, "execution_engine", "r")

        assert snap_compare(console.app, terminal_size=(120, 40), run_before=open_restart)

    def test_snapshot_expired_confirm_dialog(
        self, snap_compare, make_console: Callable[..., ConsoleUnderTest], monotonic: FakeMonotonic
    ) -> None:
        console = make_console()

        async def open_and_expire(pilot: Pilot) -> None:
            dialog = await open_dialog(pilot, console, "connector", "x")
            monotonic.advance(61)
            await wait_until(pilot, lambda: dialog.expired, what="expiry")

        assert snap_compare(console.app, terminal_size=(80, 24), run_before=open_and_expire)

    async def test_dialog_shows_exactly_what_will_run(self, make_console: Callable[..., ConsoleUnderTest]) -> None:
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            dialog = await open_dialog(pilot, console, "execution_engine", "r")
            values = [str(label.content) for label in dialog.query(".plan-value").results(Label)]
            assert values == [
                "restart",
                "execution_engine",
                "none",
                "running",
                "live",
                "restart execution_engine (now running, mode live)",
            ]
            assert countdown_text(dialog).startswith("Expires in 60 s")

    async def test_confirm_by_keys_executes_exactly_once_and_the_table_shows_restarting(
        self, make_console: Callable[..., ConsoleUnderTest]
    ) -> None:
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await open_dialog(pilot, console, "execution_engine", "r")
            await pilot.press("y")
            await wait_until(pilot, lambda: component_state(console.app, "execution_engine") == "restarting")
            assert dialog_of(console) is None
            [confirm] = console.transport.confirms()
            assert confirm["command"] == "restart"
            assert confirm["component"] == "execution_engine"
            assert len(console.transport.commands()) == 2
            assert any("execution_engine: restarting" in n for n in console.notifications)

    async def test_enter_on_the_confirm_button_confirms(self, make_console: Callable[..., ConsoleUnderTest]) -> None:
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            dialog = await open_dialog(pilot, console, "mt5_bridge", "x")
            dialog.query_one("#confirm", Button).focus()
            await pilot.press("enter")
            await wait_until(pilot, lambda: component_state(console.app, "mt5_bridge") == "stopped")
            assert len(console.transport.confirms()) == 1

    async def test_enter_by_default_cancels(self, make_console: Callable[..., ConsoleUnderTest]) -> None:
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await open_dialog(pilot, console, "mt5_bridge", "x")
            await pilot.press("enter")
            await wait_until(pilot, lambda: dialog_of(console) is None, what="the dialog to close")
            assert console.transport.confirms() == []

    async def test_cancel_sends_no_second_request(self, make_console: Callable[..., ConsoleUnderTest]) -> None:
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            for key in ("n", "escape"):
                await open_dialog(pilot, console, "execution_engine", "r")
                await pilot.press(key)
                await wait_until(pilot, lambda: dialog_of(console) is None, what="the dialog to close")
            await pilot.pause(0.2)
            assert len(console.transport.commands()) == 2
            assert console.transport.confirms() == []
            assert component_state(console.app, "execution_engine") == "running"
            assert status_line_text(console.app) == "restart execution_engine: cancelled; nothing was done."

    async def test_expired_dialog_refuses_confirm_and_offers_a_new_request(
        self, make_console: Callable[..., ConsoleUnderTest], monotonic: FakeMonotonic
    ) -> None:
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            dialog = await open_dialog(pilot, console, "execution_engine", "r")
            monotonic.advance(60)
            await wait_until(pilot, lambda: dialog.expired, what="expiry")
            assert "expired" in countdown_text(dialog).lower()
            assert dialog.query_one("#rerequest", Button).display
            assert not dialog.query_one("#confirm", Button).display
            await pilot.press("y")
            await pilot.pause(0.1)
            assert console.transport.confirms() == []
            assert dialog_of(console) is dialog

            await pilot.press("r")
            await wait_until(pilot, lambda: dialog_of(console) not in (None, dialog), what="a fresh dialog")
            assert len(console.transport.commands()) == 2  # a second first-step request, no confirm
            assert console.transport.confirms() == []
            await pilot.press("y")
            await wait_until(pilot, lambda: component_state(console.app, "execution_engine") == "restarting")
            assert len(console.transport.confirms()) == 1

    async def test_stale_token_answer_offers_a_new_request(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer
    ) -> None:
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await open_dialog(pilot, console, "mt5_bridge", "x")
            # Someone else restarts the bridge, and it comes back, while our dialog is open.
            plant_server.server.call(plant_server.plant.execute, "restart", "mt5_bridge", CommandParams())
            plant_server.advance(3)
            await pilot.press("y")
            await wait_until(
                pilot, lambda: (d := dialog_of(console)) is not None and d.problem is not None, what="problem dialog"
            )
            problem_dialog = dialog_of(console)
            assert problem_dialog is not None
            problem = str(problem_dialog.query_one("#problem", Static).content)
            assert problem == "The system changed since this confirmation was issued; ask for a new one."
            await pilot.press("r")
            await wait_until(
                pilot, lambda: (d := dialog_of(console)) is not None and d.problem is None, what="fresh dialog"
            )
            await pilot.press("y")
            await wait_until(pilot, lambda: component_state(console.app, "mt5_bridge") == "stopped")
            assert len(console.transport.confirms()) == 2


def reason_prompt_of(console: ConsoleUnderTest) -> ReasonPrompt | None:
    screen = console.app.screen
    return screen if isinstance(screen, ReasonPrompt) else None


async def type_reason(pilot: Pilot, console: ConsoleUnderTest, text: str) -> None:
    await pilot.press("e")
    await wait_until(pilot, lambda: reason_prompt_of(console) is not None, what="the reason prompt")
    prompt = reason_prompt_of(console)
    assert prompt is not None
    prompt.query_one("#reason", Input).value = text
    await pilot.press("enter")


class TestReason:
    def test_snapshot_reason_prompt(self, snap_compare, make_console: Callable[..., ConsoleUnderTest]) -> None:
        console = make_console()

        async def open_prompt(pilot: Pilot) -> None:
            await open_dialog(pilot, console, "connector", "x")
            await pilot.press("e")
            await wait_until(pilot, lambda: reason_prompt_of(console) is not None, what="the reason prompt")
            await pilot.press(*"maintenance")

        assert snap_compare(console.app, terminal_size=(80, 24), run_before=open_prompt)

    async def test_a_reason_is_requested_anew_shown_and_sent_with_the_confirm(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer
    ) -> None:
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            first = await open_dialog(pilot, console, "execution_engine", "r")

            await type_reason(pilot, console, "  maintenance window OPS-42 ")
            await wait_until(pilot, lambda: dialog_of(console) not in (None, first), what="a dialog for the reason")
            dialog = dialog_of(console)
            assert dialog is not None
            values = [str(label.content) for label in dialog.query(".plan-value").results(Label)]
            assert values[2] == "reason=maintenance window OPS-42"
            # The token of the first dialog was bound to no reason: a second first step asked for one with it.
            assert [c.get("params") for c in console.transport.commands()] == [
                {},
                {"reason": "maintenance window OPS-42"},
            ]

            await pilot.press("y")
            await wait_until(pilot, lambda: component_state(console.app, "execution_engine") == "restarting")
            [confirm] = console.transport.confirms()
            assert confirm["params"] == {"reason": "maintenance window OPS-42"}
        server_app = plant_server.server.app
        assert server_app is not None
        entries = plant_server.server.run(server_app[AUDIT].recent(10, changes_only=True))
        executed = next(e for e in entries if e.record.action == "command.execute")
        assert executed.record.detail["params"] == {"reason": "maintenance window OPS-42"}

    async def test_escape_in_the_prompt_keeps_the_dialog_and_its_token(
        self, make_console: Callable[..., ConsoleUnderTest]
    ) -> None:
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            dialog = await open_dialog(pilot, console, "execution_engine", "r")
            await pilot.press("e")
            await wait_until(pilot, lambda: reason_prompt_of(console) is not None, what="the reason prompt")
            await pilot.press("escape")
            await wait_until(pilot, lambda: dialog_of(console) is dialog, what="the same dialog")

            await pilot.press("y")
            await wait_until(pilot, lambda: component_state(console.app, "execution_engine") == "restarting")
            assert len(console.transport.commands()) == 2  # the first step and its confirm, nothing in between


class FakeFamily:
    """A non-control two-step action (a worklist acknowledge, say): request and confirm are plain callables that
    record their calls and fail as told."""

    def __init__(self) -> None:
        self.requests: list[str | None] = []
        self.confirms: list[int] = []
        self.confirm_errors: list[OpsClientError] = []
        self.request_error: OpsClientError | None = None

    async def request(self, reason: str | None) -> Prepared[int]:
        if self.request_error is not None:
            raise self.request_error
        self.requests.append(reason)
        ticket = len(self.requests)
        view = ConfirmView(
            title="Acknowledge recommendation rec-7",
            rows=(("Recommendation", "rec-7"), ("Action", "acknowledge"), ("Ticket", str(ticket))),
            preview="dry run:\n  would mark rec-7 acknowledged\n  would notify the investigation owner",
        )
        return Prepared(view, ticket)

    async def confirm(self, ticket: int) -> str:
        self.confirms.append(ticket)
        if self.confirm_errors:
            raise self.confirm_errors.pop(0)
        return f"acknowledged with ticket {ticket}"


async def start_flow(pilot: Pilot, app: OpsConsole, family: FakeFamily) -> Worker[str | None]:
    await wait_until(pilot, lambda: app.connection is ConnectionState.CONNECTED, what="connected")

    async def flow() -> str | None:
        return await run_flow(app, title="acknowledge rec-7", request=family.request, confirm=family.confirm)

    worker: Worker[str | None] = app.run_worker(flow())
    return worker


def flow_dialog(app: OpsConsole) -> ConfirmDialog | None:
    screen = app.screen
    return screen if isinstance(screen, ConfirmDialog) else None


class TestGenericFlow:
    def test_snapshot_preview_dialog(self, snap_compare, make_console: Callable[..., ConsoleUnderTest]) -> None:
        console = make_console()
        family = FakeFamily()

        async def run_before(pilot: Pilot) -> None:
            await start_flow(pilot, console.app, family)
            await wait_until(pilot, lambda: flow_dialog(console.app) is not None, what="the dialog")

        assert snap_compare(console.app, terminal_size=(80, 24), run_before=run_before)

    async def test_a_view_without_expiry_shows_its_preview_and_confirms_once(
        self, make_console: Callable[..., ConsoleUnderTest]
    ) -> None:
        console = make_console()
        family = FakeFamily()
        async with console.app.run_test(size=(80, 24)) as pilot:
            worker = await start_flow(pilot, console.app, family)
            await wait_until(pilot, lambda: flow_dialog(console.app) is not None, what="the dialog")
            dialog = flow_dialog(console.app)
            assert dialog is not None
            assert "would notify the investigation owner" in str(dialog.query_one("#preview Static", Static).content)
            assert countdown_text(dialog) == "y confirms, n cancels."
            await pilot.press("e")  # this view asks no reason: nothing opens
            await pilot.pause()
            assert reason_prompt_of(console) is None
            await pilot.press("y")
            await wait_until(pilot, lambda: worker.is_finished, what="the flow to end")
            assert worker.result == "acknowledged with ticket 1"
            assert family.requests == [None]
            assert family.confirms == [1]
            assert console.transport.commands() == []  # nothing of the control family was sent

    async def test_a_retryable_refusal_shows_why_and_a_new_request_confirms(
        self, make_console: Callable[..., ConsoleUnderTest]
    ) -> None:
        console = make_console()
        family = FakeFamily()
        family.confirm_errors = [Conflict("stale", status=409, code="confirm_token_stale", detail="rec-7 changed")]
        async with console.app.run_test(size=(80, 24)) as pilot:
            worker = await start_flow(pilot, console.app, family)
            await wait_until(pilot, lambda: flow_dialog(console.app) is not None, what="the dialog")
            await pilot.press("y")
            await wait_until(
                pilot, lambda: (d := flow_dialog(console.app)) is not None and d.problem is not None, what="problem"
            )
            await pilot.press("y")  # refused: only a new request is offered
            await pilot.pause()
            assert family.confirms == [1]
            await pilot.press("r")
            await wait_until(pilot, lambda: len(family.requests) == 2, what="a second request")
            await wait_until(
                pilot, lambda: (d := flow_dialog(console.app)) is not None and d.problem is None, what="fresh dialog"
            )
            await pilot.press("y")
            await wait_until(pilot, lambda: worker.is_finished, what="the flow to end")
            assert family.confirms == [1, 2]
            assert worker.result == "acknowledged with ticket 2"

    async def test_a_final_refusal_is_said_in_words_and_ends_the_flow(
        self, make_console: Callable[..., ConsoleUnderTest]
    ) -> None:
        console = make_console()
        family = FakeFamily()
        family.confirm_errors = [
            Conflict("refused", status=409, code="command_refused", detail="the recommendation is already closed")
        ]
        async with console.app.run_test(size=(80, 24)) as pilot:
            worker = await start_flow(pilot, console.app, family)
            await wait_until(pilot, lambda: flow_dialog(console.app) is not None, what="the dialog")
            await pilot.press("y")
            await wait_until(pilot, lambda: worker.is_finished, what="the flow to end")
            assert worker.result is None
            assert flow_dialog(console.app) is None
            line = status_line_text(console.app)
            assert line == "acknowledge rec-7: Refused: the recommendation is already closed"
            assert "command_refused" not in line

    async def test_a_failed_request_opens_no_dialog(self, make_console: Callable[..., ConsoleUnderTest]) -> None:
        console = make_console()
        family = FakeFamily()
        family.request_error = Forbidden("no", status=403, code="insufficient_scope", detail="lacks ops_agent:ack")
        async with console.app.run_test(size=(80, 24)) as pilot:
            worker = await start_flow(pilot, console.app, family)
            await wait_until(pilot, lambda: worker.is_finished, what="the flow to end")
            assert worker.result is None
            assert flow_dialog(console.app) is None
            assert status_line_text(console.app) == "acknowledge rec-7: This token is not allowed to do that."
