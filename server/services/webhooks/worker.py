"""The delivery worker: picks due deliveries from the queue (at start too: what an earlier process left pending),
sends each signed, and records the attempt with what follows — done, tried again later, failed, or the subscription
disabled by a 410. Woken when events are queued; otherwise it looks again when the next delivery falls due."""

import asyncio
import contextlib
import functools
import logging
import random
from dataclasses import dataclass

from server.clock import Clock
from server.services.webhooks.backoff import backoff_seconds, retry_after_seconds
from server.services.webhooks.sender import Answer, Sender
from server.services.webhooks.signing import signature_header
from server.storage.webhooks import AttemptRecord, DueDelivery, WebhookRepository

log = logging.getLogger(__name__)

CONCURRENCY = 8  # deliveries in flight at once
POLL_SECONDS = 5.0  # the longest the worker sleeps without being woken


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int
    base_seconds: float
    max_seconds: float


class DeliveryWorker:
    def __init__(
        self,
        repository: WebhookRepository,
        sender: Sender,
        clock: Clock,
        retry: RetryPolicy,
        rng: random.Random | None = None,
    ) -> None:
        self._repository = repository
        self._sender = sender
        self._clock = clock
        self._retry = retry
        self._rng = rng or random.Random()
        self._wake = asyncio.Event()
        self._in_flight: dict[str, asyncio.Task[None]] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="webhook-deliveries")

    async def stop(self) -> None:
        """Stops picking and cancels the attempts in flight: their deliveries stay pending for the next start."""
        tasks = [t for t in (self._task, *self._in_flight.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._task = None

    def wake(self) -> None:
        """Look for due deliveries now (events were queued, or a test moved its clock)."""
        self._wake.set()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                wait = await self._pick()
            except Exception:  # a failing database must not end deliveries for good
                log.exception("webhook deliveries: picking due deliveries failed")
                wait = POLL_SECONDS
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    async def _pick(self) -> float:
        """Starts the due deliveries there is room for; returns how long to sleep unless woken."""
        free = CONCURRENCY - len(self._in_flight)
        if free <= 0:
            return POLL_SECONDS  # a finishing attempt wakes the worker
        now = self._clock.timestamp()
        for delivery in await self._repository.due(now, free, skip=list(self._in_flight)):
            task = asyncio.create_task(self._attempt(delivery), name=f"webhook-{delivery.delivery_id}")
            self._in_flight[delivery.delivery_id] = task
            task.add_done_callback(functools.partial(self._done, delivery.delivery_id))
        if len(self._in_flight) >= CONCURRENCY:
            return POLL_SECONDS
        next_due = await self._repository.next_due_at(skip=list(self._in_flight))
        return POLL_SECONDS if next_due is None else min(POLL_SECONDS, max(0.0, next_due - now))

    def _done(self, delivery_id: str, _: object) -> None:
        self._in_flight.pop(delivery_id, None)
        self._wake.set()

    async def _attempt(self, delivery: DueDelivery) -> None:
        try:
            now = self._clock.timestamp()
            answer = await self._sender.send(delivery.url, self._headers(delivery, now), delivery.body.encode())
            await self._repository.record_attempt(delivery, self._outcome(delivery, answer, now))
        except Exception:
            # The delivery stays pending. Held in flight a while, so that it is not sent again at once, and again,
            # while (say) the database refuses to record it.
            log.exception("webhook delivery %s: the attempt could not be made or recorded", delivery.delivery_id)
            await asyncio.sleep(POLL_SECONDS)

    @staticmethod
    def _headers(delivery: DueDelivery, now: float) -> dict[str, str]:
        timestamp = int(now)
        body = delivery.body.encode()
        secrets = delivery.signing.secrets_at(now)
        return {
            "Content-Type": "application/json",
            "User-Agent": "ops-webhooks/1",
            "webhook-id": delivery.message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature_header(secrets, delivery.message_id, timestamp, body),
        }

    def _outcome(self, delivery: DueDelivery, answer: Answer, at: float) -> AttemptRecord:
        def record(outcome: str, status: str, next_at: float | None = None, error: str | None = None) -> AttemptRecord:
            return AttemptRecord(
                at=at,
                status_code=answer.status_code,
                error=error or answer.error,
                duration_ms=answer.duration_ms,
                response_excerpt=answer.excerpt,
                outcome=outcome,
                status=status,
                next_attempt_at=next_at,
                disable=outcome == "disabled",
            )

        code = answer.status_code
        if code is not None and 200 <= code < 300:
            return record("succeeded", "succeeded")
        if code == 410:
            return record("disabled", "failed", error="the receiver answered 410 Gone: subscription disabled")
        if answer.refused:
            return record("failed", "failed")  # the address is not allowed: trying again changes nothing
        error = answer.error or f"HTTP {code}"
        if delivery.attempts_left <= 1:
            return record("failed", "failed", error=f"{error}; gave up after {delivery.attempts + 1} attempts")
        delay = None
        if code is not None and (code == 429 or 500 <= code < 600):
            delay = retry_after_seconds(answer.retry_after, self._clock.now())
        if delay is None:
            failed = self._retry.max_attempts - delivery.attempts_left + 1  # within this budget (redeliveries renew it)
            delay = backoff_seconds(failed, self._retry.base_seconds, self._retry.max_seconds, self._rng)
        return record("retrying", "pending", self._clock.timestamp() + delay, error)
