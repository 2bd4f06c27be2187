"""Fixtures of the shared-client tests: a real app on a real port, and a client factory pointed at it."""

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
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
