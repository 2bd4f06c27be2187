"""The deposit feed: the plant's deposit stream stored as it flows (a day of history at first start, then each
tick's deposits), and deposits operators add through the API, screened for the patterns one deposit shows alone."""

import asyncio
import logging
import random
import uuid

from server.clock import Clock
from server.plant.transactions import CHANNELS, DEPOSIT_LIMIT_MINOR, Deposit, DepositStream
from server.services.agent.tools import UNDER_LIMIT_SHARE
from server.storage.agent_transactions import TransactionRepository
from shared.agent import NewTransaction, Transaction

log = logging.getLogger(__name__)


def screen(deposit: Deposit) -> bool:
    """Suspicious on its own: a card used from another country, an unusual channel, an amount just under the limit.
    (Velocity and shared devices need the others: the investigation's tools find those.)"""
    floor = DEPOSIT_LIMIT_MINOR * (1 - UNDER_LIMIT_SHARE)
    return (
        deposit.ip_country != deposit.card_country
        or deposit.channel not in CHANNELS
        or floor <= deposit.amount_minor < DEPOSIT_LIMIT_MINOR
    )


class DepositFeed:
    def __init__(self, repository: TransactionRepository, clock: Clock, *, seed: int) -> None:
        self._repository = repository
        self._clock = clock
        self._seed = seed
        self._stream: DepositStream | None = None

    async def start(self) -> None:
        """Seed the stream (by the plant's seed and how much it made before, so a restart makes new deposits) and
        backfill a day of history into an empty store."""
        made = await self._repository.count(source="plant")
        self._stream = DepositStream(random.Random(f"deposits:{self._seed}:{made}"))
        if made == 0:
            await self._repository.add(self._stream.backfill(self._clock.now()), source="plant")

    async def tick(self) -> int:
        """One tick's deposits, stored; how many."""
        if self._stream is None:
            raise RuntimeError("the deposit feed is not started")
        return await self._repository.add(self._stream.tick(self._clock.now()), source="plant")

    async def run(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.tick()
            except Exception:  # a busy database: the next tick tries again
                log.exception("storing the plant's deposits failed")

    async def add(self, new: NewTransaction) -> Transaction:
        deposit = Deposit(
            transaction_id=str(uuid.uuid4()),
            occurred_at=new.occurred_at or self._clock.now(),
            amount_minor=int(new.amount * 100),
            currency=new.currency,
            merchant=new.merchant,
            channel=new.channel,
            customer_id=new.customer_id,
            device_id=new.device_id,
            ip_country=new.ip_country,
            card_country=new.card_country,
        )
        await self._repository.add([deposit], source="api", suspicious=[screen(deposit)])
        stored = await self._repository.get(deposit.transaction_id)
        assert stored is not None
        return stored
