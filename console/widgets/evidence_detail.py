"""EvidenceDetail: the selected ledger entry and the evidence of what the refund worker did with it — decision, rule,
outcome, idempotency key, proof hash, redaction status — beside or under the ledger. Scrollable; it renders what
the screen read and never touches the network itself."""

import json
from dataclasses import dataclass

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from console.screens.refunds_words import customer_line, format_amount
from shared.live import CustomerData, Evidence, LedgerEntry


@dataclass(frozen=True)
class EntryFacts:
    """What the pane shows. `evidence`: the full record, once read (the ledger names only its id; process-once
    answers it). `revealed`: the unmasked customer fields after a confirmed reveal."""

    entry: LedgerEntry
    evidence: Evidence | None = None
    revealed: CustomerData | None = None
    can_reveal: bool = False


def _rows(rows: list[tuple[str, str | Text]]) -> Table:
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="dim", no_wrap=True)
    grid.add_column(overflow="fold")
    for name, value in rows:
        grid.add_row(name, value)
    return grid


def render_facts(facts: EntryFacts | None) -> RenderableType:
    if facts is None:
        return Text("No entry selected.", style="dim")
    entry = facts.entry
    customer = facts.revealed or entry.customer
    hint = "" if not customer.masked else (" (masked; v reveals)" if facts.can_reveal else " (masked)")
    head = Text.assemble(
        (f"Entry {entry.entry_id} ", "bold"), (entry.status, "bold"), f" · {entry.created_at:%Y-%m-%d %H:%M:%S} UTC"
    )
    rows: list[tuple[str, str | Text]] = [
        ("Amount", format_amount(entry.amount_minor, entry.currency)),
        ("Deposit", f"{entry.deposit_id} ({entry.deposit_ref})"),
        ("Customer", customer_line(customer) + hint),
        ("Customer ref", entry.customer_ref),
        ("Risk flags", ", ".join(entry.risk_flags) or "none"),
        ("Decision", _decision(entry.decision, entry.rule)),
    ]
    if facts.revealed is not None and facts.revealed.order_payload is not None:
        rows.append(("Order", json.dumps(facts.revealed.order_payload, sort_keys=True)))
    parts: list[RenderableType] = [head, _rows(rows)]
    evidence = facts.evidence
    if evidence is not None:
        parts.append(Text(f"Evidence #{evidence.evidence_id} · {evidence.at:%Y-%m-%d %H:%M:%S} UTC", style="bold"))
        parts.append(_rows(evidence_rows(evidence)))
    elif entry.evidence_id is not None:
        parts.append(Text(f"Evidence #{entry.evidence_id}: reading its record…", style="dim"))
    else:
        parts.append(Text("No evidence yet: not processed.", style="dim"))
    return Group(*parts)


def evidence_rows(evidence: Evidence) -> list[tuple[str, str | Text]]:
    return [
        ("Decision", _decision(evidence.decision, evidence.rule)),
        ("Outcome", evidence.outcome),
        ("Idempotency", evidence.idempotency_key or "none"),
        ("Resources", ", ".join(evidence.resource_refs) or "none"),
        ("Latency", f"{evidence.latency_ms:.1f} ms"),
        ("Proof", f"{evidence.proof_status} · sha256 {evidence.hash}"),
        ("Chained to", evidence.prev_hash),
        ("Redaction", evidence.redaction_status),
    ]


def _decision(decision: str | None, rule: str | None) -> str:
    if decision is None:
        return "none: the decision point was not asked or did not answer" if rule else "none yet"
    return f"{decision} by {rule}" if rule else decision


class EvidenceDetail(VerticalScroll, can_focus=True):
    """`enter` on a ledger row focuses it, so the arrow keys scroll it; `escape` goes back to the table."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._body = Static(id="evidence-body")
        self.facts: EntryFacts | None = None
        self._shown = False

    def compose(self) -> ComposeResult:
        yield self._body

    def show(self, facts: EntryFacts | None) -> None:
        if self._shown and facts == self.facts:
            return
        if facts is None or self.facts is None or facts.entry.entry_id != self.facts.entry.entry_id:
            self.scroll_home(animate=False)
        self.facts, self._shown = facts, True
        self._body.update(render_facts(facts))
