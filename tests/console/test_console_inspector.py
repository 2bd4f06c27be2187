"""Inspector screen (key 8) against the real embedded server: the trace list newest first with its filters and the
total they match, pages, one trace's stages and audit entries, two marked traces compared stage by stage with their
scores, a regression analysis only after the confirm dialog (and not offered without inspector:write), the webhooks
with their latest delivery, and snapshots of the list, the detail and the comparison."""

import io
import itertools
import random
import re
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs

import pytest
from aiohttp import web
from console_harness import ConsoleUnderTest, PlantServer, status_line_text, wait_until
from rich.console import Console
from textual.css.query import NoMatches
from textual.pilot import Pilot
from textual.widgets import Input, Select, Static

import server.services.orchestration.pipeline as pipeline_module
from console.screens.inspector import InspectorScreen
from console.screens.inspector_list import TracesPane
from console.screens.inspector_words import page_words
from console.widgets.confirm_dialog import ConfirmDialog
from console.widgets.nav_table import NavTable
from server.http.orchestration import ORCHESTRATION
from server.services.orchestration.tools import ToolResult
from shared.inspector import TraceList, TraceSummary

QUESTIONS = ("which prod databases are down?", "delete every server", "show cpu metrics for srv-erp-01")
"""Asked a minute apart, in this order: the list shows them the other way round."""
READ_ONLY_SCOPES = "ops:read,inspector:read"


class SteppingCounter:
    """The pipeline's perf_counter: each reading `step` seconds after the last, so stage durations are the same on
    every machine, and a larger step makes a slower trace."""

    def __init__(self, step: float = 0.001) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


@pytest.fixture
def perf_counter(monkeypatch: pytest.MonkeyPatch) -> SteppingCounter:
    counter = SteppingCounter()
    monkeypatch.setattr(pipeline_module, "time", SimpleNamespace(perf_counter=counter))
    seeded = random.Random(7)
    ids = (uuid.UUID(int=seeded.getrandbits(128)) for _ in itertools.count())
    monkeypatch.setattr(pipeline_module, "uuid", SimpleNamespace(uuid4=lambda: next(ids)))
    return counter


def slow_ci_lookup(plant_server: PlantServer, counter: SteppingCounter, seconds: float) -> None:
    """From now on the server's ci_lookup tool takes `seconds` longer by the pipeline's clock: only the execute
    stage slows down."""
    assert plant_server.server.app is not None
    tools = plant_server.server.app[ORCHESTRATION].pipeline.tools.by_name
    original = tools["ci_lookup"]

    async def slowed(raw: dict[str, Any]) -> ToolResult:
        counter.now += seconds
        return await original(raw)

    tools["ci_lookup"] = slowed


@pytest.fixture(autouse=True)
def quiet_screen(monkeypatch: pytest.MonkeyPatch) -> None:
    # No timed refresh; loopback receivers allowed (read by the server's settings, made after this).
    monkeypatch.setattr(InspectorScreen, "REFRESH_SECONDS", 3600.0)
    monkeypatch.setenv("OPS_WEBHOOK_ALLOWED_NETWORKS", "127.0.0.0/8")


async def ask(plant_server: PlantServer, questions: tuple[str, ...] = QUESTIONS) -> list[str]:
    """Ask through the API a minute apart; the trace ids in the order asked."""
    client, _ = plant_server.client()
    ids: list[str] = []
    async with client:
        for question in questions:
            ids.append((await client.orchestration.ask(question)).meta.trace_id)
            plant_server.advance(60)
    return ids


def screen_of(console: ConsoleUnderTest) -> InspectorScreen:
    screen = console.app.screen
    assert isinstance(screen, InspectorScreen), screen
    return screen


def rows(console: ConsoleUnderTest, table_id: str = "#traces") -> list[list[str]]:
    """The table's cells as text; none while the tab's widgets are still being mounted."""
    try:
        table = screen_of(console).query_one(table_id, NavTable)
    except NoMatches:
        return []
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


def column(console: ConsoleUnderTest, key: str) -> list[str]:
    table = screen_of(console).query_one("#traces", NavTable)
    return [str(table.get_cell(row_key, key)) for row_key in table.rows]


def questions_shown(console: ConsoleUnderTest) -> list[str]:
    return column(console, "question")


def text_of(console: ConsoleUnderTest, selector: str, width: int = 160) -> str:
    """What a Static shows, as plain text (its Rich renderables printed at `width`)."""
    static = screen_of(console).query_one(selector, Static)
    out = Console(width=width, file=io.StringIO(), record=True)
    out.print(static.content)
    return out.export_text()


def trace_queries(console: ConsoleUnderTest) -> list[dict[str, list[str]]]:
    return [parse_qs(r.query) for r in console.transport.requests if r.path == "/inspector/traces"]


def analyses_sent(console: ConsoleUnderTest) -> list[dict[str, Any]]:
    return [r.body or {} for r in console.transport.requests if r.path == "/inspector/regression/analyze"]


def shown_keys(console: ConsoleUnderTest) -> set[str]:
    return {a.binding.key for a in console.app.screen.active_bindings.values() if a.binding.show}


async def open_inspector(pilot: Pilot, console: ConsoleUnderTest, count: int = len(QUESTIONS)) -> None:
    await pilot.press("8")
    await wait_until(
        pilot,
        lambda: isinstance(console.app.screen, InspectorScreen) and len(rows(console)) == count,
        timeout=15.0,  # the first read of a screen is the slowest on a loaded machine
        what=f"{count} traces listed",
    )


async def type_filter(pilot: Pilot, console: ConsoleUnderTest, selector: str, text: str) -> None:
    """Empty a filter box, type `text` and press enter, as an operator would; wait for the list to be read again."""
    before = len(trace_queries(console))
    box = screen_of(console).query_one(selector, Input)
    box.focus()
    await pilot.press("end", *["backspace"] * len(box.value), *text, "enter")
    await wait_until(pilot, lambda: len(trace_queries(console)) > before, what=f"a search for {text}")
    await wait_until(pilot, lambda: not screen_of(console).list.reading, what="the list read")


async def select_filter(pilot: Pilot, console: ConsoleUnderTest, selector: str, value: str) -> None:
    before = len(trace_queries(console))
    screen_of(console).query_one(selector, Select).value = value
    await wait_until(pilot, lambda: len(trace_queries(console)) > before, what=f"a search for {value}")
    await wait_until(pilot, lambda: not screen_of(console).list.reading, what="the list read")


async def mark_two_and_compare(pilot: Pilot, console: ConsoleUnderTest) -> None:
    """Mark the oldest trace (A) and the newest (B), then compare them."""
    await pilot.press("end", "m", "home", "m", "c")
    screen = screen_of(console)
    await wait_until(pilot, lambda: screen.comparison is not None, what="the comparison")


@dataclass
class Receiver:
    """A webhook subscriber on loopback that answers 200 and keeps what it got."""

    url: str = ""
    bodies: list[bytes] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.read())
        return web.Response(text="thanks")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    app = web.Application()
    app.router.add_post("/{tail:.*}", found.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    found.url = f"http://127.0.0.1:{port}/hooks"
    try:
        yield found
    finally:
        await runner.cleanup()


class TestInspectorList:
    async def test_newest_first_with_the_total(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer
    ) -> None:
        await ask(plant_server)
        console = make_console()
        async with console.app.run_test(size=(120, 40)) as pilot:
            await open_inspector(pilot, console)
            assert questions_shown(console) == list(reversed(QUESTIONS))
            assert column(console, "status") == ["success", "rejected", "success"]
            assert text_of(console, "#traces-bar").startswith("1-3 of 3 traces · newest first")

    async def test_filters_narrow_the_list_and_the_total(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer
    ) -> None:
        await ask(plant_server, (*QUESTIONS, "which test servers are down?"))
        console = make_console()
        async with console.app.run_test(size=(120, 40)) as pilot:
            await open_inspector(pilot, console, 4)
            await pilot.press("slash")
            await type_filter(pilot, console, "#filter-q", "down")
            assert trace_queries(console)[-1]["q"] == ["down"]
            assert questions_shown(console) == ["which test servers are down?", "which prod databases are down?"]
            assert text_of(console, "#traces-bar").startswith("1-2 of 2 traces · newest first · 'down'")
            await type_filter(pilot, console, "#filter-q", "")  # emptied: every trace again
            assert "q" not in trace_queries(console)[-1] and len(rows(console)) == 4

            await select_filter(pilot, console, "#filter-status", "rejected")
            assert questions_shown(console) == ["delete every server"]
            assert text_of(console, "#traces-bar").startswith("1-1 of 1 trace ")
            await select_filter(pilot, console, "#filter-status", "success")
            await select_filter(pilot, console, "#filter-route", "orch")
            await type_filter(pilot, console, "#filter-feature", "metric_query")
            query = trace_queries(console)[-1]
            assert (query["status"], query["route"], query["feature"]) == (["success"], ["orch"], ["metric_query"])
            assert questions_shown(console) == ["show cpu metrics for srv-erp-01"]

            await pilot.press("escape", "escape")  # out of the box, then every filter cleared
            await wait_until(pilot, lambda: len(rows(console)) == 4, what="all traces again")
            assert set(trace_queries(console)[-1]) == {"limit", "offset"}
            # The first ask was at 09:00 by the server's clock, then one a minute: 09:01 up to 09:02 holds one.
            await type_filter(pilot, console, "#filter-from", "2026-01-01 09:01")
            await type_filter(pilot, console, "#filter-to", "2026-01-01T09:02:00Z")
            query = trace_queries(console)[-1]
            assert (query["from"], query["to"]) == (["2026-01-01T09:01:00+00:00"], ["2026-01-01T09:02:00+00:00"])
            assert questions_shown(console) == ["delete every server"]
            assert text_of(console, "#traces-bar").startswith("1-1 of 1 trace")

    async def test_the_bar_names_the_filters_even_when_the_page_is_the_same(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer
    ) -> None:
        await ask(plant_server, (QUESTIONS[0],))
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await open_inspector(pilot, console, 1)
            await pilot.press("slash")
            await type_filter(pilot, console, "#filter-q", "prod")
            assert len(rows(console)) == 1
            assert text_of(console, "#traces-bar").startswith("1-1 of 1 trace · newest first · 'prod'")

    async def test_a_time_that_is_not_one_is_said_and_not_sent(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer
    ) -> None:
        await ask(plant_server)
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await open_inspector(pilot, console)
            before = len(trace_queries(console))
            screen_of(console).query_one("#filter-from", Input).focus()
            await pilot.press(*"yesterday", "enter")
            await pilot.pause()
            assert len(trace_queries(console)) == before
            assert "from is not a date or time" in text_of(console, "#traces-bar")
            assert len(rows(console)) == 3

    async def test_pages_by_offset(
        self,
        make_console: Callable[..., ConsoleUnderTest],
        plant_server: PlantServer,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(InspectorScreen, "PAGE_SIZE", 2)
        await ask(plant_server)
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await open_inspector(pilot, console, 2)
            assert "left_square_bracket" not in shown_keys(console) and "right_square_bracket" in shown_keys(console)
            await pilot.press("right_square_bracket")
            await wait_until(pilot, lambda: len(rows(console)) == 1, what="the second page")
            assert trace_queries(console)[-1]["offset"] == ["2"]
            assert questions_shown(console) == [QUESTIONS[0]]
            assert text_of(console, "#traces-bar").startswith("3-3 of 3 traces")
            assert "right_square_bracket" not in shown_keys(console)
            await pilot.press("left_square_bracket")
            await wait_until(pilot, lambda: len(rows(console)) == 2, what="the first page again")
            assert trace_queries(console)[-1]["offset"] == ["0"]


class TestInspectorDetail:
    async def test_detail_shows_the_five_stages_and_the_audit_logs(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer
    ) -> None:
        [trace_id] = await ask(plant_server, (QUESTIONS[0],))
        console = make_console()
        async with console.app.run_test(size=(120, 40)) as pilot:
            await open_inspector(pilot, console, 1)
            await pilot.press("enter")
            screen = screen_of(console)
            await wait_until(pilot, lambda: screen.detail is not None, what="the detail")
            assert screen.active_tab == "detail"
            shown = text_of(console, "#detail-body")
            assert shown.startswith(f"{trace_id}\n{QUESTIONS[0]}\norch · success · ci_lookup · 2026-01-01 09:00:00")
            stage_lines = [line.split()[:3] for line in shown.splitlines() if line.split()[:1] in STAGE_WORDS]
            assert [line[0] for line in stage_lines] == ["route_plan", "validate", "execute", "compose", "present"]
            assert all(line[1:] == ["✓", "ok"] for line in stage_lines)
            assert "refs db-crm-01" in shown and "assets ci-queries:1.0.0, ops-policy:1.0.0" in shown
            assert "! no Reasoner is configured" in shown
            assert "Replans: none" in shown
            assert "Audit log: 6 entries" in shown
            audit = shown[shown.index("Audit log") :]
            assert "env:OPS_API_TOKEN" in audit and "asked" in audit
            for stage in STAGE_WORDS:
                assert f"{stage[0]} executed" in audit
            assert "No render stored" in audit


STAGE_WORDS = [["route_plan"], ["validate"], ["execute"], ["compose"], ["present"]]


class TestInspectorCompare:
    async def test_marking_two_traces_and_comparing_shows_their_scores(
        self,
        make_console: Callable[..., ConsoleUnderTest],
        plant_server: PlantServer,
        perf_counter: SteppingCounter,
    ) -> None:
        [fast] = await ask(plant_server, (QUESTIONS[0],))
        slow_ci_lookup(plant_server, perf_counter, 0.3)
        [slow] = await ask(plant_server, (QUESTIONS[0],))
        console = make_console()
        async with console.app.run_test(size=(120, 40)) as pilot:
            await open_inspector(pilot, console, 2)
            assert "c" not in shown_keys(console)
            await mark_two_and_compare(pilot, console)
            assert column(console, "mark") == ["B", "A"]
            [sent] = [r.body for r in console.transport.requests if r.path == "/inspector/regression/stage-compare"]
            assert sent == {"baseline_trace_id": fast, "comparison_trace_id": slow}
            screen = screen_of(console)
            assert screen.active_tab == "compare"
            shown = text_of(console, "#compare-body")
            assert f"A  baseline {fast}" in shown and f"B  comparison {slow}" in shown
            comparison = screen.comparison
            assert comparison is not None and comparison.overall_regression_score > 0
            assert f"Overall regression score {comparison.overall_regression_score}/100" in shown
            scores = comparison.regression_scores
            assert scores["execute"] >= 50  # 300 ms longer, 300x as long: a critical regression
            assert {stage: score for stage, score in scores.items() if stage != "execute"} == dict.fromkeys(
                ["route_plan", "validate", "compose", "present"], 0
            )
            for stage, score in scores.items():
                line = next(line for line in shown.splitlines() if line.startswith(stage))
                assert re.search(rf"(=|\dx) +{score} ", line), line  # the Score column, after the time's change

    async def test_the_analysis_runs_only_after_the_dialog_and_is_stored(
        self,
        make_console: Callable[..., ConsoleUnderTest],
        plant_server: PlantServer,
        receiver: Receiver,
    ) -> None:
        await ask(plant_server)
        client, _ = plant_server.client()
        async with client:
            await client.orchestration.webhooks.create(receiver.url, ["regression.completed"])
        console = make_console()
        async with console.app.run_test(size=(120, 40)) as pilot:
            await open_inspector(pilot, console)
            await mark_two_and_compare(pilot, console)
            assert {"a", "A"} <= shown_keys(console)
            await pilot.press("a")
            await wait_until(pilot, lambda: isinstance(console.app.screen, ConfirmDialog), what="the dialog")
            dialog = console.app.screen
            assert isinstance(dialog, ConfirmDialog)
            assert dialog.view.title == "Confirm: stage regression analysis"
            assert ("Sends", "regression.completed to webhook subscribers") in dialog.view.rows
            await pilot.press("n")
            await wait_until(pilot, lambda: isinstance(console.app.screen, InspectorScreen), what="the screen")
            assert analyses_sent(console) == [] and screen_of(console).analysis is None
            assert "cancelled; nothing was done" in status_line_text(console.app)

            await pilot.press("A", "y")
            screen = screen_of(console)
            await wait_until(pilot, lambda: screen.analysis is not None, what="the analysis")
            marks = screen.marks
            assert analyses_sent(console) == [
                {"type": "full", "baseline_trace_id": marks[0], "comparison_trace_id": marks[1]}
            ]
            analysis = screen.analysis
            assert analysis is not None
            reader, _ = plant_server.client()
            async with reader:
                assert await reader.orchestration.get_regression(analysis.analysis_id) == analysis
            shown = text_of(console, "#analysis-body")
            assert f"Regression analysis {analysis.analysis_id} (full)" in shown
            assert f"Score {analysis.overall_regression_score}/100" in shown
            assert f"{analysis.significant_changes} significant change" in shown
            assert f"Summary: {analysis.summary[:40]}" in shown
            assert "Critical issues:" in shown and "Recommendations:" in shown
            assert all(r[:40] in shown.replace("\n    ", " ") for r in analysis.recommendations)
            assert "stored: score" in status_line_text(console.app)
            # It went to the subscriber too; the Webhooks tab shows that delivery.
            await wait_until(pilot, lambda: len(receiver.bodies) == 1, what="the webhook delivery")
            await pilot.press("w")
            await wait_until(pilot, lambda: bool(rows(console, "#webhooks")), what="the webhooks")
            await wait_until(
                pilot,
                lambda: rows(console, "#webhooks")[0][3].startswith("succeeded 200 regression"),
                what="the delivery in the list",
            )
            assert rows(console, "#webhooks")[0][:3] == [receiver.url, "regression", "active"]

    async def test_no_analysis_without_inspector_write(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer
    ) -> None:
        await ask(plant_server)
        console = make_console(plant_server.create_token("reader", READ_ONLY_SCOPES))
        async with console.app.run_test(size=(120, 40)) as pilot:
            await open_inspector(pilot, console)
            await mark_two_and_compare(pilot, console)
            assert not {"a", "A"} & shown_keys(console)
            assert "Read-only token: analyses need inspector:write." in text_of(console, "#compare-note")
            await pilot.press("a", "A")
            await pilot.pause()
            assert isinstance(console.app.screen, InspectorScreen)
            assert "inspector:write" in status_line_text(console.app)
            assert analyses_sent(console) == []
            await pilot.press("w")
            await pilot.pause()
            assert text_of(console, "#hooks-bar").strip() == "Webhooks need a token with webhooks:admin."


class TestInspectorScope:
    async def test_a_token_without_inspector_read_is_told_why_there_is_no_inspector(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer
    ) -> None:
        console = make_console(plant_server.create_token("operator", "ops:read"))
        async with console.app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: console.app.identified, what="whoami")
            await pilot.press("8")
            await pilot.pause()
            assert not isinstance(console.app.screen, InspectorScreen)
            assert "inspector:read" in status_line_text(console.app)
            assert not [r for r in console.transport.requests if r.path.startswith("/inspector")]


class TestInspectorWebhooks:
    async def test_a_webhook_is_deleted_only_after_the_dialog(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer, receiver: Receiver
    ) -> None:
        client, _ = plant_server.client()
        async with client:
            await client.orchestration.webhooks.create(receiver.url, ["trace.completed", "replan.decided"])
        await ask(plant_server, (QUESTIONS[0],))
        console = make_console()
        async with console.app.run_test(size=(120, 40)) as pilot:
            await open_inspector(pilot, console, 1)
            await pilot.press("w")
            await wait_until(pilot, lambda: bool(rows(console, "#webhooks")), what="the webhooks")
            assert rows(console, "#webhooks")[0][1] == "trace, replan"
            await pilot.press("x")
            await wait_until(pilot, lambda: isinstance(console.app.screen, ConfirmDialog), what="the dialog")
            await pilot.press("n")
            await pilot.pause()
            assert not [r for r in console.transport.requests if r.method == "DELETE"]
            await pilot.press("x")
            await wait_until(pilot, lambda: isinstance(console.app.screen, ConfirmDialog), what="the dialog")
            await pilot.press("y")
            await wait_until(pilot, lambda: not rows(console, "#webhooks"), what="the webhook gone")
            assert len([r for r in console.transport.requests if r.method == "DELETE"]) == 1
            reader, _ = plant_server.client()
            async with reader:
                assert (await reader.orchestration.webhooks.list()).total == 0


class TestInspectorSnapshots:
    @pytest.mark.parametrize("size", [(80, 24), (120, 40)])
    def test_snapshot_list(
        self,
        snap_compare: Any,
        make_console: Callable[..., ConsoleUnderTest],
        plant_server: PlantServer,
        perf_counter: SteppingCounter,
        size: tuple[int, int],
    ) -> None:
        console = make_console()

        async def run_before(pilot: Pilot) -> None:
            await ask(plant_server)
            await open_inspector(pilot, console)
            await pilot.press("m", "down", "down", "m", "up")

        assert snap_compare(console.app, terminal_size=size, run_before=run_before)

    @pytest.mark.parametrize("size", [(80, 24), (120, 40)])
    def test_snapshot_detail(
        self,
        snap_compare: Any,
        make_console: Callable[..., ConsoleUnderTest],
        plant_server: PlantServer,
        perf_counter: SteppingCounter,
        size: tuple[int, int],
    ) -> None:
        console = make_console()

        async def run_before(pilot: Pilot) -> None:
            await ask(plant_server)
            await open_inspector(pilot, console)
            await pilot.press("end", "enter")
            await wait_until(pilot, lambda: screen_of(console).detail is not None, what="the detail")

        assert snap_compare(console.app, terminal_size=size, run_before=run_before)

    @pytest.mark.parametrize("size", [(80, 24), (120, 40)])
    def test_snapshot_compare(
        self,
        snap_compare: Any,
        make_console: Callable[..., ConsoleUnderTest],
        plant_server: PlantServer,
        perf_counter: SteppingCounter,
        size: tuple[int, int],
    ) -> None:
        console = make_console()

        async def run_before(pilot: Pilot) -> None:
            # The same question narrowed to prod, its execute stage slower: fewer references, one slower stage.
            await ask(plant_server, ("which databases are down?",))
            slow_ci_lookup(plant_server, perf_counter, 0.12)
            await ask(plant_server, (QUESTIONS[0],))
            await open_inspector(pilot, console, 2)
            await mark_two_and_compare(pilot, console)

        assert snap_compare(console.app, terminal_size=size, run_before=run_before)


class TestCappedTotals:
    """With `q` the server stops counting at 10,000 (`total_capped`): the total is a lower bound, so the bar says
    "10,000+" and a full page still offers the next one."""

    @staticmethod
    def _pane(shown: int, total: int, *, capped: bool, offset: int = 0) -> TracesPane:
        pane = TracesPane(page_size=2)
        summary = TraceSummary.model_validate(
            {
                "trace_id": "t1",
                "created_at": "2026-01-01T09:00:00Z",
                "feature": "ci_lookup",
                "status": "success",
                "route": "orch",
                "duration_ms": 3,
                "question_snippet": "which prod databases are down?",
                "applied_asset_versions": [],
                "test_mode": False,
            }
        )
        pane.page = TraceList(traces=[summary] * shown, total=total, limit=2, offset=offset, total_capped=capped)
        pane.page_offset = offset
        return pane

    def test_a_capped_total_reads_as_a_lower_bound(self) -> None:
        assert page_words(0, 50, 10000, capped=True) == "1-50 of 10,000+ traces"
        assert page_words(0, 1, 1) == "1-1 of 1 trace"

    def test_a_full_page_past_a_capped_total_still_has_older_traces(self) -> None:
        assert self._pane(2, 10000, capped=True, offset=9998).has_older
        assert not self._pane(2, 10000, capped=False, offset=9998).has_older
        assert not self._pane(1, 9999, capped=True, offset=9998).has_older  # a short page is the end
