"""ComponentDetail: the pane `enter` opens under the Status table — the selected component's state and since-when,
its last command and how it ended (from the audit log), and the playbook section for it. Scrollable; it renders
what the screen's workers read and never touches the network itself."""

import re
from dataclasses import dataclass
from datetime import datetime

from rich.console import Group, RenderableType
from rich.markdown import Markdown
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from console.screens.audit_words import last_command
from shared.control import AuditEntry, ComponentStatus, Mode

LOADING = "loading…"


def _words(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def playbook_section(component: str, mode: Mode, sections: list[str]) -> str | None:
    """The playbook section for `component`: the one whose title names it (`Connector down`); for the orchestrator,
    which owns the mode, the section about leaving the current mode; else `Startup order`, which names every
    component; None when the playbook has none of these."""
    wanted = _words(component)
    for title in sections:
        if wanted in _words(title):
            return title
    preferred = []
    if component == "orchestrator":
        preferred.append("Going dry-run" if mode == "live" else "Going live")
    preferred.append("Startup order")
    by_words = {_words(title): title for title in sections}
    return next((by_words[_words(p)] for p in preferred if _words(p) in by_words), None)


@dataclass(frozen=True)
class ComponentFacts:
    """What the pane shows; `None` fields are still loading, strings in `*_problem` say why one could not be read."""

    component: ComponentStatus
    as_of: datetime | None
    last_entry: AuditEntry | None = None
    history_loaded: bool = False
    history_problem: str = ""
    playbook_loaded: bool = False
    section: str | None = None
    section_body: str = ""
    playbook_problem: str = ""


def render_facts(facts: ComponentFacts) -> RenderableType:
    c = facts.component
    head = Text.assemble((c.name, "bold"), f" · {c.state} since {c.since:%Y-%m-%d %H:%M:%S} UTC")
    if facts.history_problem:
        history = Text(f"Last command: {facts.history_problem}")
    elif not facts.history_loaded:
        history = Text(f"Last command: {LOADING}")
    elif facts.last_entry is None:
        history = Text("Last command: none in the audit log")
    else:
        history = Text(f"Last command: {last_command(facts.last_entry)}")
    parts: list[RenderableType] = [head, history, Text("")]
    if facts.playbook_problem:
        parts.append(Text(f"Playbook: {facts.playbook_problem}"))
    elif not facts.playbook_loaded:
        parts.append(Text(f"Playbook: {LOADING}"))
    elif facts.section is None:
        parts.append(Text(f"Playbook: no section about {c.name}"))
    else:
        parts.append(Text(f"Playbook — {facts.section}", style="bold"))
        parts.append(Markdown(facts.section_body))
    return Group(*parts)


class ComponentDetail(VerticalScroll, can_focus=True):
    """Hidden until `show()`; the screen keeps focus on the table, so j/k pick another component while it is open
    and tab reaches it for scrolling."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._body = Static(id="component-detail-body")
        self.facts: ComponentFacts | None = None

    def compose(self) -> ComposeResult:
        yield self._body

    def show(self, facts: ComponentFacts) -> None:
        if facts == self.facts:
            return
        if self.facts is None or self.facts.component.name != facts.component.name:
            self.scroll_home(animate=False)
        self.facts = facts
        self._body.update(render_facts(facts))
