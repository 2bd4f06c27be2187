"""What the ops agent tests share: calls of the family's endpoints through the real HTTP stack, deposits made to
show one pattern, waiting for an investigation to end, and counting (or holding) tool calls."""

import asyncio
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient
from ops_constants import ADMIN_TOKEN

from server.clock import ManualClock
from server.http.agent import AGENT_ENGINE
from server.keys import CLOCK, DB
from shared.agent import ToolName

BASE = "/api/v1/ops-agent"
FINAL = {"completed", "failed", "interrupted"}


def deposit(**changes: Any) -> dict[str, Any]:
    """A body for POST /transactions: an ordinary deposit unless `changes` say otherwise."""
    body: dict[str, Any] = {
        "amount": "250.00",
        "currency": "EUR",
        "merchant": "venue-web",
        "channel": "card_web",
        "customer_id": "cust-test",
        "device_id": "dev-test",
        "ip_country": "DE",
        "card_country": "DE",
    }
    body.update(changes)
    return body


class Agent:
    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.app: web.Application = client.app

    async def call(self, method: str, path: str, *, token: str | None = ADMIN_TOKEN, **kwargs: Any) -> ClientResponse:
        headers = {**({"Authorization": f"Bearer {token}"} if token else {}), **kwargs.pop("headers", {})}
        return await self.client.request(method, path, headers=headers, **kwargs)

    async def ok(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        response = await self.call(method, path, **kwargs)
        body = await response.json()
        assert response.status == status, body
        return body

    async def add(self, **changes: Any) -> dict[str, Any]:
        return await self.ok("POST", f"{BASE}/transactions", 201, json=deposit(**changes))

    async def run(self, transaction_id: str, mode: str = "quick") -> dict[str, Any]:
        return await self.ok(
            "POST", f"{BASE}/investigations/run", 202, json={"mode": mode, "transaction_id": transaction_id}
        )

    async def detail(self, investigation_id: str) -> dict[str, Any]:
        return await self.ok("GET", f"{BASE}/investigations/{investigation_id}")

    async def wait(self, investigation_id: str, timeout: float = 10.0) -> dict[str, Any]:
        """The investigation's detail once it has ended."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            found = await self.detail(investigation_id)
            if found["status"] in FINAL:
                return found
            assert asyncio.get_running_loop().time() < deadline, f"still {found['status']}"
            await asyncio.sleep(0.01)

    async def investigate(self, transaction_id: str, mode: str = "quick") -> dict[str, Any]:
        started = await self.run(transaction_id, mode)
        return await self.wait(started["investigation_id"])

    def count_tool_calls(self) -> Counter[str]:
        """Count every tool call of the app's engine from now on."""
        calls: Counter[str] = Counter()
        registry = self.app[AGENT_ENGINE].tools.registry
        for name, tool in list(registry.items()):

            async def counted(given: dict[str, Any], name: str = name, tool: Any = tool) -> dict[str, Any]:
                calls[name] += 1
                return await tool(given)

            registry[name] = counted
        return calls

    def hold_tool(self, name: ToolName) -> tuple[asyncio.Event, asyncio.Event]:
        """Make tool `name` wait: returns (reached, release) events."""
        reached, release = asyncio.Event(), asyncio.Event()
        registry = self.app[AGENT_ENGINE].tools.registry
        tool = registry[name]

        async def held(given: dict[str, Any]) -> dict[str, Any]:
            reached.set()
            await release.wait()
            return await tool(given)

        registry[name] = held
        return reached, release

    @property
    def now(self) -> datetime:
        clock = self.app[CLOCK]
        assert isinstance(clock, ManualClock)
        return clock.now()

    async def shared_device(self, device: str, customers: int) -> list[dict[str, Any]]:
        """Deposits by `customers` different customers from one device, minutes apart, ending now."""
        return [
            await self.add(
                customer_id=f"mule-{n}",
                device_id=device,
                occurred_at=(self.now - timedelta(minutes=customers - n)).isoformat(),
            )
            for n in range(customers)
        ]

    async def add_recommendations(self, severities: list[str], *, investigation_id: str = "inv-x") -> list[str]:
        """Worklist rows straight into the database (as investigations make them); their ids in order."""
        rank = {"low": 1, "medium": 2, "high": 3, "critical": 4}
        ids = []
        base = len(await self.app[DB].fetchall("SELECT 1 FROM agent_recommendations"))
        for n, severity in enumerate(severities):
            rid = f"rec-{base + n:06d}"
            await self.app[DB].execute(
                "INSERT INTO agent_recommendations (recommendation_id, investigation_id, transaction_id, severity, "
                "severity_rank, action, rationale, created_at) VALUES (?, ?, ?, ?, ?, 'review', 'why', ?)",
                # One transaction per row: one transaction may hold only one open 'review' (migration 0021).
                (rid, investigation_id, f"txn-{rid}", severity, rank[severity], self.now.isoformat()),
            )
            ids.append(rid)
        return ids
