"""Per-customer velocity under concurrency: the count of a customer's recent refunds and the refund it lets
through are one step, so concurrent process-once calls for one customer never refund past the limit."""

import asyncio

from aiohttp.test_utils import TestClient
from live_support import add_requests, live, refunded
from ops_constants import ADMIN_TOKEN
from server_support import bearer

from server.services.policy.context import Decision, PolicyContext
from server.services.policy.engine import PolicyEngine
from server.services.refunds.customer_locks import CustomerLocks

PROCESS = "/ops/api/refunds/process-once"
LIMIT = PolicyEngine().rules.max_refunds_per_customer


class SlowEngine:
    """The in-process engine, answering after a pause as a remote one would: concurrent calls overlap there."""

    kind = "in-process"

    def __init__(self) -> None:
        self.engine = PolicyEngine()
        self.seen: list[int] = []

    async def decide(self, context: PolicyContext) -> Decision:
        self.seen.append(context.recent_refunds)
        await asyncio.sleep(0.02)
        return self.engine.decide(context)

    async def aclose(self) -> None:
        return None


async def test_concurrent_refunds_for_one_customer_stop_at_the_velocity_limit(client: TestClient) -> None:
    point = SlowEngine()
    live(client.app).agents.worker.point = point
    entries = await add_requests(client.app, LIMIT + 3, customer_id="cust-velocity")
    responses = await asyncio.gather(*(client.post(PROCESS, headers=bearer(ADMIN_TOKEN)) for _ in entries))
    bodies = [await response.json() for response in responses]
    assert sorted(body["entry_id"] for body in bodies) == entries
    refunds = [body for body in bodies if body["status"] == "refunded"]
    denied = [body for body in bodies if body["status"] == "denied"]
    assert len(refunds) == LIMIT
    assert len(denied) == 3
    assert {body["evidence"]["rule"] for body in denied} == {"velocity.customer"}
    assert sum(len(made) for made in refunded(client.app).values()) == LIMIT
    # Each decision counted every refund made before it.
    assert sorted(point.seen) == [*range(LIMIT), LIMIT, LIMIT, LIMIT]


async def test_other_customers_are_not_held_up() -> None:
    locks = CustomerLocks()
    order: list[str] = []

    async def refund(customer: str, pause: float) -> None:
        async with locks.hold(customer):
            await asyncio.sleep(pause)
            order.append(customer)

    await asyncio.gather(refund("cust_a", 0.05), refund("cust_a", 0.0), refund("cust_b", 0.0))
    assert order == ["cust_b", "cust_a", "cust_a"]
    assert len(locks) == 0  # no lock outlives its users
