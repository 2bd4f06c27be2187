"""The policy decision point: the engine's rules, a context that cannot carry customer data, the same decisions over
HTTP, and the governor that runs a side effect only on ALLOW and fails closed when no decision comes."""

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from live_support import policy_server_app
from pydantic import ValidationError

from server.services.policy.context import Decision, PolicyContext
from server.services.policy.engine import PolicyEngine
from server.services.policy.governor import governed
from server.services.policy.point import DecisionUnavailable, LocalDecisionPoint, RemoteDecisionPoint, policy_app

NOON = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
DEP = "dep_0123456789abcdef"
CUST = "cust_0123456789abcdef"


def refund(**overrides: Any) -> PolicyContext:
    values: dict[str, Any] = {
        "agent": "refund",
        "action": "refund.create",
        "resource_ref": DEP,
        "customer_ref": CUST,
        "amount_minor": 1_000,
        "currency": "EUR",
        "at": NOON,
    }
    values.update(overrides)
    return PolicyContext(**values)


@pytest.mark.parametrize(
    ("overrides", "decision", "rule"),
    [
        ({}, "ALLOW", "default.allow"),
        ({"risk_flags": {"deposit_suspicious"}}, "DENY", "risk.deposit_suspicious"),
        ({"amount_minor": 500_001}, "DENY", "amount.maximum"),
        ({"recent_refunds": 3}, "DENY", "velocity.customer"),
        ({"risk_flags": {"deposit_under_investigation"}}, "REQUIRE_APPROVAL", "risk.under_investigation"),
        ({"amount_minor": 50_001}, "REQUIRE_APPROVAL", "amount.approval"),
        ({"at": datetime(2026, 1, 1, 23, 30, tzinfo=UTC)}, "REQUIRE_APPROVAL", "schedule.window"),
        ({"at": datetime(2026, 1, 1, 5, 59, tzinfo=UTC)}, "REQUIRE_APPROVAL", "schedule.window"),
        # Deny rules win over approval rules.
        ({"amount_minor": 900_000, "risk_flags": {"deposit_under_investigation"}}, "DENY", "amount.maximum"),
    ],
)
def test_the_engine_decides_by_the_first_matching_rule(overrides: dict[str, Any], decision: str, rule: str) -> None:
    answer = PolicyEngine().decide(refund(**overrides))
    assert (answer.decision, answer.rule) == (decision, rule)


def test_notifications_are_allowed_by_their_own_rule() -> None:
    context = PolicyContext(agent="guardian", action="alert.raise", resource_ref="comp_0123456789abcdef", at=NOON)
    assert PolicyEngine().decide(context).rule == "action.notify"


@pytest.mark.parametrize(
    "overrides",
    [
        {"customer_name": "Ada Lovelace"},  # no such field: unknown fields are refused
        {"email": "ada@example.com"},
        {"resource_ref": "dep-000001"},  # a business id, not a safe reference
        {"resource_ref": "Ada Lovelace"},
        {"customer_ref": "ada.lovelace@example.com"},
        {"customer_ref": "cust_4111111111111111aa"},
        {"risk_flags": {"Ada Lovelace"}},
        {"currency": "4111111111111111"},
        {"redaction_status": "none"},
        {"at": datetime(2026, 1, 1, 12, 0)},  # naive: which window would it be in?
    ],
)
def test_the_context_cannot_carry_customer_data(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        refund(**overrides)


async def test_a_remote_decision_point_answers_as_the_engine(aiohttp_server: Any) -> None:
    server = await aiohttp_server(policy_app(PolicyEngine()))
    point = RemoteDecisionPoint(str(server.make_url("")), timeout=2)
    try:
        for context in (refund(), refund(amount_minor=900_000), refund(recent_refunds=5)):
            assert await point.decide(context) == PolicyEngine().decide(context)
    finally:
        await point.aclose()


@pytest.mark.parametrize(("status", "body"), [(500, None), (200, b'{"decision":"MAYBE"}'), (200, b"not json")])
async def test_a_remote_that_answers_no_decision_is_unavailable(
    aiohttp_server: Any, status: int, body: bytes | None
) -> None:
    server = await aiohttp_server(policy_server_app(status=status, body=body))
    point = RemoteDecisionPoint(str(server.make_url("")), timeout=2)
    try:
        with pytest.raises(DecisionUnavailable):
            await point.decide(refund())
    finally:
        await point.aclose()


async def test_an_unreachable_remote_is_unavailable(unused_tcp_port: int) -> None:
    point = RemoteDecisionPoint(f"http://127.0.0.1:{unused_tcp_port}", timeout=2)
    try:
        with pytest.raises(DecisionUnavailable):
            await point.decide(refund())
    finally:
        await point.aclose()


class _Point:
    kind = "in-process"

    def __init__(self, answer: Decision | None = None, delay: float = 0.0, error: Exception | None = None) -> None:
        self.answer, self.delay, self.error = answer, delay, error

    async def decide(self, context: PolicyContext) -> Decision:
        await asyncio.sleep(self.delay)
        if self.error is not None:
            raise self.error
        assert self.answer is not None
        return self.answer

    async def aclose(self) -> None:
        return None


async def _governed(point: Any, timeout: float = 1.0) -> tuple[Any, list[str]]:
    ran: list[str] = []

    async def side_effect() -> str:
        ran.append("refund")
        return "rf-1"

    return await governed(point, refund(), side_effect, timeout=timeout), ran


async def test_the_side_effect_runs_on_allow_only() -> None:
    allowed, ran = await _governed(LocalDecisionPoint(PolicyEngine()))
    assert (allowed.outcome, allowed.result, ran) == ("executed", "rf-1", ["refund"])
    deny = Decision(decision="DENY", rule="amount.maximum", reason="too much")
    denied, ran = await _governed(_Point(deny))
    assert (denied.outcome, denied.rule, ran) == ("denied", "amount.maximum", [])
    hold = Decision(decision="REQUIRE_APPROVAL", rule="amount.approval", reason="approve")
    held, ran = await _governed(_Point(hold))
    assert (held.outcome, ran) == ("awaiting_approval", [])


async def test_an_erroring_or_slow_point_fails_closed() -> None:
    broken, ran = await _governed(_Point(error=RuntimeError("down")))
    assert (broken.outcome, broken.decision, broken.rule, ran) == (
        "failed_closed",
        None,
        "decision_point.unavailable",
        [],
    )
    allow = Decision(decision="ALLOW", rule="default.allow", reason="ok")
    slow, ran = await _governed(_Point(allow, delay=1.0), timeout=0.05)
    assert (slow.outcome, ran) == ("failed_closed", [])
    assert slow.latency_us >= 50_000
