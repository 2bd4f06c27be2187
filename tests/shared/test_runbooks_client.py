"""`client.runbooks`: every method against a real server running test scripts, and the family's errors read into
the typed errors."""

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from runbooks_support import write_runbooks

from shared.client import OpsClient
from shared.errors import Conflict, Forbidden, InvalidRequest, NotFound, ServerError, Unauthorized
from shared.runbooks import ExecuteResponse

HEALTH = """
    print("INFO measuring")
    print('HEALTH {"coverage_ratio": 0.999, "generated_at": "2026-01-01T09:00:00+00:00"}')
"""
SLEEPER = """
    import time
    print("INFO sleeping", flush=True)
    time.sleep(30)
"""


@pytest.fixture
async def server(start_server: Any, tmp_path: Path) -> TestServer:
    directory = write_runbooks(
        tmp_path / "runbooks", {"health_check": (HEALTH, 10), "failover": (SLEEPER, 30), "start": ("", 10)}
    )
    (directory / "start.py").unlink()  # the manifest names a script that is not there
    return await start_server(runbooks_dir=directory, runbooks_kill_grace_seconds=0.5)


async def test_execute_status_history_and_run(admin: OpsClient) -> None:
    executed = await admin.runbooks.execute("health_check", request_id="client-1", window="day", reason="check")

    assert isinstance(executed, ExecuteResponse)
    assert executed.runbook.status == "success" and executed.runbook.exit_code == 0
    assert executed.health is not None and executed.health.coverage_ratio == 0.999
    again = await admin.runbooks.execute("health_check", request_id="client-1", window="day", reason="check")
    assert again == executed

    status = await admin.runbooks.status()
    assert status.last_runbook is not None and status.last_runbook.request_id == "client-1"
    assert status.health_by_request["client-1"].coverage_ratio == 0.999
    assert status.last_exit_codes == {"health_check": 0} and status.active_window == "day"

    page = await admin.runbooks.history(limit=1)
    assert [run.request_id for run in page.items] == ["client-1"] and page.next_cursor is None

    run = await admin.runbooks.run("client-1", offset=1)
    assert [line.message for line in run.runbook.logs] == ["measuring"] and run.next_offset == 2


async def test_abort_of_a_running_runbook(admin: OpsClient) -> None:
    execution = asyncio.create_task(admin.runbooks.execute("failover", request_id="client-abort"))
    while True:
        try:
            if (await admin.runbooks.run("client-abort")).runbook.logs[1:]:
                break
        except NotFound:
            pass
        await asyncio.sleep(0.05)

    aborted = await admin.runbooks.abort("client-abort")

    assert aborted.status == "aborted" and aborted.abort_requested
    assert (await execution).runbook.status == "aborted"


async def test_the_familys_errors_are_typed(
    admin: OpsClient, make_client: Callable[..., OpsClient], server: TestServer
) -> None:
    with pytest.raises(ServerError) as broken:
        await admin.runbooks.execute("start", request_id="client-broken")
    assert broken.value.status == 500 and broken.value.family == "runbooks"

    with pytest.raises(InvalidRequest) as reused:
        await admin.runbooks.execute("health_check", request_id="client-broken")
    assert reused.value.status == 422 and reused.value.errors[0].loc == "body.request_id"

    with pytest.raises(NotFound):
        await admin.runbooks.run("no-such-run")
    with pytest.raises(Conflict):
        await admin.runbooks.abort("client-broken")
    with pytest.raises(Forbidden):
        await admin.runbooks.feed_failover()
    with pytest.raises(Unauthorized):
        await make_client(server, token=None).runbooks.status()


async def test_invalid_fields_are_refused_before_a_round_trip(admin: OpsClient) -> None:
    with pytest.raises(InvalidRequest) as invalid:
        await admin.runbooks.execute("reboot", request_id="has space")  # type: ignore[arg-type]

    assert invalid.value.status is None
    assert sorted(error.loc for error in invalid.value.errors) == ["command", "request_id"]
    with pytest.raises(InvalidRequest):
        await admin.runbooks.history(limit=0)


async def test_feed_health(admin: OpsClient) -> None:
    health = await admin.runbooks.feed_health()

    assert health.active_profile == "primary" and health.healthy is True


async def test_commands_lists_the_manifest_in_the_contracts_order(admin: OpsClient) -> None:
    listed = await admin.runbooks.commands()

    assert [(c.command, c.description, c.timeout_seconds) for c in listed.commands] == [
        ("start", "test start", 10),
        ("failover", "test failover", 30),
        ("health_check", "test health_check", 10),
    ]
