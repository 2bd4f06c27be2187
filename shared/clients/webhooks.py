"""WebhooksClient: `client.orchestration.webhooks.*` — subscriptions to orchestration's events (scope
`webhooks:admin`), their secrets and their delivery log. In the orchestration family's envelope; errors raised as the
typed errors of shared/errors.py (InvalidRequest 422 for a URL the SSRF guard refuses, NotFound, Conflict)."""

from collections.abc import Sequence

from shared.clients.envelopes import ORCHESTRATION
from shared.clients.transport import Transport, query_params
from shared.webhooks import (
    Delivery,
    DeliveryList,
    DeliveryQuery,
    DeliveryStatus,
    PageQuery,
    Webhook,
    WebhookCreated,
    WebhookEvent,
    WebhookList,
    WebhookSecret,
)


class WebhooksClient:
    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    async def create(self, url: str, events: Sequence[WebhookEvent]) -> WebhookCreated:
        """Subscribe `url` to `events`; the answer's `secret` is shown this once: keep it to verify signatures."""
        body = {"url": url, "events": list(events)}
        return await self._transport.request(ORCHESTRATION, "POST", "/webhooks", WebhookCreated, json=body)

    async def list(self, *, limit: int = 20, offset: int = 0) -> WebhookList:
        params = query_params(PageQuery(limit=limit, offset=offset))
        return await self._transport.request(ORCHESTRATION, "GET", "/webhooks", WebhookList, params=params)

    async def get(self, webhook_id: str) -> Webhook:
        return await self._transport.request(ORCHESTRATION, "GET", f"/webhooks/{webhook_id}", Webhook)

    async def delete(self, webhook_id: str) -> Webhook:
        """Remove the subscription with its delivery log; answers what was removed."""
        return await self._transport.request(ORCHESTRATION, "DELETE", f"/webhooks/{webhook_id}", Webhook)

    async def rotate_secret(self, webhook_id: str) -> WebhookSecret:
        """A new secret, shown once; the previous one still signs until `previous_secret_expires_at`."""
        return await self._transport.request(
            ORCHESTRATION, "POST", f"/webhooks/{webhook_id}/rotate-secret", WebhookSecret
        )

    async def deliveries(
        self, webhook_id: str, *, status: DeliveryStatus | None = None, limit: int = 20, offset: int = 0
    ) -> DeliveryList:
        """The subscription's deliveries, newest first, each with every attempt."""
        params = query_params(DeliveryQuery(status=status, limit=limit, offset=offset))
        path = f"/webhooks/{webhook_id}/deliveries"
        return await self._transport.request(ORCHESTRATION, "GET", path, DeliveryList, params=params)

    async def redeliver(self, webhook_id: str, delivery_id: str) -> Delivery:
        """Queue a finished delivery again (Conflict while it is pending or the subscription is disabled)."""
        path = f"/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver"
        return await self._transport.request(ORCHESTRATION, "POST", path, Delivery)
