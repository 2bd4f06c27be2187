"""What the webhook tests share: a receiver on loopback that records what it is sent and answers as scripted, the
Standard Webhooks verification written here independently of the server's signing code, and helpers to subscribe,
emit and wait."""

import asyncio
import base64
import hashlib
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from ops_constants import ADMIN_TOKEN

from server.http.webhooks import WEBHOOKS
from server.services.orchestration.events import EVENTS

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
LOOPBACK = "127.0.0.0/8"

Answer = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


def ok(status: int = 200, **headers: str) -> Answer:
    async def answer(request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, headers=headers, text="thanks")

    return answer


@dataclass
class Receiver:
    """Answers each request with the next scripted answer (200 once the script is done), recording it first."""

    server: TestServer | None = None
    script: list[Answer] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/hook"))

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(Received(request.path, dict(request.headers), await request.read()))
        answer = self.script.pop(0) if self.script else ok()
        return await answer(request)


async def start_receiver(aiohttp_server: Any, *answers: Answer) -> Receiver:
    receiver = Receiver(script=list(answers))
    app = web.Application()
    app.router.add_post("/{tail:.*}", receiver.handle)
    receiver.server = await aiohttp_server(app, host="127.0.0.1")
    return receiver


def verify(secret: str, headers: dict[str, str], body: bytes) -> list[bool]:
    """The spec's check, one answer per signature in the header: HMAC-SHA256 keyed by the base64 after `whsec_`,
    over `{webhook-id}.{webhook-timestamp}.{body}`, compared in constant time with each `v1,<base64>`."""
    key = base64.b64decode(secret.split("_", 1)[1])
    content = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
    results = []
    for entry in headers["webhook-signature"].split(" "):
        version, _, value = entry.partition(",")
        results.append(version == "v1" and hmac.compare_digest(value, expected))
    return results


async def subscribe(client: Any, url: str, events: list[str] | None = None, token: str = ADMIN_TOKEN) -> dict[str, Any]:
    response = await client.post(
        "/webhooks",
        json={"url": url, "events": events or ["trace.completed"]},
        headers={"Authorization": f"Bearer {token}"},
    )
    body = await response.json()
    assert response.status == 201, body
    return body["data"]


async def emit(app: web.Application, data: dict[str, Any] | None = None, *, event: str = "trace.completed") -> None:
    await app[EVENTS].emit(event, data or {"trace_id": "tr_1"}, test_mode=False)


def wake(app: web.Application) -> None:
    app[WEBHOOKS].worker.wake()


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until `check()` holds (the worker delivers in the background)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.01)


async def received(receiver: Receiver, count: int) -> None:
    await eventually(lambda: len(receiver.requests) == count)


async def deliveries(client: Any, webhook_id: str, **params: Any) -> dict[str, Any]:
    response = await client.get(f"/webhooks/{webhook_id}/deliveries", params=params, headers=AUTH)
    body = await response.json()
    assert response.status == 200, body
    return body["data"]


async def settled(client: Any, webhook_id: str, attempts: int) -> dict[str, Any]:
    """The latest delivery once it has `attempts` attempts on record."""
    latest: dict[str, Any] = {}

    async def poll() -> bool:
        nonlocal latest
        latest = (await deliveries(client, webhook_id))["items"][0]
        return len(latest["attempt_log"]) >= attempts

    deadline = asyncio.get_running_loop().time() + 5.0
    while not await poll():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no attempt {attempts}: {latest}")
        await asyncio.sleep(0.01)
    return latest
