"""Worklist screen (key 6) against the real embedded server: the recommendations of investigations most severe
first, a severity filter, more pages by the server's cursor, acknowledge and reject with a comment through the
confirm dialog, a decision someone else made first (409) said in words, and no decision keys for a read-only token."""

import itertools
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs

import pytest
from console_harness import ConsoleUnderTest, PlantServer, palette_titles, status_line_text, wait_until
from textual.pilot import Pilot
from textual.widgets import Input, Label, Static
from textual.widgets._footer import FooterKey

from console.screens.worklist import WorklistScreen
from console.widgets.confirm_dialog import ConfirmDialog
from console.widgets.nav_table import NavTable
from console.widgets.ops_footer import OpsFooter
from console.widgets.reason_prompt import ReasonPrompt
from shared.agent import SEVERITY_RANK, Recommendation

READ_ONLY_SCOPES = "ops:read,ops_agent:read"


@pytest.fixture(autouse=True)
def no_timed_refresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(WorklistScreen, "REFRESH_SECONDS", 3600.0)


async def investigate(plant_server: PlantServer, count: int = 1) -> None:
    """Run quick investigations of the newest suspicious deposits through the API, until each has finished."""
    client, _ = plant_server.client()
    async with client:
        suspicious = (await client.agent.transactions(count, suspicious=True)).items
        for tx in suspicious:
            started = await client.agent.run(tx.transaction_id)
            for _ in range(500):
                if (await client.agent.investigation(started.investigation_id)).status != "running":
                    break


async def all_recommendations(plant_server: PlantServer) -> list[Recommendation]:
    client, _ = plant_server.client()
    async with client:
        return (await client.agent.worklist(200)).items


def screen_of(console: ConsoleUnderTest) -> WorklistScreen:
    screen = console.app.screen
    assert isinstance(screen, WorklistScreen), screen
    return screen


def rows(console: ConsoleUnderTest) -> list[list[str]]:
    table = screen_of(console).query_one("#worklist", NavTable)
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


def worklist_queries(console: ConsoleUnderTest) -> list[dict[str, list[str]]]:
    return [parse_qs(r.query) for r in console.transport.requests if r.path.endswith("/worklist/recommendations")]


def shown_bindings(console: ConsoleUnderTest) -> list[Any]:
    """The keys the current screen's footer offers."""
    return [a for a in console.app.screen.active_bindings.values() if a.binding.show]


def footer_actions(console: ConsoleUnderTest) -> list[str]:
    """The actions of the keys the footer shows now (what is drawn, not what the bindings say)."""
    return [key.action for key in console.app.screen.query_one(OpsFooter).query(FooterKey)]


def acknowledgements(console: ConsoleUnderTest) -> list[dict[str, Any]]:
    return [r.body or {} for r in console.transport.requests if r.path.endswith("/acknowledge")]


async def open_worklist(pilot: Pilot, console: ConsoleUnderTest) -> None:
    await pilot.press("6")
    await wait_until(
        pilot, lambda: isinstance(console.app.screen, WorklistScreen) and rows(console), what="worklist rows"
    )


async def type_comment(pilot: Pilot, console: ConsoleUnderTest, comment: str) -> None:
    """e in the confirm dialog, the comment, enter: the dialog comes back with it."""
    await pilot.press("e")
    await wait_until(pilot, lambda: isinstance(console.app.screen, ReasonPrompt), what="the comment prompt")
    await pilot.press(*comment)
    await pilot.press("enter")
    await wait_until(
        pilot,
        lambda: isinstance(console.app.screen, ConfirmDialog) and console.app.screen.view.reason == comment,
        what="the dialog with the comment",
    )


class TestWorklist:
    async def test_most_severe_first_with_the_selected_ones_rationale(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer
    ) -> None:
        await investigate(plant_server, 2)
        expected = await all_recommendations(plant_server)
        console = make_console()
        async with console.app.run_test(size=(120, 40)) as pilot:
            await open_worklist(pilot, console)
            assert [row[0] for row in rows(console)] == [r.severity for r in expected]
            ranks = [SEVERITY_RANK[row[0]] for row in rows(console)]
            assert ranks == sorted(ranks, reverse=True)
            assert all(row[3] == "pending" for row in rows(console))
            detail = str(screen_of(console).query_one("#worklist-detail", Static).content)
            assert expected[0].rationale in detail

    async def test_severity_filter_asks_the_server(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer
    ) -> None:
        await investigate(plant_server, 2)
        console = make_console()
        async with console.app.run_test(size=(120, 40)) as pilot:
            await open_worklist(pilot, console)
            await pilot.press("f")  # critical
            await wait_until(pilot, lambda: all(row[0] == "critical" for row in rows(console)), what="critical only")
            assert worklist_queries(console)[-1]["severity"] == ["critical"]
            await pilot.press("f")  # high
            await wait_until(pilot, lambda: rows(console) and rows(console)[0][0] == "high", what="high only")
            assert "high only" in str(screen_of(console).query_one("#worklist-counts", Static).content)

    async def test_more_pages_by_the_servers_cursor(
        self,
        make_console: Callable[..., ConsoleUnderTest],
        plant_server: PlantServer,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        await investigate(plant_server, 2)
        total = len(await all_recommendations(plant_server))
        assert total >= 3
        monkeypatch.setattr(WorklistScreen, "PAGE_SIZE", 2)
        console = make_console()
        async with console.app.run_test(size=(120, 40)) as pilot:
            await open_worklist(pilot, console)
            assert len(rows(console)) == 2
            counts = str(screen_of(console).query_one("#worklist-counts", Static).content)
            assert "more: o" in counts and "all loaded" not in counts
            await pilot.press("o")
            await wait_until(pilot, lambda: len(rows(console)) == min(4, total), what="the second page")
            cursor = worklist_queries(console)[-1]["cursor"]
            assert cursor and cursor[0]
            # Reaching the last row loads on, as scrolling does, until the server has no more.
            for _ in range(total):
                await pilot.press("end")
                await pilot.pause(0.05)
            await wait_until(pilot, lambda: len(rows(console)) == total, what="every page")
            assert screen_of(console).next_cursor is None
            assert "all loaded" in str(screen_of(console).query_one("#worklist-counts", Static).content)
            ids = [str(key.value) for key in screen_of(console).query_one("#worklist", NavTable).rows]
            assert sorted(ids) == sorted(r.recommendation_id for r in await all_recommendations(plant_server))

    async def test_the_footer_offers_more_only_while_the_server_has_more(
        self,
        make_console: Callable[..., ConsoleUnderTest],
        plant_server: PlantServer,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        await investigate(plant_server, 2)
        total = len(await all_recommendations(plant_server))
        assert total >= 3
        monkeypatch.setattr(WorklistScreen, "PAGE_SIZE", total - 1)
        console = make_console()
        async with console.app.run_test(size=(120, 40)) as pilot:
            await open_worklist(pilot, console)
            await wait_until(pilot, lambda: "more" in footer_actions(console), what="o More in the footer")
            await pilot.press("o")
            await wait_until(pilot, lambda: len(rows(console)) == total, what="the last page")
            await wait_until(pilot, lambda: "more" not in footer_actions(console), what="o More gone")
            assert "refresh" in footer_actions(console)
            # Reading the first page again brings the cursor, and the key, back.
            await pilot.press("r")
            await wait_until(pilot, lambda: "more" in footer_actions(console), what="o More again")

    async def test_acknowledge_with_a_comment_through_the_dialog(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer
    ) -> None:
        await investigate(plant_server)
        first = (await all_recommendations(plant_server))[0]
        console = make_console()
        async with console.app.run_test(size=(120, 40)) as pilot:
            await open_worklist(pilot, console)
            assert {"Worklist: Acknowledge", "Worklist: Reject"} <= set(palette_titles(console.app))
            await pilot.press("a")
            await wait_until(pilot, lambda: isinstance(console.app.screen, ConfirmDialog), what="the confirm dialog")
            assert ("Decision", "ACKNOWLEDGED") in console.app.screen.view.rows  # type: ignore[attr-defined]
            assert acknowledgements(console) == []  # nothing is sent before the operator confirms
            await type_comment(pilot, console, "frozen per policy")
            await pilot.press("y")
            await wait_until(pilot, lambda: rows(console)[0][3] == "acknowledged", what="the row to change")
            assert acknowledgements(console) == [{"action": "ACKNOWLEDGED", "comment": "frozen per policy"}]
            stored = next(
                r for r in await all_recommendations(plant_server) if r.recommendation_id == first.recommendation_id
            )
            assert (stored.status, stored.comment, stored.decided_by) == (
                "ACKNOWLEDGED",
                "frozen per policy",
                "env:OPS_API_TOKEN",
            )
            # A decided one is not offered again.
            await pilot.press("x")
            await pilot.pause()
            assert not isinstance(console.app.screen, ConfirmDialog)
            assert "Already acknowledged" in status_line_text(console.app)

    async def test_the_comment_prompt_says_it_asks_for_the_decisions_comment(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer
    ) -> None:
        await investigate(plant_server)
        first = (await all_recommendations(plant_server))[0]
        long_comment = "checked with the card issuer " * 10  # beyond a command reason's 200 characters
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await open_worklist(pilot, console)
            await pilot.press("x")
            await wait_until(pilot, lambda: isinstance(console.app.screen, ConfirmDialog), what="the confirm dialog")
            dialog_keys = {a.binding.key: a.binding.description for a in shown_bindings(console)}
            assert dialog_keys["e"] == "Comment"
            await pilot.press("e")
            await wait_until(pilot, lambda: isinstance(console.app.screen, ReasonPrompt), what="the comment prompt")
            prompt = console.app.screen
            title = str(prompt.query_one("#reason-title", Label).content)
            assert title == f"Comment: why reject {first.action}?"
            assert "command" not in title.lower()
            note = " ".join(str(s.content) for s in prompt.query(Static) if not isinstance(s, Label))
            assert "Saved with the decision" in note and "audit trail with the command" not in note
            assert "escape keeps the comment" in note
            assert {a.binding.description for a in shown_bindings(console)} >= {"Keep the comment"}
            assert "Keep the reason" not in {a.binding.description for a in shown_bindings(console)}
            # Typed, then the rest inserted as typing would (the box's length limit applies): 290 presses take
            # seconds.
            await pilot.press(*"checked")
            prompt.query_one(Input).insert_text_at_cursor(long_comment.strip().removeprefix("checked"))
            await pilot.press("enter")
            await wait_until(
                pilot,
                lambda: isinstance(console.app.screen, ConfirmDialog) and console.app.screen.view.reason is not None,
                what="the dialog with the comment",
            )
            await pilot.press("y")
            await wait_until(pilot, lambda: rows(console)[0][3] == "rejected", what="the row to change")
            assert acknowledgements(console) == [{"action": "REJECTED", "comment": long_comment.strip()}]

    async def test_confirming_without_a_comment_asks_for_one(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer
    ) -> None:
        await investigate(plant_server)
        console = make_console()
        async with console.app.run_test(size=(120, 40)) as pilot:
            await open_worklist(pilot, console)
            await pilot.press("x")
            await wait_until(pilot, lambda: isinstance(console.app.screen, ConfirmDialog), what="the confirm dialog")
            await pilot.press("y")
            await wait_until(
                pilot,
                lambda: isinstance(console.app.screen, ConfirmDialog) and console.app.screen.problem is not None,
                what="the dialog asking for a comment",
            )
            assert "comment is required" in (console.app.screen.problem or "")  # type: ignore[attr-defined]
            assert acknowledgements(console) == []
            await type_comment(pilot, console, "false positive")
            await pilot.press("y")
            await wait_until(pilot, lambda: rows(console)[0][3] == "rejected", what="the row to change")
            assert acknowledgements(console) == [{"action": "REJECTED", "comment": "false positive"}]

    async def test_a_decision_made_elsewhere_first_is_said_in_words(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer
    ) -> None:
        await investigate(plant_server)
        first = (await all_recommendations(plant_server))[0]
        console = make_console()
        async with console.app.run_test(size=(120, 40)) as pilot:
            await open_worklist(pilot, console)
            # Another operator decides while this console still shows the row as pending.
            other, _ = plant_server.client()
            async with other:
                await other.agent.acknowledge(first.recommendation_id, "ACKNOWLEDGED", "done by Bob")
            await pilot.press("x")
            await wait_until(pilot, lambda: isinstance(console.app.screen, ConfirmDialog), what="the confirm dialog")
            await type_comment(pilot, console, "not fraud")
            await pilot.press("y")
            await wait_until(pilot, lambda: "decided this recommendation first" in status_line_text(console.app))
            assert len(acknowledgements(console)) == 1  # the 409 answer
            await wait_until(pilot, lambda: rows(console)[0][3] == "acknowledged", what="the row as the server has it")
            assert "done by Bob" in str(screen_of(console).query_one("#worklist-detail", Static).content)


class TestReadOnly:
    async def test_read_only_token_sees_no_decision_keys(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer
    ) -> None:
        await investigate(plant_server)
        console = make_console(plant_server.create_token("viewer", READ_ONLY_SCOPES))
        async with console.app.run_test(size=(120, 40)) as pilot:
            await wait_until(pilot, lambda: console.app.identified, what="whoami")
            await open_worklist(pilot, console)
            titles = palette_titles(console.app)
            assert "Worklist: Acknowledge" not in titles and "Worklist: Reject" not in titles
            assert "Worklist: Severity" in titles
            await pilot.press("a")
            await pilot.pause()
            assert not isinstance(console.app.screen, ConfirmDialog)
            assert "ops_agent:ack" in status_line_text(console.app)
            assert acknowledgements(console) == []


@pytest.fixture
def fixed_ids(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    counter = itertools.count(1)
    monkeypatch.setattr(uuid, "uuid4", lambda: uuid.UUID(int=next(counter), version=4))
    yield


@pytest.mark.usefixtures("fixed_ids")
class TestWorklistSnapshots:
    @pytest.mark.parametrize("size", [(80, 24), (120, 40)])
    def test_snapshot_worklist(
        self,
        snap_compare: Any,
        make_console: Callable[..., ConsoleUnderTest],
        plant_server: PlantServer,
        size: tuple[int, int],
    ) -> None:
        console = make_console()

        async def run_before(pilot: Pilot) -> None:
            await investigate(plant_server, 2)
            await open_worklist(pilot, console)
            await pilot.press("down")
            console.app.clear_notifications()
            console.app.status_note = None

        assert snap_compare(console.app, terminal_size=size, run_before=run_before)

    def test_snapshot_comment_prompt(
        self, snap_compare: Any, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer
    ) -> None:
        console = make_console()

        async def run_before(pilot: Pilot) -> None:
            await investigate(plant_server, 1)
            await open_worklist(pilot, console)
            await pilot.press("a")
            await wait_until(pilot, lambda: isinstance(console.app.screen, ConfirmDialog), what="the confirm dialog")
            await pilot.press("e")
            await wait_until(pilot, lambda: isinstance(console.app.screen, ReasonPrompt), what="the comment prompt")
            console.app.screen.query_one("#reason", Input).cursor_blink = False  # a steady cursor in the picture
            console.app.clear_notifications()
            await pilot.pause()

        assert snap_compare(console.app, terminal_size=(80, 24), run_before=run_before)
