"""The operator's ledger view: keyset pages of entries, newest first, and single entries, with the customer's fields
masked unless the caller may see them (the refunds:pii scope) and did not ask for them masked."""

from server.errors import NotFound
from server.storage.refunds import CustomerRecord, LedgerFilter, RefundRepository, StoredEntry
from shared.live import CustomerData, LedgerEntry, LedgerPage, LedgerQuery

MASK = "*"


def mask_name(name: str) -> str:
    return " ".join(part[:1] + MASK * 3 for part in name.split()) or MASK * 3


def mask_email(email: str) -> str:
    local, _, domain = email.partition("@")
    tld = domain.rpartition(".")[2] if "." in domain else ""
    return f"{local[:1]}{MASK * 3}@{MASK * 3}" + (f".{tld}" if tld else "")


def mask_card(number: str) -> str:
    digits = "".join(ch for ch in number if ch.isdigit())
    return f"{MASK * 4} {MASK * 4} {MASK * 4} {digits[-4:]}" if len(digits) >= 12 else MASK * 4


MASKED_EXPIRY = f"{MASK * 2}/{MASK * 2}"


def masked(customer: CustomerRecord) -> CustomerData:
    return CustomerData(
        masked=True,
        name=mask_name(customer.name),
        email=mask_email(customer.email),
        card_number=mask_card(customer.card_number),
        card_expiry=MASKED_EXPIRY,
        order_payload=None,
    )


def revealed(customer: CustomerRecord) -> CustomerData:
    return CustomerData(
        masked=False,
        name=customer.name,
        email=customer.email,
        card_number=customer.card_number,
        card_expiry=customer.card_expiry,
        order_payload=customer.order_payload,
    )


def _entry(entry: StoredEntry, *, reveal: bool) -> LedgerEntry:
    customer = entry.customer
    if customer is None:
        raise ValueError(f"entry {entry.entry_id} was read without its customer record")
    return LedgerEntry.model_validate(
        {
            "entry_id": entry.entry_id,
            "created_at": entry.created_at,
            "status": entry.status,
            "decision": entry.decision,
            "rule": entry.rule,
            "deposit_id": entry.deposit_id,
            "deposit_ref": entry.deposit_ref,
            "customer_ref": entry.customer_ref,
            "amount_minor": entry.amount_minor,
            "currency": entry.currency,
            "risk_flags": list(entry.risk_flags),
            "evidence_id": entry.evidence_id,
            "customer": revealed(customer) if reveal else masked(customer),
        }
    )


async def ledger_page(repository: RefundRepository, query: LedgerQuery, *, reveal: bool) -> LedgerPage:
    """One page; `reveal` the caller's right to unmasked customer fields, already checked."""
    where = LedgerFilter(status=query.status, decision=query.decision, since=query.since, until=query.until)
    before = int(query.cursor) if query.cursor is not None else None
    # One row more than the page: whether a next page exists, without counting the table.
    rows = await repository.page(before=before, limit=query.limit + 1, where=where, with_customer=True)
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    return LedgerPage(
        items=[_entry(row, reveal=reveal) for row in rows],
        next_cursor=str(rows[-1].entry_id) if more and rows else None,
    )


async def ledger_entry(repository: RefundRepository, entry_id: int, *, reveal: bool) -> LedgerEntry:
    """One entry, masked as a page is; NotFound when the ledger has no such entry."""
    entry = await repository.get(entry_id, with_customer=True)
    if entry is None:
        raise NotFound(f"no ledger entry {entry_id}", code="entry_not_found")
    return _entry(entry, reveal=reveal)
