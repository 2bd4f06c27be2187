"""Who may scrape /api/v1/metrics: the metrics token, in `X-Metrics-Token` (contract 3) or as `Authorization:
Bearer <metrics token>` (what Prometheus' `authorization:` scrape setting sends; before 2.55 it can send no other
header). Refusals are 401 in the agent family's envelope, whose path this is."""

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

Ops = Any  # tests/server/conftest.py's Ops

SCRAPE_TOKEN = "scrape-secret"
PATH = "/api/v1/metrics"


@pytest.fixture
async def metrics_ops(ops_with: Callable[..., Awaitable[Ops]]) -> Ops:
    # Two failed token checks a minute per address: a scrape mistaken for one would soon be refused.
    return await ops_with(metrics_token=SCRAPE_TOKEN, rate_limit_failed_auth_per_minute=2)


async def _scrape(ops: Ops, headers: dict[str, str]) -> tuple[int, str, Any]:
    response = await ops.client.get(PATH, headers=headers)
    if response.content_type == "application/json":
        return response.status, "", await response.json()
    return response.status, await response.text(), None


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Metrics-Token": SCRAPE_TOKEN},
        {"Authorization": f"Bearer {SCRAPE_TOKEN}"},
        {"Authorization": f"bearer {SCRAPE_TOKEN}"},  # the scheme is case-insensitive
    ],
    ids=["x-metrics-token", "authorization-bearer", "lowercase-scheme"],
)
async def test_the_metrics_token_is_taken_in_either_header(metrics_ops: Ops, headers: dict[str, str]) -> None:
    status, text, _ = await _scrape(metrics_ops, headers)
    assert status == 200
    assert "md_throughput_mps" in text


@pytest.mark.parametrize(
    ("headers", "says"),
    [
        ({"X-Metrics-Token": "wrong"}, "invalid metrics token"),
        ({"Authorization": "Bearer wrong"}, "invalid metrics token"),
        ({"Authorization": "Bearer "}, "invalid metrics token"),
        ({"Authorization": f"Basic {SCRAPE_TOKEN}"}, "missing metrics token"),
        ({}, "missing metrics token"),
        # X-Metrics-Token speaks when both are sent: a right bearer does not mend a wrong header.
        ({"X-Metrics-Token": "wrong", "Authorization": f"Bearer {SCRAPE_TOKEN}"}, "invalid metrics token"),
    ],
    ids=["wrong-header", "wrong-bearer", "empty-bearer", "basic-scheme", "none", "wrong-header-right-bearer"],
)
async def test_a_wrong_or_missing_metrics_token_is_a_401_in_the_agent_envelope(
    metrics_ops: Ops, headers: dict[str, str], says: str
) -> None:
    status, text, body = await _scrape(metrics_ops, headers)
    assert status == 401
    assert "md_throughput_mps" not in text
    assert body["error"]["code"] == "OPS_AGENT_UNAUTHORIZED"
    assert says in body["error"]["message"]


async def test_the_api_token_is_no_metrics_token(metrics_ops: Ops) -> None:
    status, _, body = await _scrape(metrics_ops, {"Authorization": "Bearer admin-secret"})
    assert status == 401 and body["error"]["code"] == "OPS_AGENT_UNAUTHORIZED"


async def test_bearer_scrapes_are_not_failed_api_token_checks(metrics_ops: Ops) -> None:
    # The metrics token is no API token: looked up as one, every scrape would spend the address's budget of
    # failed token checks (two here) and the third would be refused with 429.
    for _ in range(5):
        status, _, _ = await _scrape(metrics_ops, {"Authorization": f"Bearer {SCRAPE_TOKEN}"})
        assert status == 200
    assert (await metrics_ops.get("/ops/whoami")).status == 200  # the address's budget is untouched
