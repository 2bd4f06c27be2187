"""What the server tests share besides fixtures: the `Ops` wrapper of the test client, `bearer()`, the `StartApp`
type and `ExclusiveLock` (another connection holding the database's write lock). A module of its own, not
conftest.py, so test modules import it by a name no other package shares."""

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from ops_constants import ADMIN_TOKEN

from server.keys import AUDIT, SETTINGS, TOKENS

ADMIN_PRINCIPAL = "env:OPS_API_TOKEN"

StartApp = Callable[..., Awaitable[TestClient]]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


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


class ExclusiveLock:
    """Another connection to the server's database holding `BEGIN EXCLUSIVE`, on a thread of its own, until
    released."""

    def __init__(self, path: Path | str) -> None:
        self._path = path
        self._held, self._release = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._hold, daemon=True)

    def _hold(self) -> None:
        conn = sqlite3.connect(self._path, isolation_level=None)
        try:
            conn.execute("BEGIN EXCLUSIVE")
            self._held.set()
            self._release.wait(30)
            conn.execute("ROLLBACK")
        finally:
            conn.close()

    async def __aenter__(self) -> "ExclusiveLock":
        self._thread.start()
        assert await asyncio.to_thread(self._held.wait, 5), "could not take the lock"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._release.set()
        await asyncio.to_thread(self._thread.join, 5)
