"""Webhook subscriptions and their delivery log: subscribe (the URL checked by the SSRF guard, the secret shown
once), list, delete, rotate the secret, page the deliveries, deliver one again by hand."""

import uuid
from dataclasses import dataclass

from server.clock import Clock
from server.errors import Conflict, FieldError, NotFound, ValidationFailed
from server.services.webhooks.addresses import AddressGuard, AddressRefused
from server.services.webhooks.signing import new_secret
from server.services.webhooks.worker import DeliveryWorker
from server.storage.webhooks import NewSubscription, WebhookRepository
from shared.webhooks import (
    Delivery,
    DeliveryList,
    DeliveryQuery,
    PageQuery,
    Webhook,
    WebhookCreate,
    WebhookCreated,
    WebhookList,
    WebhookSecret,
)


@dataclass
class WebhookService:
    repository: WebhookRepository
    guard: AddressGuard
    worker: DeliveryWorker
    clock: Clock
    max_attempts: int
    secret_overlap_seconds: float

    async def create(self, body: WebhookCreate, created_by: str) -> WebhookCreated:
        try:
            await self.guard.check_url(body.url)
        except AddressRefused as exc:
            raise ValidationFailed([FieldError("body", ("url",), str(exc), "url_not_allowed")]) from None
        webhook_id, secret = f"wh_{uuid.uuid4().hex}", new_secret()
        await self.repository.create(
            NewSubscription(webhook_id, body.url, body.events, secret, self.clock.timestamp(), created_by)
        )
        webhook = await self.get(webhook_id)
        return WebhookCreated(**webhook.model_dump(), secret=secret)

    async def get(self, webhook_id: str) -> Webhook:
        webhook = await self.repository.get(webhook_id)
        if webhook is None:
            raise NotFound(f"no webhook '{webhook_id}'", code="webhook_not_found")
        return webhook

    async def list(self, query: PageQuery) -> WebhookList:
        items, total = await self.repository.page(query.limit, query.offset)
        return WebhookList(items=items, total=total, limit=query.limit, offset=query.offset)

    async def delete(self, webhook_id: str) -> Webhook:
        """Removes the subscription with its delivery log; its pending deliveries are not sent."""
        webhook = await self.get(webhook_id)
        if not await self.repository.delete(webhook_id):
            raise NotFound(f"no webhook '{webhook_id}'", code="webhook_not_found")
        return webhook

    async def rotate_secret(self, webhook_id: str) -> WebhookSecret:
        await self.get(webhook_id)
        secret, until = new_secret(), self.clock.timestamp() + self.secret_overlap_seconds
        if not await self.repository.rotate(webhook_id, secret, until):
            raise NotFound(f"no webhook '{webhook_id}'", code="webhook_not_found")
        rotated = await self.get(webhook_id)
        assert rotated.previous_secret_expires_at is not None  # set by the rotation
        return WebhookSecret(
            webhook_id=webhook_id, secret=secret, previous_secret_expires_at=rotated.previous_secret_expires_at
        )

    async def deliveries(self, webhook_id: str, query: DeliveryQuery) -> DeliveryList:
        await self.get(webhook_id)
        items, total = await self.repository.deliveries(webhook_id, query.limit, query.offset, query.status)
        return DeliveryList(items=items, total=total, limit=query.limit, offset=query.offset)

    async def redeliver(self, webhook_id: str, delivery_id: str) -> Delivery:
        """A finished delivery (succeeded or failed) queued again, due now, with a fresh budget of attempts."""
        webhook = await self.get(webhook_id)
        if webhook.status != "active":
            raise Conflict(f"webhook '{webhook_id}' is disabled: {webhook.disabled_reason}", code="webhook_disabled")
        if await self.repository.delivery(webhook_id, delivery_id) is None:
            raise NotFound(f"no delivery '{delivery_id}' of webhook '{webhook_id}'", code="delivery_not_found")
        if not await self.repository.requeue(webhook_id, delivery_id, self.clock.timestamp(), self.max_attempts):
            raise Conflict(f"delivery '{delivery_id}' is pending already", code="delivery_pending")
        self.worker.wake()
        delivery = await self.repository.delivery(webhook_id, delivery_id)
        if delivery is None:  # deleted with its webhook meanwhile
            raise NotFound(f"no delivery '{delivery_id}' of webhook '{webhook_id}'", code="delivery_not_found")
        return delivery
