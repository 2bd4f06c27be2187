"""Fixtures of the server tests: settings on a temporary data dir, a manual clock, and a test client on the app.

`ops` wraps the test client with the few calls most tests make (authenticated GET, the two steps of a command),
so a test reads as the behaviour it proves rather than as HTTP plumbing."""

import contextlib
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient
from ops_constants import ADMIN_TOKEN, MakeSettings

from server.app import create_app
from server.clock import ManualClock
from server.keys import AUDIT, PLANT, SETTINGS, TOKENS
from server.plant.plant import Plant
from server.settings import Settings
from server.storage.database import Database

ADMIN_PRINCIPAL = "env:OPS_API_TOKEN"

StartApp = Callable[..., Awaitable[TestClient]]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


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


class Ops:
    """The calls most tests make, through the real HTTP stack."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.app = client.app

    async def get(self, path: str, token: str | None = ADMIN_TOKEN, **kwargs: Any) -> ClientResponse:
        headers = {**(bearer(token) if token else {}), **kwargs.pop("headers", {})}
        return await self.client.get(path, headers=headers, **kwargs)

    async def post(self, body: Any, token: str | None = ADMIN_TOKEN, **kwargs: Any) -> ClientResponse:
        headers = {**(bearer(token) if token else {}), **kwargs.pop("headers", {})}
        return await self.client.post("/ops/command", json=body, headers=headers, **kwargs)

    async def request(
        self, command: str, component: str, params: dict[str, Any] | None = None, token: str = ADMIN_TOKEN
    ) -> str:
        """Step one of a command; returns the confirm token."""
        response = await self.post(
            {"command": command, "component": component, "params": params or {}},
            token=token,
        )
        body = await response.json()
        assert response.status == 200, body
        assert body["requires_confirmation"] is True
        return body["confirm_token"]

    async def confirm(
        self,
        command: str,
        component: str,
        confirm_token: str,
        params: dict[str, Any] | None = None,
        token: str = ADMIN_TOKEN,
    ) -> ClientResponse:
        """Step two of a command; returns the response as it is."""
        return await self.post(
            {"command": command, "component": component, "params": params or {}, "confirm_token": confirm_token},
            token=token,
        )

    async def run(
        self, command: str, component: str, params: dict[str, Any] | None = None, token: str = ADMIN_TOKEN
    ) -> dict[str, Any]:
        """Both steps; asserts the command executed and returns its result."""
        confirm_token = await self.request(command, component, params, token=token)
        response = await self.confirm(command, component, confirm_token, params, token=token)
        body = await response.json()
        assert response.status == 200, body
        return body["result"]

    async def status(self) -> dict[str, Any]:
        response = await self.get("/ops/status")
        assert response.status == 200
        return (await response.json())["status"]

    async def component_state(self, name: str) -> str:
        status = await self.status()
        return next(c["state"] for c in status["components"] if c["name"] == name)

    async def create_token(self, name: str, scopes: str) -> str:
        return await self.app[TOKENS].create(name, scopes)

    def table(self, name: str) -> list[sqlite3.Row]:
        """A table's rows read from the database file by a separate connection: what another reader sees now."""
        with contextlib.closing(sqlite3.connect(self.app[SETTINGS].database_path)) as conn:
            conn.row_factory = sqlite3.Row
            return list(conn.execute(f"SELECT * FROM {name} ORDER BY rowid"))

    async def audit_rows(self) -> list[sqlite3.Row]:
        """Every audit row, once the queued ones are committed."""
        await self.app[AUDIT].flush()
        return self.table("audit_log")


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
