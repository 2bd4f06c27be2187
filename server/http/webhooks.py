"""Webhooks (contract 4's "subscribe via the UI or API"), in the orchestration family's envelope. Subscribers get
orchestration's events (trace.completed, replan.decided, regression.completed) as signed POSTs per the Standard
Webhooks spec, from a durable queue with retries.

| method | path | scope |
|---|---|---|
| POST   | /webhooks (url, events; the answer carries the secret, once) | webhooks:admin |
| GET    | /webhooks?limit=&offset= | webhooks:admin |
| GET    | /webhooks/{webhook_id} | webhooks:admin |
| DELETE | /webhooks/{webhook_id} | webhooks:admin |
| POST   | /webhooks/{webhook_id}/rotate-secret | webhooks:admin |
| GET    | /webhooks/{webhook_id}/deliveries?status=&limit=&offset= | webhooks:admin |
| POST   | /webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver | webhooks:admin |

This family's cleanup context must start before orchestration's: it puts the EventSink under EVENTS."""

from collections.abc import AsyncIterator

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from server.http.access import Bearer
from server.http.audit import note_audit
from server.http.context import principal_of
from server.http.envelopes import respond
from server.http.families import Family
from server.http.parsing import parse_body, parse_path, parse_query
from server.http.routes import FamilyRoutes
from server.keys import CLOCK, DB, SETTINGS
from server.services.orchestration.events import EVENTS
from server.services.webhooks.addresses import AddressGuard, AddressPolicy
from server.services.webhooks.sender import Sender
from server.services.webhooks.service import WebhookService
from server.services.webhooks.sink import WebhookSink
from server.services.webhooks.worker import DeliveryWorker, RetryPolicy
from server.storage.webhooks import WebhookRepository
from shared.scopes import Scope
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

routes = FamilyRoutes(Family.ORCHESTRATION)
WEBHOOKS = web.AppKey("webhooks", WebhookService)

ADMIN = Bearer(Scope.WEBHOOKS_ADMIN)


class WebhookPath(BaseModel):
    model_config = ConfigDict(extra="forbid")

    webhook_id: str = Field(max_length=100)  # an id of no webhook is a 404, whatever its form


class DeliveryPath(WebhookPath):
    delivery_id: str = Field(max_length=100)


def setup(app: web.Application) -> None:
    routes.add_to(app)
    app.cleanup_ctx.append(_webhooks)


async def _webhooks(app: web.Application) -> AsyncIterator[None]:
    settings, clock = app[SETTINGS], app[CLOCK]
    repository = WebhookRepository(app[DB])
    guard = AddressGuard(AddressPolicy(settings.webhook_allowed_networks))
    sender = Sender(
        guard, timeout_seconds=settings.webhook_timeout_seconds, max_response_bytes=settings.webhook_max_response_bytes
    )
    retry = RetryPolicy(
        settings.webhook_max_attempts, settings.webhook_retry_base_seconds, settings.webhook_retry_max_seconds
    )
    worker = DeliveryWorker(repository, sender, clock, retry)
    app[WEBHOOKS] = WebhookService(
        repository, guard, worker, clock, settings.webhook_max_attempts, settings.webhook_secret_overlap_seconds
    )
    app[EVENTS] = WebhookSink(repository, worker, clock, settings.webhook_max_attempts)
    await sender.start()
    worker.start()  # its first look sends what an earlier process left pending
    try:
        yield
    finally:
        await worker.stop()
        await sender.close()
        await guard.close()


@routes.post(
    "/webhooks",
    access=ADMIN,
    summary="Subscribe a URL to orchestration events; the answer carries the signing secret, shown only here",
    description="The URL must be http(s), name a host and carry no credentials; every address its host resolves to "
    "must be one webhooks may reach (not loopback, private, link-local, metadata, ... unless the operator allows its "
    "network), else 422 with `url_not_allowed`.",
    body=WebhookCreate,
    responses={201: WebhookCreated},
)
async def create_webhook(request: web.Request) -> web.Response:
    body = await parse_body(request, WebhookCreate)
    note_audit(request, action="webhook.create", url=body.url, events=list(body.events))
    created = await request.app[WEBHOOKS].create(body, principal_of(request).name)
    note_audit(request, target=created.webhook_id)  # never the secret
    return respond(request, created, status=201)


@routes.get(
    "/webhooks",
    access=ADMIN,
    summary="The subscriptions, a page at a time, each with its latest delivery",
    query=PageQuery,
    responses={200: WebhookList},
)
async def list_webhooks(request: web.Request) -> web.Response:
    return respond(request, await request.app[WEBHOOKS].list(parse_query(request, PageQuery)))


@routes.get(
    "/webhooks/{webhook_id}",
    access=ADMIN,
    summary="One subscription (never its secret)",
    path_params=WebhookPath,
    responses={200: Webhook},
    errors=(404,),
)
async def get_webhook(request: web.Request) -> web.Response:
    path = parse_path(request, WebhookPath)
    return respond(request, await request.app[WEBHOOKS].get(path.webhook_id))


@routes.delete(
    "/webhooks/{webhook_id}",
    access=ADMIN,
    summary="Remove a subscription with its delivery log; answers the subscription as it was",
    path_params=WebhookPath,
    responses={200: Webhook},
    errors=(404,),
)
async def delete_webhook(request: web.Request) -> web.Response:
    path = parse_path(request, WebhookPath)
    note_audit(request, action="webhook.delete", target=path.webhook_id)
    return respond(request, await request.app[WEBHOOKS].delete(path.webhook_id))


@routes.post(
    "/webhooks/{webhook_id}/rotate-secret",
    access=ADMIN,
    summary="A new signing secret, shown once; the previous one signs too until `previous_secret_expires_at`",
    path_params=WebhookPath,
    responses={200: WebhookSecret},
    errors=(404,),
)
async def rotate_secret(request: web.Request) -> web.Response:
    path = parse_path(request, WebhookPath)
    note_audit(request, action="webhook.rotate_secret", target=path.webhook_id)
    return respond(request, await request.app[WEBHOOKS].rotate_secret(path.webhook_id))


@routes.get(
    "/webhooks/{webhook_id}/deliveries",
    access=ADMIN,
    summary="A subscription's deliveries, newest first, each with its attempt log",
    path_params=WebhookPath,
    query=DeliveryQuery,
    responses={200: DeliveryList},
    errors=(404,),
)
async def list_deliveries(request: web.Request) -> web.Response:
    path = parse_path(request, WebhookPath)
    query = parse_query(request, DeliveryQuery)
    return respond(request, await request.app[WEBHOOKS].deliveries(path.webhook_id, query))


@routes.post(
    "/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver",
    access=ADMIN,
    summary="Queue a finished delivery again, due now, with a fresh budget of attempts",
    description="409 when the subscription is disabled or the delivery is still pending.",
    path_params=DeliveryPath,
    responses={202: Delivery},
    errors=(404, 409),
)
async def redeliver(request: web.Request) -> web.Response:
    path = parse_path(request, DeliveryPath)
    note_audit(request, action="webhook.redeliver", target=f"{path.webhook_id}/{path.delivery_id}")
    queued = await request.app[WEBHOOKS].redeliver(path.webhook_id, path.delivery_id)
    return respond(request, queued, status=202)
