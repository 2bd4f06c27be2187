"""Assets screen (palette only): every version of every asset type with its status; the content of the version
under the cursor; a new draft copied from a version and the publishing of a draft, both through the ConfirmDialog
(cancel changes nothing; confirm publishes and archives the version published before); a token without
assets:write sees neither key and cannot publish."""

import io
from collections.abc import Callable

import pytest
from console_harness import ConsoleUnderTest, PlantServer, palette_titles, status_line_text, wait_until
from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Static

from console.connection import ConnectionState
from console.screens.assets import AssetsScreen
from console.screens.status import StatusScreen
from console.widgets.confirm_dialog import ConfirmDialog
from console.widgets.nav_table import NavTable

DRAFT_ID = "asset_policy_ops-policy_1.1.0"
PUBLISHED_ID = "asset_policy_ops-policy_1.0.0"


@pytest.fixture(autouse=True)
def no_timed_refresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(StatusScreen, "REFRESH_SECONDS", 3600.0)


async def plant_draft(plant_server: PlantServer) -> None:
    """Another operator's client drafts policy ops-policy 1.1.0, a copy of the published 1.0.0."""
    client, _ = plant_server.client()
    async with client:
        source = await client.orchestration.asset("policy", "ops-policy", "1.0.0")
        await client.orchestration.create_asset(
            "policy", "ops-policy", "1.1.0", name="Ask policy, stricter", content=source.content
        )


async def statuses(plant_server: PlantServer) -> dict[str, str]:
    """Status of each ops-policy version, as the server has it now."""
    client, _ = plant_server.client()
    async with client:
        listed = await client.orchestration.assets("policy", asset_id="ops-policy")
    return {a.version: a.status for a in listed.assets}


def assets_screen(console: ConsoleUnderTest) -> AssetsScreen:
    screen = console.app.screen
    assert isinstance(screen, AssetsScreen), screen
    return screen


def table(console: ConsoleUnderTest) -> NavTable[object]:
    return assets_screen(console).query_one("#asset-versions", NavTable)


def rows(console: ConsoleUnderTest) -> list[list[str]]:
    t = table(console)
    return [[str(cell) for cell in t.get_row_at(i)][:4] for i in range(t.row_count)]


def content_text(console: ConsoleUnderTest) -> str:
    printer = Console(width=120, file=io.StringIO(), record=True)
    printer.print(assets_screen(console).query_one("#asset-content-body", Static).content)
    return printer.export_text()


def footer_keys(console: ConsoleUnderTest) -> set[str]:
    screen = console.app.screen
    return {key for key, active in screen.active_bindings.items() if active.enabled and active.binding.show}


async def open_assets(pilot: Pilot, console: ConsoleUnderTest) -> None:
    """Through the palette, as an operator would: the screen has no number key."""
    app = console.app
    await wait_until(pilot, lambda: app.connection is ConnectionState.CONNECTED, what="connected")
    await pilot.press("ctrl+p")
    await pilot.press(*"Assets screen")
    await pilot.pause(0.3)
    await pilot.press("enter")
    await wait_until(pilot, lambda: isinstance(app.screen, AssetsScreen) and table(console).row_count, what="assets")


async def select(pilot: Pilot, console: ConsoleUnderTest, asset_id: str) -> None:
    await wait_until(pilot, lambda: asset_id in {str(k.value) for k in table(console).rows}, what=asset_id)
    await pilot.press("home")
    for _ in range(table(console).row_count):
        if table(console).cursor_key == asset_id:
            await pilot.pause()
            return
        await pilot.press("j")
    raise AssertionError(f"could not select {asset_id}")


async def press_publish(pilot: Pilot, console: ConsoleUnderTest) -> ConfirmDialog:
    await pilot.press("p")
    await wait_until(pilot, lambda: isinstance(console.app.screen, ConfirmDialog), what="the confirm dialog")
    dialog = console.app.screen
    assert isinstance(dialog, ConfirmDialog)
    return dialog


class TestAssets:
    @pytest.mark.parametrize("size", [(80, 24), (120, 40)])
    def test_snapshot_assets_screen(
        self,
        snap_compare,
        make_console: Callable[..., ConsoleUnderTest],
        plant_server: PlantServer,
        size: tuple[int, int],
    ) -> None:
        console = make_console()

        async def run_before(pilot: Pilot) -> None:
            await plant_draft(plant_server)
            await open_assets(pilot, console)
            await select(pilot, console, DRAFT_ID)
            await wait_until(pilot, lambda: "Ask policy, stricter" in content_text(console), what="the content")

        assert snap_compare(console.app, terminal_size=size, run_before=run_before)

    async def test_every_type_is_listed_with_versions_and_status(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer
    ) -> None:
        await plant_draft(plant_server)
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            assert "Assets screen" in palette_titles(console.app)
            await open_assets(pilot, console)
            assert rows(console) == [
                ["prompt", "ci-router", "1.0.0", "published"],
                ["policy", "ops-policy", "1.1.0", "draft"],
                ["policy", "ops-policy", "1.0.0", "published"],
                ["query", "ci-queries", "1.0.0", "published"],
                ["mapping", "ci-words", "1.0.0", "published"],
                ["screen", "answer-layouts", "1.0.0", "published"],
            ]
            await pilot.press("f", "f")  # all -> prompt -> policy
            assert [row[2] for row in rows(console)] == ["1.1.0", "1.0.0"]
            footnote = str(assets_screen(console).query_one("#assets-footnote", Static).content)
            assert footnote.startswith("policy: 2 versions, 1 draft")

    async def test_the_version_under_the_cursor_shows_its_content(
        self, make_console: Callable[..., ConsoleUnderTest]
    ) -> None:
        console = make_console()
        async with console.app.run_test(size=(120, 40)) as pilot:
            await open_assets(pilot, console)
            await select(pilot, console, PUBLISHED_ID)
            await wait_until(pilot, lambda: "policy ops-policy 1.0.0" in content_text(console), what="the content")
            text = content_text(console)
            assert "published" in text and "Ask policy" in text
            assert '"replan": {' in text  # the content itself, as JSON
            assert console.transport.sent("GET", "/assets/policy/ops-policy/1.0.0") == 1

    async def test_publishing_a_draft_cancel_leaves_it_confirm_publishes_and_archives(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer
    ) -> None:
        await plant_draft(plant_server)
        console = make_console()
        async with console.app.run_test(size=(120, 40)) as pilot:
            await open_assets(pilot, console)
            await select(pilot, console, PUBLISHED_ID)
            assert "p" not in footer_keys(console)  # only a draft can be published
            await select(pilot, console, DRAFT_ID)
            assert "p" in footer_keys(console)
            dialog = await press_publish(pilot, console)
            assert dict(dialog.view.rows)["Publish"] == "1.1.0 (draft, by env:OPS_API_TOKEN)"
            assert dict(dialog.view.rows)["Archive"] == "1.0.0"
            await pilot.press("n")
            await wait_until(pilot, lambda: isinstance(console.app.screen, AssetsScreen), what="back")
            assert await statuses(plant_server) == {"1.1.0": "draft", "1.0.0": "published"}
            assert console.transport.sent("POST", "/assets/policy/ops-policy/1.1.0/publish") == 0
            assert "cancelled; nothing was done" in status_line_text(console.app)

            await press_publish(pilot, console)
            await pilot.press("y")
            await wait_until(pilot, lambda: ["policy", "ops-policy", "1.1.0", "published"] in rows(console))
            assert await statuses(plant_server) == {"1.1.0": "published", "1.0.0": "archived"}
            assert ["policy", "ops-policy", "1.0.0", "archived"] in rows(console)
            assert console.transport.sent("POST", "/assets/policy/ops-policy/1.1.0/publish") == 1
            assert status_line_text(console.app).startswith("Published policy ops-policy 1.1.0")

    async def test_a_new_draft_copies_the_version_through_the_dialog(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer
    ) -> None:
        console = make_console()
        async with console.app.run_test(size=(120, 40)) as pilot:
            await open_assets(pilot, console)
            await select(pilot, console, "asset_mapping_ci-words_1.0.0")
            await pilot.press("d")
            await wait_until(pilot, lambda: isinstance(console.app.screen, ConfirmDialog), what="the confirm dialog")
            await pilot.press("y")
            new_id = "asset_mapping_ci-words_1.0.1"
            await wait_until(pilot, lambda: table(console).cursor_key == new_id, what="the new draft selected")
            client, _ = plant_server.client()
            async with client:
                copy = await client.orchestration.asset("mapping", "ci-words", "1.0.1")
                source = await client.orchestration.asset("mapping", "ci-words", "1.0.0")
            assert copy.status == "draft" and copy.content == source.content
            assert "p" in footer_keys(console)

    async def test_a_token_without_assets_write_cannot_publish(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer
    ) -> None:
        await plant_draft(plant_server)
        console = make_console(plant_server.create_token("reader", "ops:read"))
        async with console.app.run_test(size=(80, 24)) as pilot:
            await open_assets(pilot, console)
            await select(pilot, console, DRAFT_ID)
            assert {"p", "d"}.isdisjoint(footer_keys(console))
            assert not any("Publish" in title or "New draft" in title for title in palette_titles(console.app))
            await pilot.press("p")
            await pilot.pause()
            assert isinstance(console.app.screen, AssetsScreen)  # no dialog
            assert status_line_text(console.app) == "read-only token: commands need assets:write"
            assets_screen(console).action_publish()  # as a stale palette entry would
            await pilot.pause()
            assert isinstance(console.app.screen, AssetsScreen)
            assert status_line_text(console.app) == "read-only token: asset changes need assets:write"
            assert console.transport.sent("POST", "/assets/policy/ops-policy/1.1.0/publish") == 0
            assert await statuses(plant_server) == {"1.1.0": "draft", "1.0.0": "published"}
