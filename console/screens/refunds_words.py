"""How the Refunds screen words what the live + refunds API returns: amounts, times, subjects, customer fields."""

from datetime import datetime

from shared.live import CustomerData, LedgerEntry

# ISO 4217 currencies without minor units that the demo business could see; every other one has cents.
ZERO_DECIMAL = frozenset({"JPY", "KRW", "VND", "CLP", "ISK"})


def format_amount(amount_minor: int, currency: str) -> str:
    """`1234` EUR -> `12.34 EUR`: the ledger stores minor units."""
    if currency.upper() in ZERO_DECIMAL:
        return f"{amount_minor:,} {currency}"
    sign = "-" if amount_minor < 0 else ""
    whole, cents = divmod(abs(amount_minor), 100)
    return f"{sign}{whole:,}.{cents:02d} {currency}"


def format_when(at: datetime, *, wide: bool) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S" if wide else "%m-%d %H:%M")


def format_time(at: datetime, *, wide: bool) -> str:
    return at.strftime("%m-%d %H:%M:%S" if wide else "%H:%M:%S")


def customer_line(customer: CustomerData) -> str:
    """The customer's fields on one line, masked or not, as the server sent them."""
    return f"{customer.name} · {customer.email} · {customer.card_number} · {customer.card_expiry}"


def entry_summary(entry: LedgerEntry) -> str:
    """`entry 42 · pending · 12.34 EUR`"""
    return f"entry {entry.entry_id} · {entry.status} · {format_amount(entry.amount_minor, entry.currency)}"
