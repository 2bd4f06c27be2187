"""The decision point's one interface, `await point.decide(context)`, in-process (`LocalDecisionPoint`) or over
HTTP (`RemoteDecisionPoint`, `OPS_POLICY_URL`): POST `<url>/v1/decide` with the context as JSON, the decision as
JSON back. A remote that cannot be reached, answers an error, answers something that is not a decision or takes
longer than the timeout raises `DecisionUnavailable`: the caller fails closed."""

from typing import Protocol

import httpx
from aiohttp import web
from pydantic import ValidationError

from server.services.policy.context import Decision, PolicyContext
from server.services.policy.engine import PolicyEngine

DECIDE_PATH = "/v1/decide"


class DecisionUnavailable(Exception):
    """No decision could be had: the action must not be taken."""


class DecisionPoint(Protocol):
    kind: str  # "in-process" or "remote"

    async def decide(self, context: PolicyContext) -> Decision: ...

    async def aclose(self) -> None: ...


class LocalDecisionPoint:
    kind = "in-process"

    def __init__(self, engine: PolicyEngine) -> None:
        self.engine = engine

    async def decide(self, context: PolicyContext) -> Decision:
        return self.engine.decide(context)

    async def aclose(self) -> None:
        return None


class RemoteDecisionPoint:
    kind = "remote"

    def __init__(self, url: str, *, timeout: float, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._http = httpx.AsyncClient(base_url=url.rstrip("/"), timeout=timeout, transport=transport)

    async def decide(self, context: PolicyContext) -> Decision:
        try:
            response = await self._http.post(DECIDE_PATH, content=context.model_dump_json())
        except httpx.HTTPError as exc:
            raise DecisionUnavailable(f"the decision point did not answer: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise DecisionUnavailable(f"the decision point answered {response.status_code}")
        try:
            return Decision.model_validate_json(response.content)
        except ValidationError as exc:
            raise DecisionUnavailable("the decision point's answer is not a decision") from exc

    @property
    def closed(self) -> bool:
        return self._http.is_closed

    async def aclose(self) -> None:
        await self._http.aclose()


def policy_app(engine: PolicyEngine) -> web.Application:
    """The engine served over HTTP: the remote end of `RemoteDecisionPoint` (a separate service, not a route of
    the ops server)."""

    async def decide(request: web.Request) -> web.Response:
        try:
            context = PolicyContext.model_validate_json(await request.read())
        except ValidationError as exc:
            return web.json_response({"detail": exc.errors(include_url=False, include_input=False)}, status=422)
        return web.Response(body=engine.decide(context).model_dump_json(), content_type="application/json")

    app = web.Application()
    app.router.add_post(DECIDE_PATH, decide)
    return app
