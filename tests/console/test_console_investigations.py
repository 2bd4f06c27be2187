"""Investigations screen (key 5) against the real embedded server and its seeded plant: run an investigation from
the suspicious deposits through the confirm dialog and see it complete in the list; filters; the detail's trace tree
with the selected step's input and output, insights, rule draft; a running investigation followed live; the trace
exported to a file; a read-only token sees no run key."""

import asyncio
import itertools
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from console_harness import ConsoleUnderTest, PlantServer, palette_titles, status_line_text, wait_until
from textual.pilot import Pilot
from textual.widgets import Button, DataTable

import console.widgets.agent_format as agent_format
import console.widgets.step_detail as step_detail
import console.widgets.trace_tree as trace_tree
from console.connection import ConnectionState
from console.screens.investigations import InvestigationsScreen
from console.widgets.confirm_dialog import ConfirmDialog
from console.widgets.nav_table import NavTable
from console.widgets.run_picker import RunPicker
from console.widgets.step_detail import StepDetail
from console.widgets.trace_tree import TraceTree
from server.http.agent import AGENT_ENGINE
from shared.agent import ToolStep

READ_ONLY_SCOPES = "ops:read,ops_agent:read"


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Follow running investigations quickly; no timed list refresh unless a test asks for one."""
    monkeypatch.setattr(InvestigationsScreen, "POLL_SECONDS", 0.2)
    monkeypatch.setattr(InvestigationsScreen, "REFRESH_SECONDS", 3600.0)


def screen_of(console: ConsoleUnderTest) -> InvestigationsScreen:
    screen = console.app.screen
    assert isinstance(screen, InvestigationsScreen), screen
    return screen


def rows(console: ConsoleUnderTest) -> list[list[str]]:
    table = screen_of(console).query_one("#investigations", NavTable)
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


def requests(console: ConsoleUnderTest, method: str, path: str) -> list[str]:
    return [r.query for r in console.transport.requests if r.method == method and r.path.endswith(path)]


async def open_screen(pilot: Pilot, console: ConsoleUnderTest) -> None:
    await pilot.press("5")
    await wait_until(
        pilot,
        lambda: isinstance(console.app.screen, InvestigationsScreen) and screen_of(console).page is not None,
        what="the investigations list",
    )


async def run_first_suspicious(pilot: Pilot, console: ConsoleUnderTest, *, deep: bool = False) -> None:
    """n, pick the newest suspicious deposit (optionally deep), confirm with y."""
    await pilot.press("n")
    await wait_until(pilot, lambda: isinstance(console.app.screen, RunPicker), what="the run picker")
    if deep:
        await pilot.press("ctrl+t")
    await pilot.press("enter")
    await wait_until(pilot, lambda: isinstance(console.app.screen, ConfirmDialog), what="the confirm dialog")
    await pilot.press("y")
    await wait_until(pilot, lambda: isinstance(console.app.screen, InvestigationsScreen), what="back on the list")


async def run_and_complete(pilot: Pilot, console: ConsoleUnderTest) -> None:
    await open_screen(pilot, console)
    await run_first_suspicious(pilot, console)
    await wait_until(pilot, lambda: rows(console) and rows(console)[0][0] == "completed", what="a completed row")


async def open_first(pilot: Pilot, console: ConsoleUnderTest) -> InvestigationsScreen:
    screen = screen_of(console)
    await pilot.press("home", "enter")
    await wait_until(pilot, lambda: screen.detail is not None and screen.query_one(TraceTree).rebuilds, what="detail")
    return screen


async def select_step(pilot: Pilot, screen: InvestigationsScreen, key: str) -> None:
    """Move the tree's cursor down to the node `key` by keys, as an operator would."""
    for _ in range(60):
        if screen.selected_step is not None and screen.selected_step.key == key:
            await pilot.pause()
            return
        await pilot.press("down")
    raise AssertionError(f"no node {key}")


class TestInvestigationsList:
    async def test_run_from_suspicious_confirms_then_completes_in_the_list(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer
    ) -> None:
        console = make_console()
        async with console.app.run_test(size=(120, 40)) as pilot:
            await open_screen(pilot, console)
            assert rows(console) == []
            await pilot.press("n")
            await wait_until(pilot, lambda: isinstance(console.app.screen, RunPicker), what="the run picker")
            picker = console.app.screen
            assert isinstance(picker, RunPicker)
            assert picker.suspicious and all(t.suspicious for t in picker.suspicious)
            assert requests(console, "GET", "/ops-agent/transactions") == ["limit=20&suspicious=true"]
            first = picker.suspicious[0]
            await pilot.press("enter")
            await wait_until(pilot, lambda: isinstance(console.app.screen, ConfirmDialog), what="the confirm dialog")
            dialog = console.app.screen
            assert isinstance(dialog, ConfirmDialog)
            assert ("Transaction", first.transaction_id) in dialog.view.rows
            assert ("Mode", "quick") in dialog.view.rows
            # Nothing runs before the operator confirms.
            assert requests(console, "POST", "/investigations/run") == []
            await pilot.press("y")
            await wait_until(pilot, lambda: rows(console) and rows(console)[0][0] == "completed", what="completed")
            runs = [r.body for r in console.transport.requests if r.path.endswith("/investigations/run")]
            assert runs == [{"transaction_id": first.transaction_id, "mode": "quick"}]
            _status, transaction, mode, _started, duration, verdict = rows(console)[0]
            assert (transaction, mode) == (first.transaction_id, "quick")
            assert duration != "-" and verdict != "-"
            assert "started (quick)" in status_line_text(console.app)

    async def test_cancelling_the_dialog_runs_nothing(self, make_console: Callable[..., ConsoleUnderTest]) -> None:
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await open_screen(pilot, console)
            await pilot.press("n")
            await wait_until(pilot, lambda: isinstance(console.app.screen, RunPicker), what="the run picker")
            await pilot.press("enter")
            await wait_until(pilot, lambda: isinstance(console.app.screen, ConfirmDialog), what="the confirm dialog")
            await pilot.press("n")
            await pilot.pause()
            assert requests(console, "POST", "/investigations/run") == []
            assert "cancelled" in status_line_text(console.app)

    async def test_run_by_typed_transaction_id_deep(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer
    ) -> None:
        console = make_console()
        async with console.app.run_test(size=(120, 40)) as pilot:
            await open_screen(pilot, console)
            transactions = await console.app.client.agent.transactions(5)
            target = transactions.items[-1].transaction_id
            await pilot.press("n")
            await wait_until(pilot, lambda: isinstance(console.app.screen, RunPicker), what="the run picker")
            await pilot.press("ctrl+t", "tab")  # deep; from the list to the id field
            await pilot.press("shift+tab")
            await pilot.click("#run-transaction")
            for char in target:
                await pilot.press(char)
            await pilot.press("enter")
            await wait_until(pilot, lambda: isinstance(console.app.screen, ConfirmDialog), what="the confirm dialog")
            await pilot.press("y")
            await wait_until(pilot, lambda: rows(console) and rows(console)[0][0] == "completed", what="completed")
            assert rows(console)[0][1:3] == [target, "deep"]

    async def test_the_picker_lists_suspicious_deposits_newest_first_by_their_time(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer
    ) -> None:
        # Stored last, so first in storage order, but it happened two days ago: an operator's late report.
        client, _ = plant_server.client()
        async with client:
            late = await client.agent.add_transaction(
                amount="120.00", currency="EUR", merchant="venue-web", channel="card_web", customer_id="cust-late",
                device_id="dev-late", ip_country="BR", card_country="DE",
                occurred_at=plant_server.clock.now() - timedelta(days=2),
            )  # fmt: skip
            assert late.suspicious
        console = make_console()
        async with console.app.run_test(size=(120, 40)) as pilot:
            await open_screen(pilot, console)
            await pilot.press("n")
            await wait_until(pilot, lambda: isinstance(console.app.screen, RunPicker), what="the run picker")
            picker = console.app.screen
            assert isinstance(picker, RunPicker)
            table = picker.query_one("#run-suspicious", NavTable)
            listed = [str(key.value) for key in table.rows]
            times = {t.transaction_id: t.occurred_at for t in picker.suspicious}
            assert late.transaction_id in listed and len(listed) > 1
            assert [times[t] for t in listed] == sorted(times.values(), reverse=True)
            assert listed[-1] == late.transaction_id

    async def test_a_double_tap_in_the_picker_or_the_dialog_answers_once(
        self, make_console: Callable[..., ConsoleUnderTest]
    ) -> None:
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await open_screen(pilot, console)
            await pilot.press("n")
            await wait_until(pilot, lambda: isinstance(console.app.screen, RunPicker), what="the run picker")
            picker = console.app.screen
            table = picker.query_one("#run-suspicious", NavTable)
            row_key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
            # Two enters queued before the picker is gone (a double tap): the second must not pop another screen.
            for _ in range(2):
                table.post_message(DataTable.RowSelected(table, 0, row_key))
            await wait_until(pilot, lambda: isinstance(console.app.screen, ConfirmDialog), what="the confirm dialog")
            await pilot.pause(0.1)
            assert isinstance(console.app.screen, ConfirmDialog)
            assert [type(s) for s in console.app.screen_stack] == [InvestigationsScreen, ConfirmDialog]
            # The same in the confirm dialog: enter on Cancel and n at once leave it once, the list stays.
            cancel = console.app.screen.query_one("#cancel", Button)
            for _ in range(2):
                cancel.post_message(Button.Pressed(cancel))
            await wait_until(pilot, lambda: isinstance(console.app.screen, InvestigationsScreen), what="the list")
            await pilot.pause(0.1)
            assert [type(s) for s in console.app.screen_stack] == [InvestigationsScreen]
            assert requests(console, "POST", "/investigations/run") == []

    async def test_unknown_transaction_is_said_in_words(self, make_console: Callable[..., ConsoleUnderTest]) -> None:
        console = make_console()
        async with console.app.run_test(size=(120, 40)) as pilot:
            await open_screen(pilot, console)
            await pilot.press("n")
            await wait_until(pilot, lambda: isinstance(console.app.screen, RunPicker), what="the run picker")
            await pilot.click("#run-transaction")
            for char in "no-such-deposit":
                await pilot.press(char)
            await pilot.press("enter")
            await wait_until(pilot, lambda: isinstance(console.app.screen, ConfirmDialog), what="the confirm dialog")
            await pilot.press("y")
            await wait_until(pilot, lambda: "Not found" in status_line_text(console.app), what="the 404 in words")
            assert rows(console) == []

    async def test_status_and_transaction_filters_ask_the_server(
        self, make_console: Callable[..., ConsoleUnderTest]
    ) -> None:
        console = make_console()
        async with console.app.run_test(size=(120, 40)) as pilot:
            await run_and_complete(pilot, console)
            transaction = rows(console)[0][1]
            screen = screen_of(console)
            await pilot.press("f")  # running
            await wait_until(pilot, lambda: rows(console) == [], what="no running ones")
            assert "status=running" in requests(console, "GET", "/investigations")[-1]
            assert "running" in str(screen.query_one("#investigations-filter").border_title)
            await pilot.press("f")  # completed
            await wait_until(pilot, lambda: len(rows(console)) == 1, what="the completed one")
            await pilot.press("escape")
            await pilot.press("slash")
            for char in "other-tx":
                await pilot.press(char)
            await pilot.press("enter")
            await wait_until(pilot, lambda: rows(console) == [], what="none for another transaction")
            assert "transaction_id=other-tx" in requests(console, "GET", "/investigations")[-1]
            await pilot.press("escape", "slash", *transaction, "enter")
            await wait_until(pilot, lambda: len(rows(console)) == 1, what="the one of that transaction")


class TestInvestigationDetail:
    async def test_tree_of_steps_and_the_selected_steps_input_and_output(
        self, make_console: Callable[..., ConsoleUnderTest]
    ) -> None:
        console = make_console()
        async with console.app.run_test(size=(120, 40)) as pilot:
            await run_and_complete(pilot, console)
            screen = await open_first(pilot, console)
            detail = screen.detail
            assert detail is not None and detail.status == "completed"
            tree = screen.query_one(TraceTree)
            steps_node = tree.root.children[0]
            # Planner decisions at the top, each with the tool and reasoning calls it led to underneath.
            planners = steps_node.children
            assert all(n.data is not None and n.data.item is not None for n in planners)
            assert all(n.data.item.kind == "planner" for n in planners if n.data and n.data.item)  # type: ignore[union-attr]
            children = [c.data.item for n in planners for c in n.children if c.data is not None]
            assert {s.kind for s in children if s is not None and hasattr(s, "kind")} >= {"tool", "reasoning"}
            assert len(planners) + len(children) == len(detail.steps)
            # The second step is the deposit's lookup: its input and output show beside the tree.
            await select_step(pilot, screen, "step:2")
            step = detail.steps[1]
            assert isinstance(step, ToolStep)
            text = screen.query_one(StepDetail).text
            assert "tool transaction_lookup" in text
            assert f"transaction_id: {detail.transaction_id}" in text  # the input
            assert "amount_minor: " in text  # from the output
            # Then the insights with their evidence, recommendations, the rule draft.
            labels = [str(n.label) for n in tree.root.children]
            assert labels[1].startswith("Insights (") and labels[2].startswith("Recommendations (")
            assert labels[3].startswith("Rule draft")
            insight = detail.insights[0]
            await select_step(pilot, screen, f"evidence:{insight.insight_id}:0")
            assert f"Evidence from step {insight.evidence[0].step_no}" in screen.query_one(StepDetail).text
            await select_step(pilot, screen, "rule")
            assert "rule" in screen.query_one(StepDetail).text.lower()
            await pilot.press("escape")
            assert screen.detail_id is None and screen.query_one("#investigations").display

    async def test_a_running_investigation_updates_live(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer
    ) -> None:
        server = plant_server.server
        assert server.app is not None
        registry = server.app[AGENT_ENGINE].tools.registry
        release = asyncio.Event()
        velocity = registry["velocity_window"]

        async def held(given: dict[str, Any]) -> dict[str, Any]:
            await release.wait()
            return await velocity(given)

        registry["velocity_window"] = held
        console = make_console()
        async with console.app.run_test(size=(120, 40)) as pilot:
            await open_screen(pilot, console)
            await run_first_suspicious(pilot, console)
            await wait_until(pilot, lambda: rows(console) and rows(console)[0][0] == "running", what="running")
            screen = await open_first(pilot, console)
            tree = screen.query_one(TraceTree)
            assert screen.detail is not None and screen.detail.status == "running"
            assert tree.has_class("-running")
            steps_before = len(screen.detail.steps)
            await select_step(pilot, screen, "step:2")
            server.call(release.set)
            await wait_until(
                pilot, lambda: screen.detail is not None and screen.detail.status == "completed", what="completion"
            )
            assert len(screen.detail.steps) > steps_before
            assert not tree.has_class("-running")
            assert screen.selected_step is not None and screen.selected_step.key == "step:2"  # the cursor stayed
            rebuilds = tree.rebuilds
            reads = len(requests(console, "GET", screen.detail.investigation_id))
            await pilot.pause(0.3)
            # Finished: no more polling, nothing redrawn.
            assert len(requests(console, "GET", screen.detail.investigation_id)) == reads
            assert tree.rebuilds == rebuilds

    async def test_export_trace_writes_the_html_file_and_says_where(
        self, make_console: Callable[..., ConsoleUnderTest], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.chdir(tmp_path)
        console = make_console()
        async with console.app.run_test(size=(120, 40)) as pilot:
            await run_and_complete(pilot, console)
            screen = await open_first(pilot, console)
            assert screen.detail is not None
            investigation_id = screen.detail.investigation_id
            await pilot.press("e")
            await wait_until(pilot, lambda: screen.exported is not None, what="the export")
            path = tmp_path / f"trace-{investigation_id}.html"
            assert screen.exported == path.resolve()
            html = path.read_text(encoding="utf-8")
            assert html.lstrip().lower().startswith("<!doctype html") and investigation_id in html
            assert str(path) in status_line_text(console.app)

    async def test_export_is_offered_only_in_the_detail(self, make_console: Callable[..., ConsoleUnderTest]) -> None:
        console = make_console()
        async with console.app.run_test(size=(120, 40)) as pilot:
            await open_screen(pilot, console)
            titles = palette_titles(console.app)
            assert "Investigations: Run" in titles and "Investigations: Export trace" not in titles
            await pilot.press("e")
            assert not requests(console, "GET", "/trace")


async def investigate_through_api(plant_server: PlantServer, count: int) -> list[str]:
    """Investigations of the `count` newest suspicious deposits, each run to its end; their ids, oldest first."""
    client, _ = plant_server.client()
    ids = []
    async with client:
        for tx in (await client.agent.transactions(count, suspicious=True)).items:
            started = await client.agent.run(tx.transaction_id)
            for _ in range(500):
                if (await client.agent.investigation(started.investigation_id)).status != "running":
                    break
                await asyncio.sleep(0.01)
            ids.append(started.investigation_id)
    return ids


def shown_ids(console: ConsoleUnderTest) -> list[str]:
    return [str(key.value) for key in screen_of(console).query_one("#investigations", NavTable).rows]


def footer_keys(console: ConsoleUnderTest) -> set[str]:
    return {a.binding.key for a in console.app.screen.active_bindings.values() if a.binding.show}


class TestInvestigationsPaging:
    async def test_next_and_previous_pages_walk_the_whole_list(
        self,
        make_console: Callable[..., ConsoleUnderTest],
        plant_server: PlantServer,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        newest_first = list(reversed(await investigate_through_api(plant_server, 5)))
        monkeypatch.setattr(InvestigationsScreen, "PAGE_SIZE", 2)
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await open_screen(pilot, console)
            screen = screen_of(console)
            assert shown_ids(console) == newest_first[:2]
            assert "1-2 of 5 investigations" in str(screen.query_one("#investigations-filter").border_title)
            titles = palette_titles(console.app)
            assert "Investigations: Next page" in titles and "Investigations: Prev page" not in titles
            assert "right_square_bracket" in footer_keys(console)
            assert "left_square_bracket" not in footer_keys(console)
            await pilot.press("]")
            await wait_until(pilot, lambda: shown_ids(console) == newest_first[2:4], what="the second page")
            assert requests(console, "GET", "/investigations")[-1] == "limit=2&offset=2"
            assert {"left_square_bracket", "right_square_bracket"} <= footer_keys(console)
            await pilot.press("]")
            await wait_until(pilot, lambda: shown_ids(console) == newest_first[4:], what="the last page")
            assert "5-5 of 5" in str(screen.query_one("#investigations-filter").border_title)
            assert "Investigations: Next page" not in palette_titles(console.app)
            assert "Investigations: Prev page" in palette_titles(console.app)
            reads = len(requests(console, "GET", "/investigations"))
            await pilot.press("]")  # nothing after the last page
            await pilot.pause(0.1)
            assert len(requests(console, "GET", "/investigations")) == reads
            # Every investigation was shown exactly once on the way.
            await pilot.press("[")
            await wait_until(pilot, lambda: shown_ids(console) == newest_first[2:4], what="back one page")
            await pilot.press("[")
            await wait_until(pilot, lambda: shown_ids(console) == newest_first[:2], what="the first page")
            assert "Investigations: Prev page" not in palette_titles(console.app)

    async def test_a_filter_starts_again_at_the_first_page(
        self,
        make_console: Callable[..., ConsoleUnderTest],
        plant_server: PlantServer,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        await investigate_through_api(plant_server, 3)
        monkeypatch.setattr(InvestigationsScreen, "PAGE_SIZE", 2)
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await open_screen(pilot, console)
            await pilot.press("]")
            await wait_until(pilot, lambda: len(shown_ids(console)) == 1, what="the second page")
            await pilot.press("f", "f")  # running, then completed
            await wait_until(pilot, lambda: len(shown_ids(console)) == 2, what="the first completed page")
            assert requests(console, "GET", "/investigations")[-1] == "limit=2&offset=0&status=completed"


class TestCapacity:
    async def test_a_run_refused_at_capacity_is_said_in_the_dialog_and_asked_again(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer
    ) -> None:
        server = plant_server.server
        assert server.app is not None
        engine = server.app[AGENT_ENGINE]
        engine.max_running = 1
        release = asyncio.Event()
        velocity = engine.tools.registry["velocity_window"]

        async def held(given: dict[str, Any]) -> dict[str, Any]:
            await release.wait()
            return await velocity(given)

        engine.tools.registry["velocity_window"] = held
        client, _ = plant_server.client()
        async with client:
            deposits = (await client.agent.transactions(2, suspicious=True)).items
            holder = await client.agent.run(deposits[1].transaction_id)  # takes the only place
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await open_screen(pilot, console)
            await pilot.press("n")
            await wait_until(pilot, lambda: isinstance(console.app.screen, RunPicker), what="the run picker")
            await pilot.press("enter")
            await wait_until(pilot, lambda: isinstance(console.app.screen, ConfirmDialog), what="the confirm dialog")
            await pilot.press("y")
            await wait_until(
                pilot,
                lambda: isinstance(console.app.screen, ConfirmDialog) and console.app.screen.problem is not None,
                what="the dialog saying the server is at capacity",
            )
            dialog = console.app.screen
            assert isinstance(dialog, ConfirmDialog)
            assert "as many as this server runs at once" in (dialog.problem or "")
            assert console.app.connection is ConnectionState.CONNECTED  # a refusal, not a lost server
            server.call(release.set)
            await wait_until(pilot, lambda: engine.task_of(holder.investigation_id) is None, what="the place freed")
            await pilot.press("r")
            await wait_until(
                pilot,
                lambda: isinstance(console.app.screen, ConfirmDialog) and console.app.screen is not dialog,
                what="a new dialog",
            )
            await pilot.press("y")
            await wait_until(pilot, lambda: len(rows(console)) == 2, what="the second investigation")
            runs = [r for r in console.transport.requests if r.path.endswith("/investigations/run")]
            assert len(runs) == 2 and runs[0].body == runs[1].body


class TestResume:
    async def test_an_interrupted_investigation_resumes_through_the_dialog(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer
    ) -> None:
        server = plant_server.server
        assert server.app is not None
        engine = server.app[AGENT_ENGINE]
        geo = engine.tools.registry["geo_consistency"]
        never = asyncio.Event()

        async def held(given: dict[str, Any]) -> dict[str, Any]:
            await never.wait()
            return await geo(given)

        engine.tools.registry["geo_consistency"] = held
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await open_screen(pilot, console)
            await run_first_suspicious(pilot, console)
            await wait_until(pilot, lambda: rows(console) and rows(console)[0][0] == "running", what="running")
            screen = screen_of(console)
            assert screen.page is not None
            investigation_id = screen.page.items[0].investigation_id
            assert "Investigations: Resume" not in palette_titles(console.app)  # not while it runs

            def kill() -> None:
                task = engine.task_of(investigation_id)
                assert task is not None
                task.cancel()

            server.call(kill)
            engine.tools.registry["geo_consistency"] = geo
            await pilot.press("r")
            await wait_until(pilot, lambda: rows(console)[0][0] == "interrupted", what="interrupted")
            assert "Investigations: Resume" in palette_titles(console.app)
            await pilot.press("u")
            await wait_until(pilot, lambda: isinstance(console.app.screen, ConfirmDialog), what="the confirm dialog")
            assert requests(console, "POST", "/resume") == []
            await pilot.press("y")
            await wait_until(pilot, lambda: rows(console)[0][0] == "completed", what="completed after resuming")
            assert len(requests(console, "POST", f"{investigation_id}/resume")) == 1
            assert len(rows(console)) == 1


class TestReadOnly:
    async def test_read_only_token_sees_no_run_key(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer
    ) -> None:
        console = make_console(plant_server.create_token("viewer", READ_ONLY_SCOPES))
        async with console.app.run_test(size=(120, 40)) as pilot:
            await wait_until(pilot, lambda: console.app.identified, what="whoami")
            await open_screen(pilot, console)
            assert "Investigations: Run" not in palette_titles(console.app)
            assert "Investigations: Refresh" in palette_titles(console.app)
            await pilot.press("n")
            await pilot.pause()
            assert not isinstance(console.app.screen, RunPicker)
            assert "read-only token" in status_line_text(console.app)
            assert "ops_agent:run" in status_line_text(console.app)


# --- snapshots ---


@pytest.fixture
def fixed_ids_and_durations(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Snapshots must not depend on random ids or measured durations: ids count up, durations read 3 ms."""
    counter = itertools.count(1)
    monkeypatch.setattr(uuid, "uuid4", lambda: uuid.UUID(int=next(counter), version=4))

    def fixed(ms: float | None) -> str:
        return "-" if ms is None else "3 ms"

    for module in (agent_format, trace_tree, step_detail):
        monkeypatch.setattr(module, "format_duration", fixed)
    import console.screens.investigations as investigations

    monkeypatch.setattr(investigations, "format_duration", fixed)
    yield


@pytest.mark.usefixtures("fixed_ids_and_durations")
class TestInvestigationsSnapshots:
    @pytest.mark.parametrize("size", [(80, 24), (120, 40)])
    def test_snapshot_list(
        self, snap_compare: Any, make_console: Callable[..., ConsoleUnderTest], size: tuple[int, int]
    ) -> None:
        console = make_console()

        async def run_before(pilot: Pilot) -> None:
            await run_and_complete(pilot, console)
            await pilot.press("n")
            await wait_until(pilot, lambda: isinstance(console.app.screen, RunPicker), what="the run picker")
            await pilot.press("escape")
            console.app.clear_notifications()
            console.app.status_note = None

        assert snap_compare(console.app, terminal_size=size, run_before=run_before)

    @pytest.mark.parametrize("size", [(80, 24), (120, 40)])
    def test_snapshot_detail(
        self, snap_compare: Any, make_console: Callable[..., ConsoleUnderTest], size: tuple[int, int]
    ) -> None:
        console = make_console()

        async def run_before(pilot: Pilot) -> None:
            await run_and_complete(pilot, console)
            screen = await open_first(pilot, console)
            await select_step(pilot, screen, "step:4")
            console.app.clear_notifications()
            console.app.status_note = None

        assert snap_compare(console.app, terminal_size=size, run_before=run_before)
