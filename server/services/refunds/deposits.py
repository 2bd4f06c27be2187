"""The deposits a refund pays back, and the safe references the policy and the evidence see instead of the
business's own ids.

`LinkedDeposits` reads them where the agent family keeps them: the transactions (server/storage/agent_transactions.py,
their `suspicious` flag) and the investigations of each (server/storage/agent_investigations.py): a deposit with an
investigation running or a verdict of `review` is under investigation, one the plant or an investigation flagged
(`suspicious`, `fraudulent`) is suspicious. Both are risk flags for the refund policy."""

from typing import Protocol

from server.storage.agent_investigations import InvestigationRepository
from server.storage.agent_transactions import TransactionRepository
from server.storage.audit_keys import AuditKey

SUSPICIOUS_VERDICTS = frozenset({"suspicious", "fraudulent"})


class UnknownDeposit(LookupError):
    """The business has no such deposit: nothing to refund."""


class DepositBook(Protocol):
    async def risk_flags(self, deposit_id: str) -> tuple[str, ...]:
        """The deposit's risk flags as the business sees them now; UnknownDeposit if there is no such deposit."""
        ...

    async def refund(self, deposit_id: str, amount_minor: int) -> str:
        """Pay `amount_minor` of the deposit back; returns the refund's reference."""
        ...


class LinkedDeposits:
    def __init__(self, transactions: TransactionRepository, investigations: InvestigationRepository) -> None:
        self._transactions = transactions
        self._investigations = investigations
        # The payouts made, by deposit: the demo business's payment system.
        self.refunds: dict[str, list[str]] = {}

    async def risk_flags(self, deposit_id: str) -> tuple[str, ...]:
        deposit = await self._transactions.get(deposit_id)
        if deposit is None:
            raise UnknownDeposit(f"no deposit {deposit_id}")
        flags = {"deposit_suspicious"} if deposit.suspicious else set()
        for investigation in await self._investigations.of_transaction(deposit_id):
            if investigation.status == "running" or investigation.verdict == "review":
                flags.add("deposit_under_investigation")
            if investigation.verdict in SUSPICIOUS_VERDICTS:
                flags.add("deposit_suspicious")
        return tuple(sorted(flags))

    async def refund(self, deposit_id: str, amount_minor: int) -> str:
        if await self._transactions.get(deposit_id) is None:
            raise UnknownDeposit(f"no deposit {deposit_id}")
        made = self.refunds.setdefault(deposit_id, [])
        reference = f"rf-{deposit_id}-{len(made) + 1}"
        made.append(reference)
        return reference


class SafeRefs:
    """Opaque references (`dep_<16 hex>`): keyed HMACs, so a small id space (customer numbers) cannot be reversed
    by hashing every candidate. Keyed with the audit key, which never leaves the server."""

    def __init__(self, key: AuditKey) -> None:
        self._key = key

    def _ref(self, kind: str, value: str) -> str:
        digest = self._key.sign(f"ops-safe-ref/1\n{kind}\n{value}")
        return f"{kind}_{digest[:16]}"

    def deposit(self, deposit_id: str) -> str:
        return self._ref("dep", deposit_id)

    def customer(self, customer_id: str) -> str:
        return self._ref("cust", customer_id)

    def component(self, name: str) -> str:
        return self._ref("comp", name)
