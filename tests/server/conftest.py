"""Fixtures of the server tests: settings on a temporary data dir, a manual clock, and a test client on the app.

`ops` wraps the test client with the few calls most tests make (authenticated GET, the two steps of a command),
so a test reads as the behaviour it proves rather than as HTTP plumbing."""

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from ops_constants import ADMIN_TOKEN, MakeSettings
from server_support import Ops, StartApp

from server.app import create_app
from server.clock import ManualClock
from server.keys import PLANT
from server.plant.plant import Plant
from server.settings import Settings
from server.storage.database import Database


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated database in `tmp_path`, for the storage tests that need no app."""
    database = Database(tmp_path / "ops.db")
    await database.open()
    await database.migrate()
    yield database
    await database.close()


@pytest.fixture
def settings(make_settings: MakeSettings) -> Settings:
    return make_settings()


@pytest.fixture
def start_app(aiohttp_client: Any, clock: ManualClock) -> StartApp:
    """Start an app (started means its storage and services are up) and return a test client on it."""

    async def start(settings: Settings, *, plant: Plant | None = None) -> TestClient:
        return await aiohttp_client(create_app(settings, clock=clock, plant=plant))

    return start


@pytest.fixture
async def client(start_app: StartApp, settings: Settings) -> TestClient:
    return await start_app(settings)


@pytest.fixture
def app(client: TestClient) -> web.Application:
    return client.app


@pytest.fixture
def plant(app: web.Application) -> Plant:
    return app[PLANT]


@pytest.fixture
def ops(client: TestClient) -> Ops:
    return Ops(client)


@pytest.fixture
def ops_with(start_app: StartApp, make_settings: MakeSettings) -> Callable[..., Awaitable[Ops]]:
    """`await ops_with(max_body_bytes=1024)`: an app with those settings (and optionally a given plant),
    wrapped like `ops`."""

    async def start(*, plant: Plant | None = None, **overrides: Any) -> Ops:
        return Ops(await start_app(make_settings(**overrides), plant=plant))

    return start


@pytest.fixture
def admin_token() -> str:
    return ADMIN_TOKEN


@pytest.fixture
async def reader_token(ops: Ops) -> str:
    """A token named 'reader' with ops:read only."""
    return await ops.create_token("reader", "ops:read")


@pytest.fixture
async def operator_token(ops: Ops) -> str:
    """A token named 'operator' with ops:read and ops:command."""
    return await ops.create_token("operator", "ops:read,ops:command")


@pytest.fixture
def start_with_routes(aiohttp_client: Any, clock: ManualClock, make_settings: MakeSettings) -> StartApp:
    """`await start_with_routes(routes, ..., **overrides)`: an app with test-only `FamilyRoutes` added before it
    starts (its router freezes then; the start-up check holds them to the same rules), and a client on it."""

    async def start(*tables: Any, **overrides: Any) -> TestClient:  # server.http.routes.FamilyRoutes
        app = create_app(make_settings(**overrides), clock=clock)
        for table in tables:
            table.add_to(app)
        return await aiohttp_client(app)

    return start


@pytest.fixture
def start_app_failing(clock: ManualClock) -> Callable[[web.Application], Awaitable[BaseException]]:
    """`await start_app_failing(app)`: start `app`, whose start-up must fail, and return the error, once what had
    started is cleaned up as `ops-server serve` (aiohttp's run_app) cleans it up."""

    async def start(app: web.Application) -> BaseException:
        runner = web.AppRunner(app)
        try:
            await runner.setup()
        except Exception as exc:
            await runner.cleanup()
            return exc
        await runner.cleanup()
        raise AssertionError("the app started")

    return start
