"""Ask screen: a question box that takes English and Korean; the answer's blocks as a table, a chart, text; a
refusal with its reason and policy; the five stages with status and duration; replan decisions; the session's
history, which shows an earlier answer again without asking anew; errors in place."""

import io
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from console_harness import ConsoleUnderTest, PlantServer, status_line_text, wait_until
from rich.console import Console
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Markdown, Static, TabbedContent

import server.services.orchestration.pipeline as pipeline_module
from console.screens.ask import AskScreen
from console.screens.help import HelpScreen
from console.screens.status import StatusScreen
from console.widgets.answer_blocks import AnswerBlocks, BlockChart, BlockTable
from shared.orchestration import AskResponse


@pytest.fixture(autouse=True)
def no_timed_refresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(StatusScreen, "REFRESH_SECONDS", 3600.0)


def ask_screen(console: ConsoleUnderTest) -> AskScreen:
    screen = console.app.screen
    assert isinstance(screen, AskScreen), screen
    return screen


def static_text(console: ConsoleUnderTest, selector: str) -> str:
    """What a Static shows, as plain text ('' while hidden); a Rich table is printed 200 columns wide, lines
    stripped on the right."""
    widget = ask_screen(console).query_one(selector, Static)
    if not widget.display:
        return ""
    content = widget.content
    if isinstance(content, str | Text):
        return str(content)
    printer = Console(width=200, file=io.StringIO(), record=True)
    printer.print(content)
    return "\n".join(line.rstrip() for line in printer.export_text().rstrip("\n").splitlines())


def tables(console: ConsoleUnderTest) -> list[BlockTable]:
    return list(ask_screen(console).query_one(AnswerBlocks).query(BlockTable))


def table_rows(table: DataTable[str]) -> list[list[str]]:
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


async def open_ask(pilot: Pilot, console: ConsoleUnderTest) -> None:
    await pilot.press("7")
    await wait_until(pilot, lambda: isinstance(console.app.screen, AskScreen), what="the ask screen")


async def ask(pilot: Pilot, console: ConsoleUnderTest, question: str, *, by_keys: bool = False) -> None:
    """Type (or set) `question` in the box and press enter; wait for the answer (or the problem) to show."""
    screen = ask_screen(console)
    box = screen.query_one("#question", Input)
    before = len(screen.history)
    if by_keys:
        if console.app.focused is not box:
            await pilot.press("slash")
        await pilot.press(*question)
    else:
        box.value = question
    assert box.value == question
    await pilot.press("enter")
    await wait_until(pilot, lambda: len(screen.history) > before or screen.problem, what=f"an answer to {question}")


def stages_text(console: ConsoleUnderTest) -> str:
    return static_text(console, "#trace-stages")


class TestAsk:
    @pytest.mark.parametrize("size", [(80, 24), (120, 40)])
    def test_snapshot_ask_screen(
        self,
        snap_compare,
        make_console: Callable[..., ConsoleUnderTest],
        monkeypatch: pytest.MonkeyPatch,
        size: tuple[int, int],
    ) -> None:
        # Stage durations are real milliseconds: frozen at 0 so the picture does not depend on the machine.
        monkeypatch.setattr(pipeline_module, "time", SimpleNamespace(perf_counter=lambda: 0.0))
        console = make_console()

        async def run_before(pilot: Pilot) -> None:
            await open_ask(pilot, console)
            # A blinking cursor would be in the picture or not depending on when it is taken.
            ask_screen(console).query_one("#question", Input).cursor_blink = False
            await ask(pilot, console, "which prod databases are down?")
            await ask(pilot, console, "서버 상태를 확인해주세요")

        assert snap_compare(console.app, terminal_size=size, run_before=run_before)

    async def test_an_english_question_shows_a_table_answer(
        self, make_console: Callable[..., ConsoleUnderTest]
    ) -> None:
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await open_ask(pilot, console)
            await ask(pilot, console, "which prod databases are down?", by_keys=True)
            [table] = tables(console)
            assert [str(c.label) for c in table.columns.values()] == ["CI", "Type", "Env", "Status", "Owner"]
            assert table_rows(table) == [["db-crm-01", "database", "prod", "down", "sales"]]
            heading = static_text(console, "#answer-heading")
            assert heading.startswith("#1 which prod databases are down?\norch · success")
            [sent] = [r.body for r in console.transport.requests if r.path == "/ops/ci/ask"]
            assert sent == {
                "question": "which prod databases are down?",
                "context": {"test_mode": False, "asset_overrides": {}},
            }

    async def test_a_korean_question_typed_by_keys_shows_a_table_answer(
        self, make_console: Callable[..., ConsoleUnderTest]
    ) -> None:
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await open_ask(pilot, console)
            await ask(pilot, console, "서버 상태를 확인해주세요", by_keys=True)
            [sent] = [r.body for r in console.transport.requests if r.path == "/ops/ci/ask"]
            assert sent is not None and sent["question"] == "서버 상태를 확인해주세요"
            [table] = tables(console)
            rows = table_rows(table)
            assert len(rows) == 50 and {row[1] for row in rows} == {"server"}
            assert "50 of 127 shown" in ask_screen(console).query_one(".answer-markdown", Markdown).source
            assert static_text(console, "#answer-heading").startswith("#1 서버 상태를 확인해주세요")
            # The box is empty again and keeps the keyboard for the next question.
            assert ask_screen(console).query_one("#question", Input).value == ""
            assert console.app.focused is ask_screen(console).query_one("#question")

    async def test_a_refusal_shows_its_reason_and_policy_once(
        self, make_console: Callable[..., ConsoleUnderTest]
    ) -> None:
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await open_ask(pilot, console)
            await ask(pilot, console, "delete all servers")
            refusal = static_text(console, "#ask-refusal")
            assert refusal.startswith("Refused by policy destructive_action\nThe ask pipeline only reads")
            assert "why: the question holds 'delete'" in refusal
            # The server's block saying the same is not repeated under it; no table either.
            assert not list(ask_screen(console).query_one(AnswerBlocks).children)
            assert "reject · rejected" in static_text(console, "#answer-heading")
            await ask(pilot, console, "which prod databases are down?")
            assert static_text(console, "#ask-refusal") == ""  # a later answer is not refused

    async def test_the_stages_tab_lists_the_five_stages_with_status_and_duration(
        self, make_console: Callable[..., ConsoleUnderTest]
    ) -> None:
        console = make_console()
        async with console.app.run_test(size=(120, 40)) as pilot:
            await open_ask(pilot, console)
            await ask(pilot, console, "what depends on the connector?")
            await pilot.press("escape", "t")
            assert ask_screen(console).query_one("#ask-tabs", TabbedContent).active == "tab-stages"
            answer = ask_screen(console).history[-1].answer
            lines = stages_text(console).splitlines()
            stages = [line.split()[0] for line in lines[1:] if line.strip()]
            assert stages[:5] == ["route_plan", "validate", "execute", "compose", "present"]
            durations: dict[str, int] = {o.stage: o.duration_ms for o in answer.trace.stage_outputs}
            for line in lines[1:6]:
                stage, mark, status, ms = line.split()[:4]
                assert (mark, status) == ("✓", "ok") and int(ms) == durations[stage]
            assert "no Reasoner is configured" in stages_text(console)
            assert static_text(console, "#trace-plan").startswith(f"trace {answer.meta.trace_id}\norch by the keyword")
            assert static_text(console, "#trace-replans") == "Replans: none"
            heading = static_text(console, "#answer-heading")
            assert "✓ route_plan" in heading and "✓ present" in heading

    async def test_a_replan_shows_its_trigger_and_the_plan_before_and_after(
        self, make_console: Callable[..., ConsoleUnderTest]
    ) -> None:
        console = make_console()
        async with console.app.run_test(size=(120, 40)) as pilot:
            await open_ask(pilot, console)
            # No queue of sales is down: the empty answer is replanned without the owner.
            await ask(pilot, console, "which queues owned by sales are down?")
            replans = static_text(console, "#trace-replans").splitlines()
            assert replans == [
                "Replans: 1",
                "execute · empty (low): the answer is empty",
                "  replanned (1 of 2)",
                "  before: ci_lookup(limit=50, ci_types=queue, statuses=down, owners=sales)",
                "  after:  ci_lookup(limit=50, ci_types=queue, statuses=down)",
            ]
            assert "! execute" in static_text(console, "#answer-heading")
            assert "1 replan" in static_text(console, "#answer-heading")
            assert {row[3] for row in table_rows(tables(console)[0])} == {"down"}

    async def test_a_timeseries_answer_is_a_chart(self, make_console: Callable[..., ConsoleUnderTest]) -> None:
        console = make_console()
        async with console.app.run_test(size=(120, 40)) as pilot:
            await open_ask(pilot, console)
            await ask(pilot, console, "show throughput for the last hour")
            [chart] = ask_screen(console).query(BlockChart)
            assert chart.block.content.metric == "md_throughput_mps"
            assert [r["widget"] for r in ask_screen(console).query_one(AnswerBlocks).rendered] == [
                "Markdown",
                "BlockChart",
            ]

    async def test_history_shows_an_earlier_answer_again_without_asking(
        self, make_console: Callable[..., ConsoleUnderTest]
    ) -> None:
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await open_ask(pilot, console)
            await ask(pilot, console, "which prod databases are down?")
            await ask(pilot, console, "최근 감사 로그 보여줘")
            assert tables(console)[0].block.title == "Recent audit entries"
            await pilot.press("escape", "h")
            history = ask_screen(console).query_one("#ask-history", DataTable)
            assert [str(history.get_row_at(i)[2]) for i in range(history.row_count)] == [
                "which prod databases are down?",
                "최근 감사 로그 보여줘",
            ]
            asked = console.transport.sent("POST", "/ops/ci/ask")
            await pilot.press("home", "enter")
            await wait_until(pilot, lambda: ask_screen(console).shown is ask_screen(console).history[0])
            assert ask_screen(console).query_one("#ask-tabs", TabbedContent).active == "tab-answer"
            assert table_rows(tables(console)[0]) == [["db-crm-01", "database", "prod", "down", "sales"]]
            assert static_text(console, "#answer-heading").startswith("#1 which prod databases are down?")
            assert console.transport.sent("POST", "/ops/ci/ask") == asked

    async def test_a_failed_ask_is_explained_in_place(self, make_console: Callable[..., ConsoleUnderTest]) -> None:
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await open_ask(pilot, console)
            console.transport.answer(
                "/ops/ci/ask",
                500,
                {"code": 500, "message": "Internal Server Error", "error": "the CMDB is locked", "details": {}},
            )
            await ask(pilot, console, "which prod databases are down?")
            assert static_text(console, "#ask-problem") == (
                "Not answered: which prod databases are down?\nThe server failed this request. the CMDB is locked"
            )
            assert len(console.app.screen_stack) == 1  # in place, no dialog
            assert ask_screen(console).history == []
            box = ask_screen(console).query_one("#question", Input)
            assert box.value == "which prod databases are down?"  # back in the box to ask again
            console.transport.forget("/ops/ci/ask")
            await pilot.press("enter")
            await wait_until(pilot, lambda: ask_screen(console).history, what="the answer")
            assert static_text(console, "#ask-problem") == ""

    async def test_an_empty_question_is_not_sent(self, make_console: Callable[..., ConsoleUnderTest]) -> None:
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await open_ask(pilot, console)
            ask_screen(console).query_one("#question", Input).value = "   "
            await pilot.press("enter")
            await pilot.pause()
            assert console.transport.sent("POST", "/ops/ci/ask") == 0
            assert status_line_text(console.app) == "Type a question first."

    async def test_letter_keys_type_into_the_box_and_act_only_outside_it(
        self, make_console: Callable[..., ConsoleUnderTest]
    ) -> None:
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await open_ask(pilot, console)
            await pilot.press("h", "t")
            screen = ask_screen(console)
            assert screen.query_one("#question", Input).value == "ht"
            assert screen.query_one("#ask-tabs", TabbedContent).active == "tab-answer"
            await pilot.press("escape", "h")
            assert screen.query_one("#ask-tabs", TabbedContent).active == "tab-history"
            await pilot.press("slash")
            assert console.app.focused is screen.query_one("#question")

    async def test_switching_back_puts_the_keyboard_in_the_question_box(
        self, make_console: Callable[..., ConsoleUnderTest]
    ) -> None:
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await open_ask(pilot, console)
            box = ask_screen(console).query_one("#question")
            await pilot.press("escape")
            assert console.app.focused is not box
            await pilot.press("1")
            await wait_until(pilot, lambda: isinstance(console.app.screen, StatusScreen), what="the status screen")
            await open_ask(pilot, console)
            await wait_until(pilot, lambda: console.app.focused is box, what="the question box focused")

    async def test_a_closed_dialog_leaves_the_keyboard_where_it_was(
        self, make_console: Callable[..., ConsoleUnderTest]
    ) -> None:
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await open_ask(pilot, console)
            await pilot.press("escape", "h")
            history = ask_screen(console).query_one("#ask-history")
            assert console.app.focused is history
            await pilot.press("question_mark")
            await wait_until(pilot, lambda: isinstance(console.app.screen, HelpScreen), what="the help overlay")
            await pilot.press("escape")
            await wait_until(pilot, lambda: isinstance(console.app.screen, AskScreen), what="the ask screen again")
            await pilot.pause()
            assert console.app.focused is history


class TestRenderReport:
    """After an answer is on screen, what was rendered goes to the inspector (issue 14), quietly."""

    async def test_the_rendered_blocks_are_recorded_on_the_trace(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer
    ) -> None:
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await open_ask(pilot, console)
            await ask(pilot, console, "delete all servers")
            trace_id = ask_screen(console).history[0].answer.meta.trace_id
            await wait_until(pilot, lambda: "render recorded" in static_text(console, "#trace-render"))
            [sent] = [r.body for r in console.transport.requests if r.path.endswith("/ui-render")]
            assert sent is not None and sent["blocks"] == []  # the refusal's block was not drawn: not reported
            assert sent["meta"]["omitted_blocks"] == 1 and sent["meta"]["terminal"] == {"width": 80, "height": 24}
            await ask(pilot, console, "which prod databases are down?")
            answer = ask_screen(console).history[1].answer
            await wait_until(
                pilot, lambda: console.transport.sent("POST", f"/inspector/traces/{answer.meta.trace_id}/ui-render")
            )
            client, _ = plant_server.client()
            async with client:
                detail = await client.orchestration.get_trace(answer.meta.trace_id)
                refused = await client.orchestration.get_trace(trace_id)
            assert detail.ui_render is not None and detail.ui_render.blocks == answer.blocks
            assert [w["widget"] for w in detail.ui_render.meta["widgets"]] == ["Markdown", "BlockTable"]
            assert refused.ui_render is not None and refused.ui_render.blocks == []

    async def test_a_failed_report_is_noted_quietly(self, make_console: Callable[..., ConsoleUnderTest]) -> None:
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await open_ask(pilot, console)
            original = console.app.client.orchestration.ask

            async def ask_then_break(question: str, **kwargs: Any) -> AskResponse:
                answer = await original(question, **kwargs)
                path = f"/inspector/traces/{answer.meta.trace_id}/ui-render"
                console.transport.answer(path, 500, {"code": 500, "message": "x", "error": "render store full"})
                return answer

            console.app.client.orchestration.ask = ask_then_break  # type: ignore[method-assign]
            await ask(pilot, console, "which prod databases are down?")
            await wait_until(pilot, lambda: "not recorded" in static_text(console, "#trace-render"))
            assert static_text(console, "#trace-render") == (
                "render not recorded: The server failed this request. render store full"
            )
            assert len(console.app.screen_stack) == 1 and console.notifications == []
            assert status_line_text(console.app) == ""
            assert static_text(console, "#ask-problem") == ""  # the answer itself is fine

    async def test_a_token_without_inspector_write_sends_no_report(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer
    ) -> None:
        console = make_console(plant_server.create_token("reader", "ops:read"))
        async with console.app.run_test(size=(80, 24)) as pilot:
            await open_ask(pilot, console)
            await ask(pilot, console, "which prod databases are down?")
            await wait_until(pilot, lambda: static_text(console, "#trace-render"))
            assert static_text(console, "#trace-render") == "render not recorded: the token lacks inspector:write"
            assert not any(r.path.endswith("/ui-render") for r in console.transport.requests)
            assert table_rows(tables(console)[0]) == [["db-crm-01", "database", "prod", "down", "sales"]]
