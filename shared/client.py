"""OpsClient: the typed async HTTP client of the ops API, one sub-client per API family over one transport
(`client.control.status()`). The console, scripts and tests use it; nothing else builds URLs."""

from collections.abc import Callable
from typing import Self

import httpx

from shared.clients.agent import AgentClient
from shared.clients.control import ControlClient
from shared.clients.live import LiveClient
from shared.clients.metrics import MetricsClient
from shared.clients.orchestration import OrchestrationClient
from shared.clients.runbooks import RunbooksClient
from shared.clients.transport import Transport, new_request_id


class OpsClient:
    """Every call sends an `X-Request-ID` so client and server logs correlate; every family shares one connection
    pool, token and timeout."""

    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        timeout: float = 10.0,
        request_ids: Callable[[], str] = new_request_id,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._transport = Transport(base_url, token, timeout=timeout, request_ids=request_ids, transport=transport)
        self.base_url = self._transport.base_url
        self.control = ControlClient(self._transport)
        self.metrics = MetricsClient(self._transport)
        self.runbooks = RunbooksClient(self._transport)
        self.live = LiveClient(self._transport)
        self.agent = AgentClient(self._transport)
        self.orchestration = OrchestrationClient(self._transport)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._transport.aclose()
