"""`?` opens a help overlay for the current screen: its keys, the app's keys, the confirm dialog's keys, what the
colours mean, and the screens; escape (or ? again) closes it."""

from collections.abc import Callable

from console_harness import ConsoleUnderTest, wait_until
from shell_screens import ExtendedConsole, QuietScreen
from textual.pilot import Pilot

from console.app import OpsConsole
from console.connection import ConnectionState
from console.screens.help import HelpScreen
from console.widgets.confirm_dialog import ConfirmDialog


def help_of(app: OpsConsole) -> HelpScreen:
    screen = app.screen
    assert isinstance(screen, HelpScreen)
    return screen


async def open_help(pilot: Pilot, app: OpsConsole) -> dict[str, list[tuple[str, str]]]:
    await wait_until(pilot, lambda: app.connection is ConnectionState.CONNECTED, what="connected")
    await pilot.pause()
    await pilot.press("question_mark")
    await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), what="the help overlay")
    return dict(help_of(app).sections())


class TestHelp:
    def test_snapshot_help_80x24(self, snap_compare, make_console: Callable[..., ConsoleUnderTest]) -> None:
        console = make_console()

        async def run_before(pilot: Pilot) -> None:
            await open_help(pilot, console.app)

        assert snap_compare(console.app, terminal_size=(80, 24), run_before=run_before)

    def test_snapshot_help_120x40(self, snap_compare, make_console: Callable[..., ConsoleUnderTest]) -> None:
        console = make_console()

        async def run_before(pilot: Pilot) -> None:
            await open_help(pilot, console.app)

        assert snap_compare(console.app, terminal_size=(120, 40), run_before=run_before)

    async def test_help_lists_the_current_screens_keys_from_its_bindings(
        self, make_console: Callable[..., ConsoleUnderTest]
    ) -> None:
        console = make_console(app_class=ExtendedConsole)
        app = console.app
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: app.connection is ConnectionState.CONNECTED, what="connected")
            await pilot.press("0")
            await wait_until(pilot, lambda: isinstance(app.screen, QuietScreen), what="the quiet screen")
            sections = await open_help(pilot, app)
            assert sections["Quiet keys"] == [("w", "Wave at the operator")]
            assert ("?", "Keys, colours and screens") in sections["Everywhere"]
            assert ("q", "Quit the console") in sections["Everywhere"]
            assert ("y", "Confirm") in sections["Confirm dialog"]
            assert ("n/esc", "Cancel") in sections["Confirm dialog"]
            assert ("purple", "a quiet screen's colour") in sections["Colours"]
            assert any(what == "red banner" for what, _ in sections["Colours"])

    async def test_escape_and_question_mark_close_the_overlay(
        self, make_console: Callable[..., ConsoleUnderTest]
    ) -> None:
        console = make_console()
        app = console.app
        async with app.run_test(size=(80, 24)) as pilot:
            for key in ("escape", "question_mark"):
                await open_help(pilot, app)
                await pilot.press(key)
                await wait_until(pilot, lambda: not isinstance(app.screen, HelpScreen), what=f"{key} to close")
            assert app.current_mode == "status"
            assert len(app.screen_stack) == 1

    async def test_help_over_the_confirm_dialog_explains_the_dialog_and_returns_to_it(
        self, make_console: Callable[..., ConsoleUnderTest]
    ) -> None:
        console = make_console()
        app = console.app
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: app.connection is ConnectionState.CONNECTED, what="connected")
            await wait_until(pilot, lambda: app.screen.query("#components"), what="the table")
            await pilot.press("x")
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the dialog")
            dialog = app.screen
            sections = await open_help(pilot, app)
            assert ("y", "Confirm") in sections["Dialog keys"]
            await pilot.press("escape")
            await wait_until(pilot, lambda: app.screen is dialog, what="back to the dialog")
            assert console.transport.confirms() == []
