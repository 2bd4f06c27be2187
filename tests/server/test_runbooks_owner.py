"""How the runbook sweep ends a run whose server died, and only such a run: its owner names its PID namespace (a
matching hostname is not enough), its script's process group must be gone too (a script still running holds the
environment until it ends), one bad run does not stop the sweep, a run whose end could not be recorded is still
ended by its token's expiry, and a run ended twice (two sweeps) is counted once."""

import asyncio
import logging
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from runbooks_support import Runbooks, write_runbooks

from server.clock import ManualClock
from server.http.runbooks import RUNBOOK_RUNS, RUNBOOKS
from server.keys import SETTINGS
from server.services.runbooks.service import (
    UNKNOWN_NAMESPACE,
    RunbooksService,
    group_gone,
    owner_gone,
    pid_namespace,
    process_owner,
)
from server.storage.runbooks import Begun, NewRun, RunbookRepository, StoredRun

NONCE = "0123456789abcdef"


def _ended_pid() -> int:
    with subprocess.Popen([sys.executable, "-c", "pass"]) as ended:
        ended.wait()
    return ended.pid


@pytest.fixture
def script_group() -> Iterator[subprocess.Popen[bytes]]:
    """A live process group of its own, as a runbook's script has (start_new_session); killed by the test."""
    process = subprocess.Popen(["sleep", "60"], start_new_session=True)
    yield process
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def test_an_owner_is_judged_only_in_its_own_pid_namespace() -> None:
    me = process_owner()
    space, _, _ = me.rsplit(":", 2)
    boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    inode = os.stat("/proc/self/ns/pid").st_ino
    assert space == pid_namespace() and boot in space and str(inode) in space
    dead = _ended_pid()

    assert owner_gone(f"{space}:{dead}:{NONCE}", me)  # this namespace, no such process: gone
    # Another container on the same host (host networking: same hostname), its own PID namespace: the pid means
    # nothing here, whatever process has it (or none).
    assert not owner_gone(f"{socket.gethostname()}:{dead}:{NONCE}", me)
    assert not owner_gone(f"{space.rsplit('/', 1)[0]}/{inode + 1}:{dead}:{NONCE}", me)
    # A namespace that could not be told is never judged, not even by another process that could not tell its own.
    assert not owner_gone(f"{UNKNOWN_NAMESPACE}:{dead}:{NONCE}", me)
    assert not owner_gone(f"{UNKNOWN_NAMESPACE}:{dead}:{NONCE}", f"{UNKNOWN_NAMESPACE}:{os.getpid()}:{NONCE}")
    assert not owner_gone(me, me)


def test_a_group_is_gone_when_no_live_process_is_left_in_it() -> None:
    process = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        assert not group_gone(process.pid)
        os.killpg(process.pid, signal.SIGKILL)
        while Path(f"/proc/{process.pid}/stat").read_text().split(") ")[1][0] != "Z":
            time.sleep(
                0.01
            )  # until it is a zombie: dead, not reaped (as a re-parented script under a PID 1 that never reaps)
        assert group_gone(process.pid)
    finally:
        process.wait()
    assert group_gone(process.pid)
    assert not group_gone(0)


async def _orphan(
    service: RunbooksService,
    repository: RunbookRepository,
    clock: ManualClock,
    request_id: str,
    *,
    environment: str,
    owner: str | None,
    pgid: int | None = None,
    request: dict[str, Any] | None = None,
) -> StoredRun:
    """What a server that died mid-run leaves behind: a running row it owned (and its script's process group)."""
    claim = await repository.begin(
        NewRun(
            request_id=request_id,
            environment=environment,
            command="start",
            fingerprint="f-" + request_id,
            request=request or {"command": "start", "request_id": request_id},
            principal="someone",
            started_at=clock.now(),
            token_name=None,
            token_expires_at=clock.now() + timedelta(seconds=40),
            owner=owner,
        )
    )
    assert isinstance(claim, Begun), claim
    if pgid == 0:
        await repository.script_starting(claim.run_id)
    elif pgid is not None:
        await repository.script_started(claim.run_id, pgid)
    run = await repository.by_id(claim.run_id)
    assert run is not None
    return run


async def _status(repository: RunbookRepository, request_id: str) -> str:
    run = await repository.get(request_id)
    assert run is not None
    return run.status


async def test_the_sweep_ends_an_orphan_only_once_its_script_is_gone(
    ops_with: Any, tmp_path: Path, clock: ManualClock, script_group: subprocess.Popen[bytes]
) -> None:
    directory = write_runbooks(tmp_path / "runbooks", {"start": ("print('INFO hi')", 10)})
    runbooks = Runbooks((await ops_with(runbooks_dir=directory)).client)
    app = runbooks.app
    service, repository = app[RUNBOOKS], app[RUNBOOK_RUNS]
    environment = app[SETTINGS].runbooks_environment
    gone = f"{pid_namespace()}:{_ended_pid()}:{NONCE}"

    # A run executed here records its script's process group.
    executed = await runbooks.execute(command="start", request_id="recorded")
    stored = await repository.get("recorded")
    assert stored is not None and stored.script_pgid is not None and stored.script_pgid > 0, stored
    assert executed["runbook"]["status"] == "success"

    # Its server is gone but its script still runs (a group of its own): the run holds the environment, and the
    # script is left alone.
    await _orphan(
        service, repository, clock, "script-alive", environment=environment, owner=gone, pgid=script_group.pid
    )
    await service.sweep()
    assert await _status(repository, "script-alive") == "running"
    assert (await runbooks.execute_raw({"command": "start"})).status == 409
    assert script_group.poll() is None and not group_gone(script_group.pid)
    # Once the script ends, the run is ended without waiting for the next sweep or its token's expiry.
    os.killpg(script_group.pid, signal.SIGKILL)
    script_group.wait()
    deadline = asyncio.get_running_loop().time() + 5
    while await _status(repository, "script-alive") == "running":
        assert asyncio.get_running_loop().time() < deadline, "the orphan was not ended once its script was gone"
        await asyncio.sleep(0.05)
    assert await _status(repository, "script-alive") == "failed"
    assert (await runbooks.execute(command="start"))["runbook"]["status"] == "success"

    # Its server died while starting its script (no process group recorded yet): only the token expiry ends it.
    await _orphan(service, repository, clock, "script-starting", environment=environment, owner=gone, pgid=0)
    await service.sweep()
    assert await _status(repository, "script-starting") == "running"
    clock.advance(41)
    await service.sweep()
    assert await _status(repository, "script-starting") == "failed"

    # Its server died before starting any script: ended at once.
    await _orphan(service, repository, clock, "no-script", environment=environment, owner=gone)
    await service.sweep()
    assert await _status(repository, "no-script") == "failed"


async def test_one_bad_run_does_not_stop_the_sweep_and_an_end_is_counted_once(
    ops_with: Any,
    tmp_path: Path,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    directory = write_runbooks(tmp_path / "runbooks", {"start": ("print('INFO hi')", 10)})
    runbooks = Runbooks((await ops_with(runbooks_dir=directory)).client)
    app = runbooks.app
    service, repository = app[RUNBOOKS], app[RUNBOOK_RUNS]
    gone = f"{pid_namespace()}:{_ended_pid()}:{NONCE}"
    ended: list[tuple[str, str, int | None]] = []

    async def count(command: str, status: str, exit_code: int | None) -> None:
        ended.append((command, status, exit_code))

    service.on_finished(count)

    # M4: a stored run whose request a rule added since refuses ("execute" is now a reserved request id), a run
    # whose storage fails, and a plain orphan: each handled on its own.
    await _orphan(
        service,
        repository,
        clock,
        "execute",
        environment="env-a",
        owner=gone,
        request={"command": "start", "request_id": "execute", "dry_run": 0},
    )
    broken = await _orphan(service, repository, clock, "broken", environment="env-b", owner=None)
    await _orphan(service, repository, clock, "plain", environment="env-c", owner=None)
    logs = repository.logs

    async def failing_logs(run_id: int, offset: int = 0) -> Any:
        if run_id == broken.run_id:
            raise sqlite3.OperationalError("disk I/O error")
        return await logs(run_id, offset)

    monkeypatch.setattr(repository, "logs", failing_logs)
    clock.advance(41)
    with caplog.at_level(logging.ERROR):
        await service.sweep()
    assert await _status(repository, "execute") == "failed"
    assert await _status(repository, "plain") == "failed"
    assert await _status(repository, "broken") == "running"  # left for the next sweep, which still finds it
    assert "run broken" in caplog.text and "could not be handled" in caplog.text
    monkeypatch.setattr(repository, "logs", logs)
    await service.sweep()
    assert await _status(repository, "broken") == "failed"
    assert len(ended) == 3

    # M6: two sweeps (two replicas) that both saw the orphan running: its end is counted once.
    await _orphan(service, repository, clock, "twice", environment="env-d", owner=gone)
    seen = await repository.running_with_owner()
    assert [run.request_id for run in seen] == ["twice"]

    async def stale() -> list[StoredRun]:
        return seen

    monkeypatch.setattr(repository, "running_with_owner", stale)
    await service.sweep()
    await service.sweep()
    assert await _status(repository, "twice") == "failed"
    assert ended[3:] == [("start", "failed", None)]


async def test_a_run_whose_end_could_not_be_recorded_is_ended_by_its_token_expiry(
    ops_with: Any, tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = write_runbooks(tmp_path / "runbooks", {"start": ("print('INFO hi')", 10)})
    runbooks = Runbooks((await ops_with(runbooks_dir=directory)).client)
    app = runbooks.app
    service, repository = app[RUNBOOKS], app[RUNBOOK_RUNS]

    async def busy(*args: Any, **kwargs: Any) -> bool:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(repository, "finish", busy)
    failed = await runbooks.execute_raw({"command": "start", "request_id": "unrecorded"})
    assert failed.status >= 500
    monkeypatch.undo()
    stored = await repository.get("unrecorded")
    assert stored is not None and stored.status == "running"
    assert stored.token_expires_at is not None  # the sweep can still find it
    assert (await runbooks.execute_raw({"command": "start"})).status == 409

    await service.sweep()
    assert await _status(repository, "unrecorded") == "running"  # its own server is alive: not before its expiry
    clock.advance(10 + app[SETTINGS].runbooks_kill_grace_seconds + 30 + 1)
    await service.sweep()
    assert await _status(repository, "unrecorded") == "failed"
    assert (await runbooks.execute(command="start"))["runbook"]["status"] == "success"
