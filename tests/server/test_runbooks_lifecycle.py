"""What keeps runbook state right beyond one request: script tokens expire even when their server died, a run
orphaned by a dead server is ended and frees its environment, an abort flagged in storage (by another replica)
stops the script, and the executor and log keep any output within bounds."""

import asyncio
import contextlib
import sqlite3
import sys
from pathlib import Path
from typing import Any

from runbooks_support import Runbooks, write_runbooks

from server.clock import ManualClock
from server.http.runbooks import RUNBOOK_RUNS, RUNBOOKS
from server.keys import SETTINGS, TOKENS
from server.services.runbooks.executor import RunbookExecutor, split_level
from server.services.runbooks.logs import RunLog
from server.services.runbooks.manifest import RunbookSpec
from server.services.runbooks.service import fingerprint
from server.storage.database import Database
from server.storage.runbooks import Begun, NewRun, RunbookRepository
from shared.runbooks import RunbookRequest

SLEEPER = """
    import time
    print("INFO sleeping", flush=True)
    time.sleep(60)
"""


async def test_an_orphaned_run_is_ended_its_token_revoked_and_its_environment_freed(
    ops_with: Any, tmp_path: Path, clock: ManualClock
) -> None:
    directory = write_runbooks(tmp_path / "runbooks", {"start": ("print('hi')", 10)})
    runbooks = Runbooks((await ops_with(runbooks_dir=directory)).client)
    app = runbooks.app
    # What a server that died mid-run leaves behind: a running row and its script's live token.
    request = RunbookRequest(command="start", request_id="orphan-1")
    token = await app[TOKENS].create("runbook:dead", frozenset({"runbooks:read"}))
    claim = await app[RUNBOOK_RUNS].begin(
        NewRun(
            request_id="orphan-1",
            environment=app[SETTINGS].runbooks_environment,
            command="start",
            fingerprint=fingerprint(request),
            request=request.model_dump(mode="json"),
            principal="someone",
            started_at=clock.now(),
            token_name="runbook:dead",
            token_expires_at=clock.now().replace(second=40),
        )
    )
    assert isinstance(claim, Begun)
    busy = await runbooks.execute_raw({"command": "start"})
    assert busy.status == 409

    await app[RUNBOOKS].sweep()  # not expired yet: nothing changes
    assert await app[TOKENS].authenticate(token) is not None
    clock.advance(41)
    await app[RUNBOOKS].sweep()

    assert await app[TOKENS].authenticate(token) is None
    state = await (await runbooks.get("/api/ops/runbooks/orphan-1")).json()
    assert state["runbook"]["status"] == "failed"
    assert "stopped before it ended" in state["runbook"]["logs"][-1]["message"]
    assert (await runbooks.execute(command="start"))["runbook"]["status"] == "success"
    replay = await runbooks.execute(command="start", request_id="orphan-1")
    assert replay["runbook"]["status"] == "failed"


async def test_an_abort_flagged_in_storage_stops_the_script(ops_with: Any, tmp_path: Path) -> None:
    directory = write_runbooks(tmp_path / "runbooks", {"failover": (SLEEPER, 30)})
    runbooks = Runbooks((await ops_with(runbooks_dir=directory, runbooks_kill_grace_seconds=0.5)).client)
    execution = asyncio.create_task(runbooks.execute(command="failover", request_id="remote-abort"))
    while True:  # until the script has started and said so
        state = await runbooks.get("/api/ops/runbooks/remote-abort")
        if state.status == 200 and (await state.json())["runbook"]["logs"][1:]:
            break
        await asyncio.sleep(0.05)

    # Another replica's abort: only the flag in the shared database, no signal to this process.
    with contextlib.closing(sqlite3.connect(runbooks.app[SETTINGS].database_path)) as conn:
        conn.execute("UPDATE runbook_runs SET abort_requested = 1 WHERE request_id = 'remote-abort'")
        conn.commit()

    run = (await asyncio.wait_for(execution, timeout=5))["runbook"]
    assert run["status"] == "aborted"


async def test_a_line_of_any_length_is_cut_not_fatal(tmp_path: Path) -> None:
    script = tmp_path / "long.py"
    script.write_text("import sys\nsys.stdout.write('x' * 300_000)\nprint()\nprint('WARN after')\n")
    lines: list[tuple[str, str]] = []

    result = await RunbookExecutor(max_line_chars=100).run(
        RunbookSpec("start", script, 10, "", frozenset()),
        [],
        {"PATH": "/usr/bin:/bin"},
        lambda level, message: lines.append((level, message)),
        asyncio.Event(),
    )

    assert result.outcome == "success"
    assert lines[0] == ("INFO", "x" * 100 + " [cut]")
    assert lines[-1] == ("WARN", "after")
    assert len(lines) == 2


def test_levels_are_read_from_a_prefix_at_a_word_boundary() -> None:
    assert split_level("INFO all good") == ("INFO", "all good")
    assert split_level("WARNING: low") == ("WARN", "low")
    assert split_level("ERROR:boom") == ("ERROR", "boom")
    assert split_level("INFORMATION overload") == ("INFO", "INFORMATION overload")
    assert split_level("ERRORS are many") == ("INFO", "ERRORS are many")


async def test_a_runs_log_is_capped_and_says_how_many_lines_it_dropped(db: Database, clock: ManualClock) -> None:
    repository = RunbookRepository(db)
    claim = await repository.begin(
        NewRun("cap-1", "default", "start", "f", {"command": "start"}, None, clock.now(), None, None)
    )
    assert isinstance(claim, Begun)
    run_log = RunLog(repository, claim.run_id, clock, max_lines=10)
    run_log.start()
    for n in range(25):
        run_log.add("INFO", f"line {n}")
    await run_log.close()

    stored = await repository.logs(claim.run_id)
    assert [entry.message for entry in stored[:9]] == [f"line {n}" for n in range(9)]
    assert stored[-1].level == "WARN" and stored[-1].message.startswith("16 more lines were dropped")
    assert len(stored) == 10


def test_python_scripts_run_with_the_servers_interpreter(tmp_path: Path) -> None:
    from server.services.runbooks.executor import command_line

    assert command_line(tmp_path / "a.py", ["--x"]) == [sys.executable, str(tmp_path / "a.py"), "--x"]
    assert command_line(tmp_path / "a.sh", []) == [str(tmp_path / "a.sh")]
