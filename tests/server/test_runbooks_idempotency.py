"""request_id as an idempotency key (IETF Idempotency-Key semantics) and one runbook at a time per environment:
the same id and body answer the stored result byte for byte and never run twice, even with 20 racing; a retry
while the first runs is 409; the same id with another body is 422; another run while one runs is 409 naming it."""

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from runbooks_support import EXECUTE, Runbooks, write_runbooks

StartRunbooks = Callable[..., Awaitable[Runbooks]]

# Appends a line per run to the file named by its reason, then takes `RUNBOOK_WINDOW` seconds (0 by default).
COUNTED = """
    import os, time
    with open(os.environ["RUNBOOK_REASON"], "a") as out:
        out.write("ran\\n")
    print("INFO counted", flush=True)
    time.sleep(float(os.environ.get("RUNBOOK_WINDOW", "0").replace("s", ".")))
"""


@pytest.fixture
async def runbooks(ops_with: Any, tmp_path: Path) -> Runbooks:
    directory = write_runbooks(tmp_path / "runbooks", {"start": (COUNTED, 20), "stop": (COUNTED, 20)})
    ops = await ops_with(runbooks_dir=directory)
    return Runbooks(ops.client)


def _runs(counter: Path) -> int:
    return len(counter.read_text().splitlines()) if counter.exists() else 0


async def _wait_started(counter: Path) -> None:
    while _runs(counter) == 0:
        await asyncio.sleep(0.02)


async def test_the_same_request_id_and_body_answers_the_stored_result_without_running_again(
    runbooks: Runbooks, tmp_path: Path
) -> None:
    counter = tmp_path / "count"
    body = {"command": "start", "request_id": "once-1", "reason": str(counter), "mode": "live"}

    first = await runbooks.execute_raw(body)
    # The same request, its fields in another order and a default spelled out: the same body.
    second = await runbooks.execute_raw({"mode": "live", "reason": str(counter), "dry_run": False, **body})

    assert first.status == second.status == 200
    assert await second.read() == await first.read()
    assert _runs(counter) == 1


async def test_twenty_racing_requests_with_one_id_run_it_once(runbooks: Runbooks, tmp_path: Path) -> None:
    counter = tmp_path / "count"
    body = {"command": "start", "request_id": "race-1", "reason": str(counter), "window": "0s3"}

    responses = await asyncio.gather(*(runbooks.execute_raw(body) for _ in range(20)))
    answers = [(r.status, await r.read()) for r in responses]

    assert _runs(counter) == 1
    assert {status for status, _ in answers} <= {200, 409}
    executed = [body for status, body in answers if status == 200]
    assert executed and len(set(executed)) == 1
    # Once it ended, every retry gets exactly the stored answer.
    later = await runbooks.execute_raw(body)
    assert later.status == 200 and await later.read() == executed[0]
    assert _runs(counter) == 1


async def test_a_retry_while_the_first_still_runs_is_409(runbooks: Runbooks, tmp_path: Path) -> None:
    counter = tmp_path / "count"
    body = {"command": "start", "request_id": "slow-1", "reason": str(counter), "window": "1s0"}
    first = asyncio.create_task(runbooks.execute_raw(body))
    await _wait_started(counter)

    retry = await runbooks.execute_raw(body)

    assert retry.status == 409
    assert "still running" in (await retry.json())["detail"]
    assert (await first).status == 200
    assert _runs(counter) == 1


async def test_the_same_request_id_with_another_body_is_422(runbooks: Runbooks, tmp_path: Path) -> None:
    counter = tmp_path / "count"
    await runbooks.execute(command="start", request_id="reused-1", reason=str(counter))

    response = await runbooks.execute_raw({"command": "stop", "request_id": "reused-1", "reason": str(counter)})

    assert response.status == 422
    [error] = (await response.json())["detail"]
    assert error["loc"] == ["body", "request_id"] and error["type"] == "idempotency_key_reused"
    assert _runs(counter) == 1


async def test_a_second_runbook_while_one_runs_is_409_naming_the_running_one(
    runbooks: Runbooks, tmp_path: Path
) -> None:
    counter = tmp_path / "count"
    first = asyncio.create_task(
        runbooks.execute(command="start", request_id="holder-1", reason=str(counter), window="1s0")
    )
    await _wait_started(counter)

    response = await runbooks.execute_raw({"command": "stop", "request_id": "other-1", "reason": str(counter)})

    assert response.status == 409
    body = await response.json()
    assert "'start'" in body["detail"] and "holder-1" in body["detail"]
    assert body["running"] == {"request_id": "holder-1", "command": "start"}
    await first
    # Once it ended the environment is free again, and the refused id was never taken.
    again = await runbooks.execute_raw({"command": "stop", "request_id": "other-1", "reason": str(counter)})
    assert again.status == 200
    assert _runs(counter) == 2


async def test_a_run_without_request_id_gets_one_from_the_server(runbooks: Runbooks, tmp_path: Path) -> None:
    counter = tmp_path / "count"

    first = await runbooks.execute(command="start", reason=str(counter))
    second = await runbooks.execute(command="start", reason=str(counter))

    assert first["runbook"]["request_id"] != second["runbook"]["request_id"]
    assert _runs(counter) == 2


async def test_the_idempotency_key_lives_in_storage_across_a_restart(
    ops_with: Any, tmp_path: Path, runbooks: Runbooks
) -> None:
    counter = tmp_path / "count"
    body = {"command": "start", "request_id": "durable-1", "reason": str(counter)}
    first = await (await runbooks.execute_raw(body)).read()
    await runbooks.client.close()

    restarted = Runbooks((await ops_with(runbooks_dir=tmp_path / "runbooks")).client)
    again = await restarted.client.post(EXECUTE, json=body, headers=restarted._headers("admin-secret"))

    assert again.status == 200 and await again.read() == first
    assert _runs(counter) == 1
