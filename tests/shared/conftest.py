"""Fixtures of the shared-client tests: a real app on a real port, a canned server for the families that have no
routes yet, and a client factory pointed at either."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from ops_constants import ADMIN_TOKEN, MakeSettings

from server.app import create_app
from server.clock import ManualClock
from shared.client import OpsClient

StartServer = Callable[..., Awaitable[TestServer]]


@pytest.fixture
def start_server(aiohttp_server: Any, make_settings: MakeSettings, clock: ManualClock) -> StartServer:
    """`await start_server(**setting_overrides)`: the app served on 127.0.0.1 on a free port."""

    async def start(**overrides: Any) -> TestServer:
        return await aiohttp_server(create_app(make_settings(**overrides), clock=clock))

    return start


@pytest.fixture
async def server(start_server: StartServer) -> TestServer:
    return await start_server()


@pytest.fixture
async def make_client() -> AsyncIterator[Callable[..., OpsClient]]:
    """`make_client(server, token)`: an OpsClient on `server`, closed after the test."""
    clients: list[OpsClient] = []

    def make(server: TestServer, token: str | None = ADMIN_TOKEN, **kwargs: Any) -> OpsClient:
        client = OpsClient(str(server.make_url("")), token, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
def admin(make_client: Callable[..., OpsClient], server: TestServer) -> OpsClient:
    return make_client(server)


@dataclass
class Canned:
    """The answer a canned server gives to every request, and the requests it saw."""

    status: int = 200
    json: Any = None
    text: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    seen: list[web.Request] = field(default_factory=list)
    peers: list[tuple[str, int]] = field(default_factory=list)

    def answer(self, status: int, json: Any = None, *, text: str | None = None, **headers: str) -> None:
        self.status, self.json, self.text = status, json, text
        self.headers = {name.replace("_", "-"): value for name, value in headers.items()}


@pytest.fixture
async def canned(aiohttp_server: Any) -> tuple[Canned, TestServer]:
    """A tiny aiohttp server on a real port answering every path with `Canned`'s body: the envelopes of families
    that have no routes yet, and answers the real server does not give on purpose (a 500, a proxy's page)."""
    state = Canned()

    async def handler(request: web.Request) -> web.StreamResponse:
        state.seen.append(request)
        peer = request.transport.get_extra_info("peername") if request.transport else None
        state.peers.append(tuple(peer) if peer else ("", 0))
        if state.delay:
            await asyncio.sleep(state.delay)
        if state.text is not None:
            return web.Response(status=state.status, text=state.text, headers=state.headers)
        return web.json_response(state.json, status=state.status, headers=state.headers)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    return state, await aiohttp_server(app)
