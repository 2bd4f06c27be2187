"""What the runbooks tests share: a runbooks dir of tiny scripts written for a test, and calls of the family's
endpoints through the real HTTP stack."""

import textwrap
from pathlib import Path
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from ops_constants import ADMIN_TOKEN

EXECUTE = "/api/ops/runbooks/execute"


def write_runbooks(directory: Path, scripts: dict[str, tuple[str, float]]) -> Path:
    """A runbooks dir with one script per command: `{"start": (python source, timeout seconds)}`."""
    directory.mkdir(parents=True, exist_ok=True)
    manifest = []
    for command, (source, timeout) in scripts.items():
        script = directory / f"{command}.py"
        script.write_text(textwrap.dedent(source).lstrip(), encoding="utf-8")
        manifest.append(
            f'[commands.{command}]\nscript = "{script.name}"\ntimeout_seconds = {timeout}\n'
            f'description = "test {command}"\nscopes = ["runbooks:read"]\n'
        )
    (directory / "manifest.toml").write_text("\n".join(manifest), encoding="utf-8")
    return directory


class Runbooks:
    """The runbooks family's endpoints, called as a client would."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.app = client.app

    @staticmethod
    def _headers(token: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"} if token else {}

    async def execute_raw(self, body: Any, token: str | None = ADMIN_TOKEN) -> ClientResponse:
        return await self.client.post(EXECUTE, json=body, headers=self._headers(token))

    async def execute(self, token: str | None = ADMIN_TOKEN, **body: Any) -> dict[str, Any]:
        """Run a command; asserts it answered 200 and returns the answer."""
        response = await self.execute_raw(body, token)
        answer = await response.json()
        assert response.status == 200, answer
        return answer

    async def get(self, path: str, token: str | None = ADMIN_TOKEN, **params: Any) -> ClientResponse:
        return await self.client.get(path, headers=self._headers(token), params=params)

    async def post(self, path: str, token: str | None = ADMIN_TOKEN) -> ClientResponse:
        return await self.client.post(path, headers=self._headers(token))
