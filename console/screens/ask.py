"""Ask screen: a question box (English or Korean) whose enter asks the five-stage pipeline (`POST /ops/ci/ask`);
the answer's blocks (tables, charts, text), the stages with their status and duration and every replan decision,
and the questions asked in this session — enter on one shows its answer again, without asking anew."""

from collections.abc import Iterable
from typing import Any, ClassVar

from textual import on, work
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import DataTable, Input, Static, TabbedContent, TabPane

from console.messages import ConnectionAlive
from console.problems import CONNECTION_ERRORS, describe
from console.screens.ask_words import (
    Asked,
    answer_heading,
    blocks_to_show,
    hint,
    history_cells,
    refusal,
    render_meta,
)
from console.screens.ops_screen import OpsScreen
from console.widgets.answer_blocks import AnswerBlocks
from console.widgets.answer_trace import AnswerTrace
from console.widgets.nav_table import NavTable
from shared.errors import OpsClientError
from shared.scopes import Scope

TABS = {"answer": "tab-answer", "stages": "tab-stages", "history": "tab-history"}
TAB_ACTIONS = frozenset({"tab"})
"""Keys that are letters: offered only while the question box does not have the keyboard (it would take them)."""


class AskScreen(OpsScreen):
    HEADING = "Ask"
    CSS_PATH = "ask.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "focus_question", "Question", id="ask.question", tooltip="Type a question; enter asks it"),
        Binding("a", "tab('answer')", "Answer", id="ask.answer", tooltip="The answer's tables, charts and text"),
        Binding("t", "tab('stages')", "Stages", id="ask.stages", tooltip="The five stages and the replan decisions"),
        Binding("h", "tab('history')", "History", id="ask.history", tooltip="Questions asked here; enter re-shows one"),
        Binding("escape", "leave_question", "Leave box", show=False, id="ask.leave", tooltip="Keys act on the answer"),
    ]
    HELP_COLOURS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("✓ green", "a stage that went as planned"),
        ("! yellow", "a stage with warnings (an empty answer, say), a refusal, a replan"),
        ("✗ red", "a stage that failed"),
    )

    asking: reactive[str] = reactive("", init=False)
    """The question in flight ('' when none)."""
    problem: reactive[str] = reactive("", init=False)
    """Why the last question was not answered, in words, shown where the answer would be."""

    def __init__(self) -> None:
        super().__init__()
        self._question = Input(placeholder="Type a question, in English or 한국어", id="question")
        self._question.border_title = "Question · enter asks · esc: keys"
        self._heading = Static(hint(), id="answer-heading")
        self._problem = Static(id="ask-problem", markup=False)
        self._refusal = Static(id="ask-refusal")
        self._blocks = AnswerBlocks(id="answer-blocks")
        self._trace = AnswerTrace(id="answer-trace")
        self._history: NavTable[object] = NavTable(id="ask-history")
        self._tabs = TabbedContent(id="ask-tabs")
        self.history: list[Asked] = []
        """Every question this screen asked that the server answered, oldest first."""
        self.shown: Asked | None = None
        """The answer on display (the newest, or one chosen from the history)."""
        self.render_notes: dict[int, str] = {}
        """By question number: whether the inspector has what was rendered of that answer."""
        self._left = False
        """Whether the operator switched to another screen (rather than a dialog covering this one)."""

    def compose_body(self) -> Iterable[Widget]:
        yield self._question
        # Run inside compose(): the `with` blocks nest the panes in the tabs.
        with self._tabs:
            # Not a scroll: the blocks share the height and each table scrolls itself, so one scrollbar shows.
            answer = Vertical(self._problem, self._heading, self._refusal, self._blocks, id="answer-pane")
            yield TabPane("Answer", answer, id="tab-answer")
            yield TabPane("Stages", VerticalScroll(self._trace), id="tab-stages")
            yield TabPane("History", self._history, id="tab-history")

    def on_mount(self) -> None:
        self._history.add_column("#", key="number", width=3)
        self._history.add_column("At", key="at", width=8)
        self._history.add_column("Question", key="question")
        self._history.add_column("Status", key="status", width=8)
        self._history.add_column("Time", key="time", width=7)
        self._problem.display = False
        self._refusal.display = False
        self._question.focus()

    def on_screen_suspend(self) -> None:
        # Handled after the switch: a dialog leaves this screen on the stack, another screen takes the whole stack.
        self._left = self not in self.app.screen_stack

    def on_screen_resume(self) -> None:
        # Back from another screen: ready to type, as on first entry. A closed dialog leaves focus where it was.
        if self._left:
            self._left = False
            self._question.focus()

    def on_descendant_focus(self) -> None:
        self.refresh_bindings()  # the letter keys come and go with the question box's focus

    def on_descendant_blur(self) -> None:
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not super().check_action(action, parameters):
            return False
        typing = self.focused is self._question
        if action in TAB_ACTIONS:
            return not typing
        if action == "leave_question":
            return typing
        return True

    # --- asking ---

    @on(Input.Submitted, "#question")
    def _submitted(self, event: Input.Submitted) -> None:
        question = event.value.strip()
        if not question:
            self.ops.say("Type a question first.", severity="warning")
            return
        self._question.clear()
        self.ask(question)

    @work(exclusive=True, group="ask")
    async def ask(self, question: str) -> None:
        self.asking = question
        self.problem = ""
        try:
            answer = await self.ops.client.orchestration.ask(question)
        except OpsClientError as exc:
            if isinstance(exc, CONNECTION_ERRORS):
                self.ops.show_problem(exc, title="Ask")
            self.problem = f"Not answered: {question}\n{describe(exc)}"
            if not self._question.value:
                self._question.value = question  # back in the box: enter asks it again
            return
        finally:
            self.asking = ""
        self.post_message(ConnectionAlive())
        asked = Asked(len(self.history) + 1, question, answer)
        self.history.append(asked)
        self._history.add_row(*history_cells(asked), key=str(asked.number))
        self._history.move_cursor(row=self._history.row_count - 1)
        await self.show(asked)
        self.report_render(asked, list(self._blocks.rendered))

    async def show(self, asked: Asked) -> None:
        """Put `asked`'s answer on the Answer and Stages tabs, and bring the Answer tab forward."""
        self.shown = asked
        self.problem = ""
        self._heading.update(answer_heading(asked))
        why = refusal(asked.answer)
        self._refusal.display = why is not None
        self._refusal.update(why or "")
        await self._blocks.show(blocks_to_show(asked.answer))
        self._trace.show(asked.answer)
        self._trace.note_render(self.render_notes.get(asked.number, ""))
        self._tabs.active = TABS["answer"]

    @work(group="render-report")
    async def report_render(self, asked: Asked, rendered: list[dict[str, Any]]) -> None:
        """Tell the inspector what was rendered of this answer (issue 14). Best effort: a failure is noted on the
        Stages tab, never raised to the operator, whose answer is on screen either way."""
        if not self.ops.has_scope(Scope.INSPECTOR_WRITE):
            note = "render not recorded: the token lacks inspector:write"
        else:
            blocks = blocks_to_show(asked.answer)
            meta = render_meta(rendered, self.size.width, self.size.height, len(asked.answer.blocks))
            try:
                receipt = await self.ops.client.orchestration.ui_render(asked.answer.meta.trace_id, blocks, meta)
            except OpsClientError as exc:
                note = f"render not recorded: {describe(exc)}"
            else:
                note = f"render recorded for the inspector ({receipt.render_id})"
        self.render_notes[asked.number] = note
        if self.shown is asked:
            self._trace.note_render(note)

    def watch_asking(self, question: str) -> None:
        if question:
            self._question.border_subtitle = "asking…"
        else:
            self._question.border_subtitle = ""

    def watch_problem(self, problem: str) -> None:
        self._problem.display = bool(problem)
        self._problem.update(problem)
        if problem:
            self._tabs.active = TABS["answer"]

    # --- keys ---

    def action_focus_question(self) -> None:
        self._question.focus()

    def action_leave_question(self) -> None:
        self._tabs.query_one("Tabs").focus()

    def action_tab(self, name: str) -> None:
        self._tabs.active = TABS[name]
        if name == "history":
            self._history.focus()

    @on(DataTable.RowSelected, "#ask-history")
    async def _history_selected(self, event: DataTable.RowSelected) -> None:
        number = int(str(event.row_key.value))
        asked = next((a for a in self.history if a.number == number), None)
        if asked is not None:
            await self.show(asked)
