"""The demo business's refund requests: clients ask for their card deposits back — the deposits the plant's
transactions stream makes (server/plant/transactions.py), stored by the agent family
(server/storage/agent_transactions.py). A request carries what a real one would: the customer's name, email, card
data and the raw order payload, which the refund ledger keeps in protected columns and never lets past its
operator view."""

import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from server.clock import Clock
from server.storage.agent_transactions import TransactionRepository

_FIRST = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Niklaus")
_LAST = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Perlman", "Wirth")
REQUEST_CHANCE = 0.3  # a tick brings a new request this often
RECENT_DEPOSITS = 50  # a request refunds one of the newest deposits


@dataclass(frozen=True, slots=True)
class PlantRefundRequest:
    deposit_id: str  # the deposit's transaction id
    customer_id: str
    customer_name: str
    customer_email: str
    card_number: str
    card_expiry: str
    amount_minor: int
    currency: str
    order_payload: dict[str, Any]
    requested_at: datetime


@dataclass(frozen=True, slots=True)
class Persona:
    """Who a customer id is, as the business's records would say: the same id, the same person."""

    name: str
    email: str
    card_number: str
    card_expiry: str


def persona(customer_id: str) -> Persona:
    r = random.Random(f"persona:{customer_id}")
    first, last = r.choice(_FIRST), r.choice(_LAST)
    return Persona(
        name=f"{first} {last}",
        email=f"{first.lower()}.{last.lower()}{r.randrange(10, 99)}@example.com",
        card_number="4" + "".join(str(r.randrange(10)) for _ in range(15)),
        card_expiry=f"{r.randrange(1, 13):02d}/{r.randrange(27, 32)}",
    )


class RefundRequestSource:
    """Now and then, a client asks to have one of the newest deposits refunded (each deposit at most once)."""

    def __init__(self, transactions: TransactionRepository, clock: Clock, rng: random.Random) -> None:
        self._transactions = transactions
        self._clock = clock
        self._random = rng
        self._asked: set[str] = set()

    async def tick(self) -> list[PlantRefundRequest]:
        if self._random.random() >= REQUEST_CHANCE:
            return []
        recent, _ = await self._transactions.page(limit=RECENT_DEPOSITS)
        candidates = [t for t in recent if t.transaction_id not in self._asked]
        if not candidates:
            return []
        deposit = self._random.choice(candidates)
        self._asked.add(deposit.transaction_id)
        who = persona(deposit.customer_id)
        return [
            PlantRefundRequest(
                deposit_id=deposit.transaction_id,
                customer_id=deposit.customer_id,
                customer_name=who.name,
                customer_email=who.email,
                card_number=who.card_number,
                card_expiry=who.card_expiry,
                amount_minor=int(deposit.amount * 100),
                currency=deposit.currency,
                order_payload={
                    "deposit": deposit.transaction_id,
                    "merchant": deposit.merchant,
                    "reason": self._random.choice(("duplicate", "closing account", "unrecognised")),
                    "note": f"please refund {who.name}",
                },
                requested_at=self._clock.now(),
            )
        ]
