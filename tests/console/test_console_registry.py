"""The screen registry builds MODES, the number keys, the palette's screen entries and help's screen list; a line
added to it appears in all of them, and a screen the token may not see is left out with a reason in help."""

from collections.abc import Callable

import pytest
from console_harness import ConsoleUnderTest, PlantServer, palette_titles, status_line_text, wait_until
from shell_screens import EXTRA, ExtendedConsole, QuietScreen, RefundsLikeScreen

from console.app import OpsConsole
from console.connection import ConnectionState
from console.registry import SCREENS
from console.screens.help import HelpScreen


def footer_keys(app: OpsConsole) -> set[str]:
    return {key for key, active in app.screen.active_bindings.items() if active.enabled and active.binding.show}


def help_rows(app: OpsConsole, heading: str) -> list[tuple[str, str]]:
    screen = app.screen
    assert isinstance(screen, HelpScreen)
    return dict(screen.sections())[heading]


@pytest.mark.parametrize("app_class", [OpsConsole, ExtendedConsole])
async def test_every_registered_screen_has_a_mode_a_key_a_palette_entry_and_a_help_entry(
    app_class: type[OpsConsole], make_console: Callable[..., ConsoleUnderTest]
) -> None:
    console = make_console(app_class=app_class)
    app = console.app
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.connection is ConnectionState.CONNECTED, what="connected")
        await pilot.pause()
        specs = app.SCREEN_SPECS
        assert app_class is OpsConsole or len(specs) == len(SCREENS) + len(EXTRA)
        assert {spec.mode: spec.screen for spec in specs} == app.MODES
        titles = palette_titles(app)
        for spec in specs:
            assert f"{spec.title} screen" in titles
        assert {spec.key for spec in specs if spec.key} <= footer_keys(app)
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), what="help")
        rows = help_rows(app, "Screens")
        for spec in specs:  # palette-only screens share the key "ctrl+p": each has a row of its own
            key, text = spec.key or "ctrl+p", f"{spec.title}: {spec.description}"
            assert any(row_key == key and row.startswith(text) for row_key, row in rows), (key, text)


async def test_a_screen_added_to_the_registry_opens_by_key_and_by_palette(
    make_console: Callable[..., ConsoleUnderTest],
) -> None:
    console = make_console(app_class=ExtendedConsole)
    app = console.app
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.connection is ConnectionState.CONNECTED, what="connected")
        await pilot.press("0")
        await wait_until(pilot, lambda: isinstance(app.screen, QuietScreen), what="the quiet screen")
        # Its own key is in the footer and the palette, from its BINDINGS alone.
        assert "w" in footer_keys(app)
        assert "Quiet: Wave" in palette_titles(app)
        await pilot.press("1")
        await wait_until(pilot, lambda: app.current_mode == "status", what="back to status")


async def test_a_screen_the_token_may_not_see_is_hidden_with_a_reason(
    make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer
) -> None:
    # The admin token has every scope; this one lacks refunds:pii, which the palette-only screen needs.
    console = make_console(plant_server.create_token("reader", "ops:read"), app_class=ExtendedConsole)
    app = console.app
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.connection is ConnectionState.CONNECTED, what="connected")
        await pilot.pause()
        titles = palette_titles(app)
        assert "Quiet screen" in titles
        assert "Secret screen" not in titles
        app.action_show("secret")  # as a stale palette entry would
        await pilot.pause()
        assert app.current_mode == "status"
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), what="help")
        assert ("ctrl+p", "Secret: hidden — this token lacks refunds:pii") in help_rows(app, "Screens")


async def test_a_scoped_key_without_the_scope_says_so_and_does_nothing(
    make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer
) -> None:
    # refunds:pii lets the screen be seen; its action needs refunds:operator, which the token lacks.
    console = make_console(plant_server.create_token("auditor", "ops:read,refunds:pii"), app_class=ExtendedConsole)
    app = console.app
    RefundsLikeScreen.processed = 0
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.connection is ConnectionState.CONNECTED, what="connected")
        app.action_show("secret")
        await wait_until(pilot, lambda: isinstance(app.screen, RefundsLikeScreen), what="the refunds-like screen")
        assert "p" not in footer_keys(app)
        assert "Refunds: Process" not in palette_titles(app)
        await pilot.press("p")
        await pilot.pause()
        assert RefundsLikeScreen.processed == 0
        assert status_line_text(app) == "read-only token: commands need refunds:operator"
