"""The footer fits: every key stays visible at 80x24 and 60 columns (labels shorten, keys never go), nothing
overlaps or runs over the edge, and below the smallest usable size a plain notice replaces the screen."""

import itertools
from collections.abc import Callable

import pytest
from console_harness import ConsoleUnderTest, PlantServer, wait_until
from textual.pilot import Pilot
from textual.widgets import Static
from textual.widgets._footer import FooterKey

from console.app import OpsConsole
from console.connection import ConnectionState
from console.messages import ConnectionLost
from console.widgets.ops_footer import OpsFooter, fit_labels


def shown_keys(app: OpsConsole) -> set[str]:
    """Keys the bindings offer in the footer now (the palette key included)."""
    return {active.binding.key for active in app.screen.active_bindings.values() if active.binding.show}


def footer_items(app: OpsConsole) -> list[FooterKey]:
    return list(app.screen.query_one(OpsFooter).query(FooterKey))


def assert_footer_fits(app: OpsConsole, width: int) -> None:
    items = footer_items(app)
    assert {item.key for item in items} == shown_keys(app) | {"ctrl+p"}
    palette = next(item for item in items if item.has_class("-command-palette"))
    others = sorted((item for item in items if item is not palette), key=lambda item: item.region.x)
    assert all(item.region.width > 0 for item in items), "a key has no room"
    for left, right in itertools.pairwise(others):
        assert left.region.right <= right.region.x, f"{left.key} overlaps {right.key}"
    assert others[-1].region.right <= palette.region.x, "keys run under the palette key"
    assert palette.region.right <= width
    for item in items:
        # A label is the description or a shortening of it, never cut mid-word.
        assert item.description == "" or item.description.split(" ")[0] in item.description


async def loaded(pilot: Pilot, app: OpsConsole) -> None:
    await wait_until(pilot, lambda: app.connection is ConnectionState.CONNECTED, what="connected")
    await wait_until(pilot, lambda: app.screen.query("#components"), what="the table")
    await pilot.pause(0.1)


@pytest.mark.parametrize("width", [80, 60])
async def test_every_status_key_is_visible_and_fits(width: int, make_console: Callable[..., ConsoleUnderTest]) -> None:
    console = make_console()
    app = console.app
    async with app.run_test(size=(width, 24)) as pilot:
        await loaded(pilot, app)
        assert {"s", "x", "r", "1", "2", "question_mark", "q"} <= shown_keys(app)
        assert_footer_fits(app, width)
        await pilot.press("2")
        await wait_until(pilot, lambda: app.current_mode == "audit", what="audit")
        await pilot.pause(0.1)
        assert_footer_fits(app, width)


async def test_full_labels_when_there_is_room(make_console: Callable[..., ConsoleUnderTest]) -> None:
    console = make_console()
    app = console.app
    async with app.run_test(size=(160, 24)) as pilot:
        await loaded(pilot, app)
        labels = {item.key: item.description for item in footer_items(app)}
        assert labels["1"] == "Status"
        assert labels["ctrl+p"] == "palette"


async def test_the_reconnect_key_fits_at_80_columns_while_disconnected(plant_server: PlantServer) -> None:
    client, _ = plant_server.client()
    app = OpsConsole(client)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot, app)
        plant_server.server.stop()
        app.post_message(ConnectionLost("test"))
        await wait_until(pilot, lambda: app.connection is ConnectionState.DISCONNECTED, what="disconnected")
        await pilot.pause(0.1)
        assert "ctrl+r" in {item.key for item in footer_items(app)}
        assert_footer_fits(app, 80)


@pytest.mark.parametrize("size", [(59, 24), (80, 15)])
async def test_below_the_smallest_size_a_plain_notice_replaces_the_screen(
    size: tuple[int, int], make_console: Callable[..., ConsoleUnderTest]
) -> None:
    console = make_console()
    app = console.app
    async with app.run_test(size=size) as pilot:
        await pilot.pause(0.2)
        notice = app.screen.query_one("#too-small", Static)
        assert notice.display and notice.region.width > 0
        assert "Terminal too small" in str(notice.content)
        assert app.screen.query_one(OpsFooter).region.width == 0
        await pilot.resize_terminal(80, 24)
        await pilot.pause(0.2)
        assert notice.region.width == 0
        assert app.screen.query_one(OpsFooter).region.width == 80


def test_labels_shorten_screen_keys_first_and_never_drop_a_key() -> None:
    keys = [("s", "Start", 2), ("r", "Restart", 2), ("1", "Status", 0), ("?", "Help", 1)]
    assert fit_labels(keys, 100) == ["Start", "Restart", "Status", "Help"]
    assert fit_labels(keys, 27) == ["Start", "Restart", "", "Help"]
    assert fit_labels(keys, 25) == ["Start", "Restart", "", ""]
    assert fit_labels(keys, 21) == ["Start", "", "", ""]
    assert fit_labels(keys, 3) == ["", "", "", ""]
    assert fit_labels([("d", "Dry-run on", 2)], 10) == ["Dry-run"]
