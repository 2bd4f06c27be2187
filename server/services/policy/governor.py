"""The wrapper around a governed action's side effect: ask the decision point right before it, run it only on
ALLOW, and fail closed — the action not taken, the outcome `failed_closed` — when the point errors or does not
answer within the timeout."""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from server.services.policy.context import Decision, PolicyContext
from server.services.policy.point import DecisionPoint
from shared.live import Outcome

log = logging.getLogger(__name__)
T = TypeVar("T")

FAILED_CLOSED_RULE = "decision_point.unavailable"


@dataclass(frozen=True, slots=True)
class Governed(Generic[T]):
    decision: Decision | None  # None: failed closed
    outcome: Outcome
    result: T | None  # the side effect's, when it ran
    latency_us: int  # asking the decision point

    @property
    def rule(self) -> str:
        return self.decision.rule if self.decision is not None else FAILED_CLOSED_RULE


_OUTCOMES: dict[str, Outcome] = {"DENY": "denied", "REQUIRE_APPROVAL": "awaiting_approval"}


async def governed(
    point: DecisionPoint, context: PolicyContext, side_effect: Callable[[], Awaitable[T]], *, timeout: float
) -> Governed[T]:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            decision = await point.decide(context)
    except Exception as exc:  # any failure to decide, a timeout included, means no action
        log.warning("policy decision point failed for %s: %s; failing closed", context.action, exc)
        return Governed(None, "failed_closed", None, _since(started))
    latency = _since(started)
    if decision.decision != "ALLOW":
        return Governed(decision, _OUTCOMES[decision.decision], None, latency)
    return Governed(decision, "executed", await side_effect(), latency)


def _since(started: float) -> int:
    return int((time.perf_counter() - started) * 1_000_000)
