"""The feed operations the control family lacks, for runbook scripts: failover and failback of the plant's
market-data feed. Only the token of a running runbook may switch the feed, so every switch happens inside a run:
audited as one, one at a time per environment, and refused to any other caller however it is scoped."""

from server.clock import Clock
from server.errors import Forbidden
from server.plant.feed import MarketDataFeed
from server.services.runbooks.service import TOKEN_NAME_PREFIX
from server.services.tokens import Principal
from server.storage.runbooks import RunbookRepository
from shared.runbooks import FeedOperation


class FeedOperations:
    def __init__(self, feed: MarketDataFeed, repository: RunbookRepository, clock: Clock) -> None:
        self._feed = feed
        self._repository = repository
        self._clock = clock

    async def failover(self, principal: Principal) -> FeedOperation:
        await self._check_caller(principal, "failover")
        latency = self._feed.failover()
        return FeedOperation(
            operation="failover", active_profile=self._feed.profile, latency_ms=latency, generated_at=self._clock.now()
        )

    async def failback(self, principal: Principal) -> FeedOperation:
        await self._check_caller(principal, "failback")
        latency = self._feed.failback()
        return FeedOperation(
            operation="failback", active_profile=self._feed.profile, latency_ms=latency, generated_at=self._clock.now()
        )

    async def _check_caller(self, principal: Principal, operation: str) -> None:
        name = principal.name
        if not (name.startswith(TOKEN_NAME_PREFIX) and await self._repository.is_running_token(name)):
            raise Forbidden(
                f"a feed {operation} is run by the '{operation}' runbook: POST /api/ops/runbooks/execute",
                code="runbook_token_required",
            )
