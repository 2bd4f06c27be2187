"""client.metrics against a real server: the summary and timeseries as models, and the family's 422 as a typed
error listing the invalid fields."""

from collections.abc import Callable

import pytest
from aiohttp.test_utils import TestServer

from server.http.metrics import METRICS
from server.keys import TOKENS
from shared.client import OpsClient
from shared.errors import Forbidden, InvalidRequest


async def test_summary_and_timeseries_come_back_as_models(
    server: TestServer, make_client: Callable[..., OpsClient]
) -> None:
    await server.app[METRICS].sampler.sample_once()
    client = make_client(server)
    summary = await client.metrics.summary()
    assert summary.throughput_mps.metric == "md_throughput_mps" and summary.throughput_mps.unit == "msg/s"
    assert summary.coverage_ratio.value is not None and summary.coverage_ratio.stale is False
    series = await client.metrics.timeseries("md_throughput_mps", minutes=15, step_seconds=60)
    assert series.metric == "md_throughput_mps" and series.step_seconds == 60
    assert len(series.points) == 1 and series.points[0]["timestamp"].timestamp() % 60 == 0


async def test_a_bad_query_is_invalid_request_naming_each_field(
    server: TestServer, make_client: Callable[..., OpsClient]
) -> None:
    with pytest.raises(InvalidRequest) as raised:
        await make_client(server).metrics.timeseries("cpu", minutes=0, step_seconds=4000)
    assert raised.value.status == 422
    assert {e.loc for e in raised.value.errors} == {"query.metric", "query.minutes", "query.step_seconds"}


async def test_a_token_without_runbooks_read_is_forbidden(
    server: TestServer, make_client: Callable[..., OpsClient]
) -> None:
    token = await server.app[TOKENS].create("reader", "ops:read")
    with pytest.raises(Forbidden):
        await make_client(server, token).metrics.summary()
