"""POST /api/ops/runbooks/execute with test scripts: logs and levels, exit codes and statuses, the timeout that
kills a whole process group even when it ignores SIGTERM, abort, broken scripts, and what a script may see."""

import asyncio
import contextlib
import json
import os
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from runbooks_support import Runbooks, write_runbooks

from server.http.metrics import METRICS
from server.keys import AUDIT, SETTINGS
from server.services.tokens import hash_token

StartRunbooks = Callable[..., Awaitable[Runbooks]]

CHATTY = """
    import sys
    print("INFO starting")
    print("WARN: disk is filling")
    print("ERROR something odd")
    print("no prefix at all")
    print("to stderr", file=sys.stderr)
    print('HEALTH {"coverage_ratio": 0.5, "generated_at": "2026-01-01T09:00:00+00:00"}')
    sys.exit(0)
"""

FAILS = """
    print("ERROR giving up")
    raise SystemExit(3)
"""

# Ignores SIGTERM, and so does the child it starts in its process group; both would sleep for a minute.
STUBBORN = """
    import os, signal, subprocess, sys, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    child = subprocess.Popen([sys.executable, "-c",
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"])
    with open(os.environ["RUNBOOK_REASON"], "w") as out:
        out.write(f"{os.getpid()} {child.pid}")
    print("INFO sleeping", flush=True)
    time.sleep(60)
"""

ENV_DUMP = """
    import json, os, sys
    print("ENV " + json.dumps(dict(os.environ)))
    print("ARGS " + json.dumps(sys.argv[1:]))
"""


@pytest.fixture
def start_runbooks(ops_with: Any, tmp_path: Path) -> StartRunbooks:
    async def start(scripts: dict[str, tuple[str, float]], **overrides: Any) -> Runbooks:
        directory = write_runbooks(tmp_path / "runbooks", scripts)
        overrides.setdefault("runbooks_kill_grace_seconds", 0.5)
        ops = await ops_with(runbooks_dir=directory, **overrides)
        return Runbooks(ops.client)

    return start


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (dead, not yet reaped by its parent) counts as ended.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(")")[-1].split()[0] != "Z"


async def test_output_lines_become_logs_with_levels_and_stderr_is_error(start_runbooks: StartRunbooks) -> None:
    runbooks = await start_runbooks({"health_check": (CHATTY, 10)})

    answer = await runbooks.execute(command="health_check", request_id="chatty-1")

    run = answer["runbook"]
    assert run["status"] == "success" and run["exit_code"] == 0
    assert run["request_id"] == "chatty-1" and run["command"] == "health_check"
    script_lines = [(line["level"], line["message"]) for line in run["logs"][1:]]
    assert ("INFO", "starting") in script_lines
    assert ("WARN", "disk is filling") in script_lines
    assert ("ERROR", "something odd") in script_lines
    assert ("INFO", "no prefix at all") in script_lines
    assert ("ERROR", "to stderr") in script_lines
    assert all(line["at"] for line in run["logs"])
    assert run["started_at"].endswith("+00:00") and run["finished_at"].endswith("+00:00")
    # The HEALTH line is the run's health report, not a log line.
    assert answer["health"]["coverage_ratio"] == 0.5
    assert not any("HEALTH" in message for _, message in script_lines)


async def test_a_nonzero_exit_is_a_failed_run_with_its_exit_code(start_runbooks: StartRunbooks) -> None:
    runbooks = await start_runbooks({"restart": (FAILS, 10)})

    run = (await runbooks.execute(command="restart"))["runbook"]

    assert run["status"] == "failed" and run["exit_code"] == 3
    assert {"level": "ERROR", "message": "giving up"}.items() <= run["logs"][-1].items()


async def test_a_script_past_its_timeout_is_killed_with_its_group_even_ignoring_sigterm(
    start_runbooks: StartRunbooks, tmp_path: Path
) -> None:
    # Long enough for a loaded machine to start the script and let it write its pids before the timeout.
    runbooks = await start_runbooks({"stop": (STUBBORN, 3.0)})
    pids_file = tmp_path / "pids"

    loop = asyncio.get_running_loop()
    began = loop.time()
    run = (await runbooks.execute(command="stop", reason=str(pids_file)))["runbook"]
    took = loop.time() - began

    assert run["status"] == "timeout"
    assert run["exit_code"] == 128 + 9  # SIGKILL, after SIGTERM was ignored through the grace period
    assert took < 3.0 + 0.5 + 3.0
    leader, child = (int(pid) for pid in pids_file.read_text().split())
    await asyncio.sleep(0.2)
    assert not _alive(leader)
    assert not _alive(child), "the script's child outlived the timeout"
    assert run["logs"][-1]["level"] == "ERROR" and "timed out" in run["logs"][-1]["message"]


async def test_abort_stops_a_running_script(start_runbooks: StartRunbooks, tmp_path: Path) -> None:
    runbooks = await start_runbooks({"failover": (STUBBORN, 30.0)})
    pids_file = tmp_path / "pids"
    execution = asyncio.create_task(runbooks.execute(command="failover", request_id="to-abort", reason=str(pids_file)))
    while not pids_file.exists() or not pids_file.read_text():
        await asyncio.sleep(0.05)

    response = await runbooks.post("/api/ops/runbooks/to-abort/abort")
    answer = await response.json()

    assert response.status == 200, answer
    assert answer == {"request_id": "to-abort", "status": "aborted", "abort_requested": True}
    run = (await execution)["runbook"]
    assert run["status"] == "aborted"
    assert not _alive(int(pids_file.read_text().split()[1]))
    again = await runbooks.post("/api/ops/runbooks/to-abort/abort")
    assert again.status == 409 and "ended already" in (await again.json())["detail"]
    missing = await runbooks.post("/api/ops/runbooks/nope/abort")
    assert missing.status == 404 and set(await missing.json()) == {"detail"}


async def test_a_missing_script_is_500_with_a_detail_and_recorded_as_failed(start_runbooks: StartRunbooks) -> None:
    runbooks = await start_runbooks({"drill": ("print('hi')", 10)})
    (runbooks.app[SETTINGS].runbooks_dir / "drill.py").unlink()

    response = await runbooks.execute_raw({"command": "drill", "request_id": "broken-1"})
    body = await response.json()

    assert response.status == 500
    assert set(body) == {"detail"} and "not found" in body["detail"]
    state = await (await runbooks.get("/api/ops/runbooks/broken-1")).json()
    assert state["runbook"]["status"] == "failed" and state["runbook"]["exit_code"] is None
    assert state["runbook"]["logs"][-1]["level"] == "ERROR"
    # Replayed as it was answered.
    again = await runbooks.execute_raw({"command": "drill", "request_id": "broken-1"})
    assert again.status == 500 and await again.read() == await response.read()
    # Counted once as a failed execution.
    exposition = runbooks.app[METRICS].exposition().decode()
    assert 'ops_runbook_executions_total{command="drill",status="failed"} 1.0' in exposition


async def test_a_command_the_manifest_lacks_is_500_and_recorded(start_runbooks: StartRunbooks) -> None:
    runbooks = await start_runbooks({"start": ("print('hi')", 10)})

    response = await runbooks.execute_raw({"command": "failback", "request_id": "unlisted"})

    assert response.status == 500
    assert "no entry for 'failback'" in (await response.json())["detail"]
    state = await (await runbooks.get("/api/ops/runbooks/unlisted")).json()
    assert state["runbook"]["status"] == "failed"


async def test_a_script_gets_no_server_secrets_only_its_own_token(
    start_runbooks: StartRunbooks, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "host-secret")
    monkeypatch.setenv("OPS_METRICS_TOKEN", "metrics-secret")
    runbooks = await start_runbooks({"start": (ENV_DUMP, 10)}, audit_key="audit-secret")

    run = (await runbooks.execute(command="start", mode="live", window="day", reason="why not", dry_run=True))[
        "runbook"
    ]

    env = json.loads(next(line["message"][4:] for line in run["logs"] if line["message"].startswith("ENV ")))
    args = json.loads(next(line["message"][5:] for line in run["logs"] if line["message"].startswith("ARGS ")))
    assert {name for name in env if name.startswith("OPS_")} == {"OPS_RUNBOOK_URL", "OPS_RUNBOOK_TOKEN"}
    values = set(env.values())
    assert not values & {"admin-secret", "host-secret", "metrics-secret", "audit-secret"}
    assert "AWS_SECRET_ACCESS_KEY" not in env
    assert env["RUNBOOK_COMMAND"] == "start" and env["RUNBOOK_WINDOW"] == "day" and env["RUNBOOK_DRY_RUN"] == "1"
    assert args[:2] == ["--command", "start"] and "--dry-run" in args and args[-3:-1] == ["--reason", "why not"]
    # The token is stored only as its digest, and revoked once the run ended.
    token = env["OPS_RUNBOOK_TOKEN"]
    rows = [row for row in _tokens(runbooks) if row["token_hash"] == hash_token(token)]
    assert len(rows) == 1 and rows[0]["revoked_at"] is not None
    assert token not in json.dumps([dict(row) for row in _tokens(runbooks)])
    after = await runbooks.get("/api/ops/status", token=token)
    assert after.status == 401


async def test_every_execution_is_audited(start_runbooks: StartRunbooks) -> None:
    runbooks = await start_runbooks({"restart": (FAILS, 10)})

    await runbooks.execute(command="restart", request_id="audited-1", reason="because")

    await runbooks.app[AUDIT].flush()
    rows = _rows(runbooks, "audit_log")
    actions = [(row["action"], row["target"], row["outcome"]) for row in rows]
    assert ("runbook.run", "restart", "executing") in actions
    assert ("runbook.execute", "restart", "ok") in actions
    done = next(row for row in rows if row["action"] == "runbook.execute")
    detail = json.loads(done["detail"])
    assert detail["status"] == "failed" and detail["exit_code"] == 3 and detail["reason"] == "because"


def _rows(runbooks: Runbooks, table: str) -> list[Any]:
    with contextlib.closing(sqlite3.connect(runbooks.app[SETTINGS].database_path)) as conn:
        conn.row_factory = sqlite3.Row
        return list(conn.execute(f"SELECT * FROM {table} ORDER BY rowid"))


def _tokens(runbooks: Runbooks) -> list[Any]:
    return _rows(runbooks, "api_tokens")


async def test_a_runs_exit_is_counted_in_the_metrics(start_runbooks: StartRunbooks) -> None:
    runbooks = await start_runbooks({"restart": (FAILS, 10)})

    await runbooks.execute(command="restart")

    metrics = runbooks.app[METRICS]
    assert 'ops_runbook_executions_total{command="restart",status="failed"} 1.0' in metrics.exposition().decode()
    assert (await metrics.summary()).runbook_exit_code.value == 3


async def test_a_script_calls_back_on_the_servers_own_address_never_the_callers_host_header(
    start_runbooks: StartRunbooks,
) -> None:
    runbooks = await start_runbooks({"start": (ENV_DUMP, 10)})

    response = await runbooks.client.post(
        "/api/ops/runbooks/execute",
        json={"command": "start"},
        headers={"Authorization": "Bearer admin-secret", "Host": "attacker.example:80"},
    )
    run = (await response.json())["runbook"]

    env = json.loads(next(line["message"][4:] for line in run["logs"] if line["message"].startswith("ENV ")))
    assert env["OPS_RUNBOOK_URL"] == f"http://127.0.0.1:{runbooks.client.port}"
