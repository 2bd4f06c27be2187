"""The family's start-up and shut-down: a remote decision point's HTTP client is closed when the server stops and
when start-up fails after it was opened."""

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from ops_constants import MakeSettings

from server.app import create_app
from server.http import live
from server.services.policy.point import RemoteDecisionPoint
from server.services.refunds.worker import RefundWorker

POLICY_URL = "http://127.0.0.1:9"  # never asked: nothing is processed


@pytest.fixture
def points(monkeypatch: pytest.MonkeyPatch) -> list[RemoteDecisionPoint]:
    """Every remote decision point the family opens."""
    opened: list[RemoteDecisionPoint] = []

    class Recorded(RemoteDecisionPoint):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            opened.append(self)

    monkeypatch.setattr(live, "RemoteDecisionPoint", Recorded)
    return opened


async def test_the_remote_points_client_closes_with_the_server(
    points: list[RemoteDecisionPoint], make_settings: MakeSettings
) -> None:
    runner = web.AppRunner(create_app(make_settings(policy_url=POLICY_URL)))
    await runner.setup()
    try:
        assert [point.closed for point in points] == [False]
    finally:
        await runner.cleanup()
    assert [point.closed for point in points] == [True]


async def test_the_remote_points_client_closes_when_start_up_fails_after_it(
    points: list[RemoteDecisionPoint],
    make_settings: MakeSettings,
    monkeypatch: pytest.MonkeyPatch,
    start_app_failing: Callable[[web.Application], Awaitable[BaseException]],
) -> None:
    async def broken(self: RefundWorker) -> int:
        raise RuntimeError("the ledger cannot be read")

    monkeypatch.setattr(RefundWorker, "recover", broken)
    error = await start_app_failing(create_app(make_settings(policy_url=POLICY_URL)))
    assert "the ledger cannot be read" in str(error)
    assert [point.closed for point in points] == [True]
