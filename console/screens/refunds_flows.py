"""The Refunds screen's two confirmed actions, each a `run_flow`: process one ledger entry (with an Idempotency-Key
kept for the whole flow, so a retry after a timeout gets the first answer instead of processing again), and reveal
one entry's customer fields (a read the server audits, so it is confirmed like a change)."""

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from console.commanding import Prepared, run_flow
from console.screens.refunds_words import customer_line, format_amount
from console.widgets.confirm_dialog import ConfirmView
from shared.clients.live import LiveClient
from shared.errors import Conflict, NotFound, OpsClientError, ServerUnavailable
from shared.live import CustomerData, LedgerEntry, ProcessOnceResult

if TYPE_CHECKING:
    from console.app import OpsConsole

KEY_PREFIX = "ops-console-"


def new_idempotency_key() -> str:
    return f"{KEY_PREFIX}{uuid.uuid4().hex}"


async def read_entry(live: LiveClient, entry_id: int, *, masked: bool = True) -> LedgerEntry | None:
    """One entry as the server has it now; None when the ledger no longer has it."""
    try:
        return await live.ledger_entry(entry_id, masked=masked)
    except NotFound:
        return None


def retry_same_key(exc: OpsClientError) -> bool:
    """The answer was lost (timeout, gateway) or the first try is still running: asking again with the same key
    cannot process twice, so the dialog offers it."""
    return isinstance(exc, ServerUnavailable) or (isinstance(exc, Conflict) and exc.code == "idempotency_key_in_flight")


@dataclass(frozen=True)
class ProcessTicket:
    entry_id: int
    idempotency_key: str


def process_view(entry: LedgerEntry, key: str, *, retry: bool) -> ConfirmView:
    rows = [
        ("Entry", f"{entry.entry_id} · {entry.status} · {entry.created_at:%Y-%m-%d %H:%M:%S} UTC"),
        ("Amount", format_amount(entry.amount_minor, entry.currency)),
        ("Deposit", entry.deposit_id),
        ("Customer", customer_line(entry.customer)),
        ("Risk flags", ", ".join(entry.risk_flags) or "none"),
        ("Will", "ask the policy, then refund or record why not"),
        ("Idempotency", key),
    ]
    if retry:
        rows.append(("Retry", "same key: if the first try went through, its answer comes back; nothing twice"))
    return ConfirmView(title=f"Confirm: process refund entry {entry.entry_id}", rows=tuple(rows))


async def process_entry(
    app: "OpsConsole", entry: LedgerEntry, *, idempotency_key: str | None = None
) -> ProcessOnceResult | None:
    """Process `entry` through the ConfirmDialog. Returns the server's result (its evidence included), or None when
    the operator cancelled or the server refused (the app has said why)."""
    live = app.client.live
    key = idempotency_key or new_idempotency_key()
    sent = False

    async def request(_reason: str | None) -> Prepared[ProcessTicket]:
        # The entry as it is now (another worker may have taken it), shown exactly as it will be processed.
        current = await read_entry(live, entry.entry_id) if sent else entry
        return Prepared(process_view(current or entry, key, retry=sent), ProcessTicket(entry.entry_id, key))

    async def confirm(ticket: ProcessTicket) -> ProcessOnceResult:
        nonlocal sent
        sent = True
        return await live.process_once(entry_id=ticket.entry_id, idempotency_key=ticket.idempotency_key)

    return await run_flow(
        app, title=f"Process entry {entry.entry_id}", request=request, confirm=confirm, retryable=retry_same_key
    )


def reveal_view(entry: LedgerEntry) -> ConfirmView:
    return ConfirmView(
        title=f"Confirm: reveal the customer of entry {entry.entry_id}",
        rows=(
            ("Entry", f"{entry.entry_id} · {entry.status} · {format_amount(entry.amount_minor, entry.currency)}"),
            ("Customer", customer_line(entry.customer)),
            ("Shows", "name, email, card number and expiry, order payload"),
            ("Audit", "the server records this read under your token's name"),
        ),
    )


async def reveal_customer(app: "OpsConsole", entry: LedgerEntry) -> CustomerData | None:
    """The entry's unmasked customer fields after a confirmed reveal; None when cancelled or refused."""
    live = app.client.live

    async def request(_reason: str | None) -> Prepared[int]:
        return Prepared(reveal_view(entry), entry.entry_id)

    async def confirm(entry_id: int) -> CustomerData | None:
        # Exactly this one entry is read unmasked, so the audit record names only it.
        current = await read_entry(live, entry_id, masked=False)
        if current is None:
            app.say(f"Entry {entry_id} is no longer in the ledger.", severity="warning")
            return None
        if current.customer.masked:
            app.say("The server sent the customer masked: this token may no longer reveal.", severity="warning")
            return None
        return current.customer

    return await run_flow(app, title=f"Reveal entry {entry.entry_id}", request=request, confirm=confirm)
