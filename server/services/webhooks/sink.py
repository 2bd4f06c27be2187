"""The EventSink of orchestration (server/services/orchestration/events.py) that feeds webhooks: an event becomes
one pending delivery per active subscription to it, committed before `emit` returns, and the worker is woken. The
body is built once and stored: every subscriber and every attempt gets (and signs) the same bytes."""

import json
import logging
import uuid
from collections.abc import Mapping

from server.clock import Clock
from server.services.orchestration.events import EVENT_TYPES
from server.services.webhooks.worker import DeliveryWorker
from server.storage.webhooks import WebhookRepository

log = logging.getLogger(__name__)


class WebhookSink:
    def __init__(self, repository: WebhookRepository, worker: DeliveryWorker, clock: Clock, max_attempts: int) -> None:
        self._repository = repository
        self._worker = worker
        self._clock = clock
        self._max_attempts = max_attempts

    async def emit(self, event_type: str, data: Mapping[str, object], *, test_mode: bool) -> None:
        if event_type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {event_type!r}; known: {', '.join(EVENT_TYPES)}")
        if test_mode:
            return  # test-mode asks tell nobody
        # What the caller was doing (an ask, an analysis) has happened: failing to queue its event must not undo
        # or fail it, so the failure is logged, not raised.
        try:
            webhook_ids = await self._repository.subscribers(event_type)
            if not webhook_ids:
                return
            now = self._clock.now()
            stamp = now.isoformat().replace("+00:00", "Z")
            body = json.dumps(
                {"type": event_type, "timestamp": stamp, "data": data}, ensure_ascii=False, separators=(",", ":")
            )
            rows = [(f"whd_{uuid.uuid4().hex}", webhook_id) for webhook_id in webhook_ids]
            message_id = f"msg_{uuid.uuid4().hex}"
            await self._repository.enqueue(rows, message_id, event_type, body, now.timestamp(), self._max_attempts)
        except Exception:
            log.exception("could not queue the %s event for its webhooks", event_type)
            return
        self._worker.wake()
