"""AuditDetail: the whole record of the selected audit entry under the table — what, who, when, the request,
the hash chain link and the detail JSON — scrollable, because a command's detail does not fit 80x24."""

import json

from rich.console import Group, RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from console.screens.audit_words import outcome, step, verb
from shared.control import AuditEntry


def render_entry(entry: AuditEntry | None) -> RenderableType:
    if entry is None:
        return Text("No entry selected.")
    who = entry.principal or "anonymous"
    head = Text.assemble(
        (f"#{entry.entry_id} ", "bold"),
        f"{entry.at:%Y-%m-%d %H:%M:%S} UTC · {who} · ",
        (verb(entry), "bold"),
        f" ({step(entry)}) → {outcome(entry)}",
    )
    request = Text(f"{entry.method} {entry.path} · request {entry.request_id}")
    chain = Text(f"hash {entry.hash[:16]}… after {entry.prev_hash[:16]}…", style="dim")
    parts: list[RenderableType] = [head, request, chain]
    if entry.detail:
        parts.append(Text(json.dumps(entry.detail, indent=2, sort_keys=True)))
    return Group(*parts)


class AuditDetail(VerticalScroll, can_focus=True):
    """`enter` on a row focuses it, so the arrow keys scroll it; `escape` goes back to the table."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._body = Static(id="audit-detail-body")
        self.entry: AuditEntry | None = None
        self._shown = False

    def compose(self) -> ComposeResult:
        yield self._body

    def show(self, entry: AuditEntry | None) -> None:
        if self._shown and entry == self.entry:
            return
        if entry is None or self.entry is None or entry.entry_id != self.entry.entry_id:
            self.scroll_home(animate=False)
        self.entry, self._shown = entry, True
        self._body.update(render_entry(entry))
