"""Intake: the plant's refund requests into the ledger. The business's ids become safe references here, and the
customer data goes into the protected columns."""

from server.plant.refund_requests import PlantRefundRequest
from server.services.refunds.deposits import DepositBook, SafeRefs
from server.storage.refunds import CustomerRecord, NewEntry, RefundRepository


class RefundIntake:
    def __init__(self, repository: RefundRepository, refs: SafeRefs, deposits: DepositBook) -> None:
        self._repository = repository
        self._refs = refs
        self._deposits = deposits

    async def receive(self, request: PlantRefundRequest) -> int:
        """Put `request` in the ledger as pending; returns its entry id. UnknownDeposit for a deposit the business
        does not have."""
        return await self._repository.add(
            NewEntry(
                created_at=request.requested_at,
                deposit_id=request.deposit_id,
                deposit_ref=self._refs.deposit(request.deposit_id),
                customer_ref=self._refs.customer(request.customer_id),
                amount_minor=request.amount_minor,
                currency=request.currency,
                risk_flags=await self._deposits.risk_flags(request.deposit_id),
                customer=CustomerRecord(
                    name=request.customer_name,
                    email=request.customer_email,
                    card_number=request.card_number,
                    card_expiry=request.card_expiry,
                    order_payload=request.order_payload,
                ),
            )
        )
