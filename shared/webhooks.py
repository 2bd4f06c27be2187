"""Models of the webhooks (contract 4's "subscribe via the UI or API"): subscriptions to orchestration events,
delivered as signed HTTP POSTs per the Standard Webhooks spec, and the log of every delivery attempt.

A delivery's body is `{"type": <event>, "timestamp": <ISO 8601>, "data": {...}}`; its headers `webhook-id` (the same
on every attempt), `webhook-timestamp` (Unix seconds of the attempt) and `webhook-signature` (`v1,<base64>`, space
separated, two while a rotated secret's overlap lasts)."""

import re
from datetime import datetime
from typing import Annotated, Literal, get_args
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

WebhookEvent = Literal["trace.completed", "replan.decided", "regression.completed"]
WEBHOOK_EVENTS: tuple[WebhookEvent, ...] = get_args(WebhookEvent)
WebhookStatus = Literal["active", "disabled"]
DeliveryStatus = Literal["pending", "succeeded", "failed"]
AttemptOutcome = Literal["succeeded", "retrying", "failed", "disabled"]
SECRET_PREFIX = "whsec_"
MAX_URL_LENGTH = 2048


# What the validator below accepts, as JSON schema can say it (the schema's `pattern`): http(s)://, then a non-empty
# authority without credentials, no whitespace anywhere. (The port's range and the host's form it cannot say.)
URL_PATTERN = r"^[Hh][Tt][Tt][Pp][Ss]?://[^/?#@\s]+([/?#]\S*)?$"
_SCHEME = re.compile(r"[Hh][Tt][Tt][Pp][Ss]?://")
_SPACE = re.compile(r"\s")


def _http_url(url: str) -> str:
    """An absolute http(s) URL with a host and no credentials (deliveries are signed; a password in the URL would
    show in every listing). Checked on the text as given: urlsplit alone would drop leading spaces and tabs."""
    if not _SCHEME.match(url):
        raise ValueError("the URL must be http or https (http://host/...)")
    if _SPACE.search(url):
        raise ValueError("the URL may not contain spaces")
    parts = urlsplit(url)
    if not parts.hostname:
        raise ValueError("the URL must name a host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("the URL may not carry credentials")
    try:
        parts.port  # noqa: B018 - raises for a port out of range or not a number
    except ValueError as exc:
        raise ValueError(f"the URL's port is not valid: {exc}") from None
    return url


def _distinct(events: list[WebhookEvent]) -> list[WebhookEvent]:
    if len(set(events)) != len(events):
        raise ValueError("each event may be named once")
    return events


WebhookUrl = Annotated[
    str,
    Field(min_length=1, max_length=MAX_URL_LENGTH, json_schema_extra={"pattern": URL_PATTERN}),
    AfterValidator(_http_url),
]


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: WebhookUrl
    events: Annotated[list[WebhookEvent], Field(min_length=1), AfterValidator(_distinct)]


class LastDelivery(BaseModel):
    """A subscription's latest delivery, as the list shows it."""

    delivery_id: str
    event_type: WebhookEvent
    status: DeliveryStatus
    created_at: datetime
    last_attempt_at: datetime | None
    last_status_code: int | None


class Webhook(BaseModel):
    webhook_id: str
    url: str
    events: list[WebhookEvent]
    status: WebhookStatus
    disabled_reason: str | None = None
    created_at: datetime
    created_by: str
    # While set and in the future, deliveries carry the previous secret's signature too.
    previous_secret_expires_at: datetime | None = None
    last_delivery: LastDelivery | None = None


class WebhookCreated(Webhook):
    """The create answer: the only time the secret is shown."""

    secret: str


class WebhookSecret(BaseModel):
    """A rotation's answer: the new secret, shown once; the previous one signs too until the time given."""

    webhook_id: str
    secret: str
    previous_secret_expires_at: datetime


class WebhookList(BaseModel):
    items: list[Webhook]
    total: int
    limit: int
    offset: int


class PageQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=20, ge=1, le=100)
    offset: int = Field(default=0, ge=0, le=2**63 - 1)  # an SQLite integer: past it the read fails


class DeliveryQuery(PageQuery):
    status: DeliveryStatus | None = None


class DeliveryAttempt(BaseModel):
    attempt: int
    at: datetime
    status_code: int | None  # None: no answer (refused, timeout, connection error)
    error: str | None
    duration_ms: int
    response_excerpt: str
    outcome: AttemptOutcome
    next_attempt_at: datetime | None


class Delivery(BaseModel):
    delivery_id: str
    webhook_id: str
    message_id: str
    event_type: WebhookEvent
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    created_at: datetime
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    body: str  # exactly the bytes sent (and signed), as text
    attempt_log: list[DeliveryAttempt]


class DeliveryList(BaseModel):
    items: list[Delivery]
    total: int
    limit: int
    offset: int
