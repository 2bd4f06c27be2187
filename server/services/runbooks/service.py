"""RunbooksService: executes runbooks once per request id (IETF Idempotency-Key semantics: the same id and body
answer the stored result byte for byte; a retry while it runs is 409; the same id with another body 422), one at a
time per environment (409 naming the run that holds it), each script with a short-lived token of its own that is
revoked when it ends; and reads the runs back (one run and its logs, history pages, the contract's status)."""

import asyncio
import contextlib
import functools
import hashlib
import json
import logging
import os
import secrets
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from server.clock import Clock
from server.errors import Conflict, FieldError, NotFound, OpsError, ValidationFailed
from server.services.runbooks.environment import script_arguments, script_environment
from server.services.runbooks.executor import ProcessResult, RunbookExecutor
from server.services.runbooks.health import FeedReading, Thresholds, report
from server.services.runbooks.logs import RunLog
from server.services.runbooks.manifest import ManifestError, RunbookSpec, load_manifest, spec_for
from server.services.runbooks.views import log_line, run_view
from server.services.tokens import Principal, TokenService
from server.storage.runbooks import Begun, Busy, NewRun, RunbookRepository, StoredRun
from shared.runbooks import (
    RUNBOOK_COMMANDS,
    AbortResponse,
    ExecuteResponse,
    HealthReport,
    RunbookCommands,
    RunbookRequest,
    RunState,
)

log = logging.getLogger(__name__)

# A script's token outlives its timeout and kill grace by this much, then the sweep revokes it whatever happened
# to the server that ran it.
TOKEN_MARGIN_SECONDS = 30.0
TOKEN_NAME_PREFIX = "runbook:"
# How often an orphaned run's script (its server died) is looked at until it ends.
ORPHAN_POLL_SECONDS = 0.25

# Which server process runs a run: `namespace:pid:nonce`. The namespace names the PID namespace the pid is of — host,
# boot and the namespace's inode — so that only a process of that same namespace judges the pid (replicas in
# containers sharing a hostname do not share pids); "unknown" when it cannot be told, and then never judged. The
# nonce is drawn once per process (again in a forked child), so a later process given a dead one's pid is not
# taken for it.
UNKNOWN_NAMESPACE = "unknown"
_PROCESS_NONCE = secrets.token_hex(8)


def _new_nonce() -> None:
    global _PROCESS_NONCE
    _PROCESS_NONCE = secrets.token_hex(8)


os.register_at_fork(after_in_child=_new_nonce)


@functools.cache
def pid_namespace() -> str:
    """This process's PID namespace, for as long as the machine is up: host/boot id/namespace inode."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
        inode = os.stat("/proc/self/ns/pid").st_ino
        ours = os.readlink("/proc/self") == str(os.getpid())  # /proc is of this namespace
    except (OSError, ValueError):
        return UNKNOWN_NAMESPACE
    host = socket.gethostname().replace(":", "_").replace("/", "_")
    if not boot or not ours or ":" in boot or "/" in boot:
        return UNKNOWN_NAMESPACE
    return f"{host}/{boot}/{inode}"


def process_owner() -> str:
    return f"{pid_namespace()}:{os.getpid()}:{_PROCESS_NONCE}"


def owner_gone(owner: str, me: str) -> bool:
    """Whether the server process `owner` names has ended, as far as process `me` can tell: only a process of the
    same PID namespace (same host, same boot) can tell it dead (no process has its pid, or `me` has it, so it was
    an earlier process's). Anything else — another namespace, an unknown one, a live pid — is left to the run's
    token expiry."""
    try:
        space, pid_text, nonce = owner.rsplit(":", 2)
        my_space, my_pid, my_nonce = me.rsplit(":", 2)
        pid = int(pid_text)
    except ValueError:
        return False
    if space != my_space or space == UNKNOWN_NAMESPACE or pid <= 0:
        return False
    if pid_text == my_pid:
        return nonce != my_nonce
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # it exists, someone else's: alive
        return False
    return False


def group_gone(pgid: int) -> bool:
    """Whether no live process is left in process group `pgid` (of this process's PID namespace): none at all, or
    only zombies (a script whose server died is re-parented; a PID 1 that does not reap leaves it a zombie).
    Nothing is ever signalled but the existence check: the id may have been reused."""
    if pgid <= 0:
        return False
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        pass  # it exists (someone else's)
    try:
        entries = os.listdir("/proc")
    except OSError:
        return False
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            stat = Path("/proc", entry, "stat").read_text(encoding="ascii", errors="replace")
        except OSError:
            continue  # ended meanwhile
        fields = stat[stat.rfind(")") + 1 :].split()
        if len(fields) >= 3 and fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
            return False
    return True


BeforeExecute = Callable[[], Awaitable[None]]
OnFinished = Callable[[str, str, int | None], Awaitable[None]]  # command, status, exit code


@dataclass(frozen=True, slots=True)
class Executed:
    """An execution's answer: the JSON body (stored, and replayed byte for byte), and what the audit notes."""

    request_id: str
    body: bytes
    status: str
    exit_code: int | None
    replayed: bool


class ScriptFailure(OpsError):
    """The runbook's script is missing or broken: the run is recorded as failed and answered 500."""

    status = 500
    code = "runbook_script_error"


@dataclass(frozen=True, slots=True)
class RunbooksConfig:
    runbooks_dir: Path
    environment: str
    thresholds: Thresholds
    kill_grace_seconds: float = 2.0
    max_log_lines: int = 5000


def fingerprint(request: RunbookRequest) -> str:
    """The request as validated (defaults filled in), canonically encoded and hashed: two bodies that mean the
    same request have the same fingerprint whatever their key order or spacing."""
    canonical = json.dumps(request.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _read_only(scopes: frozenset[str]) -> frozenset[str]:
    return frozenset(s for s in scopes if s.endswith(":read"))


class RunbooksService:
    def __init__(
        self,
        repository: RunbookRepository,
        tokens: TokenService,
        clock: Clock,
        config: RunbooksConfig,
        *,
        measure: Callable[[], FeedReading],
        executor: RunbookExecutor | None = None,
    ) -> None:
        self._repository = repository
        self._tokens = tokens
        self._clock = clock
        self._config = config
        self._measure = measure
        self._executor = executor or RunbookExecutor(kill_grace_seconds=config.kill_grace_seconds)
        self._running: dict[int, tuple[asyncio.Task[Executed], asyncio.Event]] = {}
        self._on_finished: list[OnFinished] = []
        self._watching: dict[int, asyncio.Task[None]] = {}

    @property
    def environment(self) -> str:
        return self._config.environment

    def on_finished(self, callback: OnFinished) -> None:
        """Call `callback(command, status, exit_code)` when a run ends (the metrics count runbook exits)."""
        self._on_finished.append(callback)

    def commands(self) -> RunbookCommands:
        """What the manifest offers, in the contract's order of commands; ScriptFailure when it is broken."""
        try:
            specs = load_manifest(self._config.runbooks_dir)
        except ManifestError as exc:
            raise ScriptFailure(str(exc)) from None
        return RunbookCommands.model_validate(
            {
                "commands": [
                    {"command": c, "description": specs[c].description, "timeout_seconds": specs[c].timeout_seconds}
                    for c in RUNBOOK_COMMANDS
                    if c in specs
                ]
            }
        )

    def health(self) -> HealthReport:
        return report(self._measure(), self._config.thresholds, self._clock.now())

    # --- executing ---

    async def execute(
        self,
        principal: Principal,
        request: RunbookRequest,
        *,
        server_url: str,
        before_execute: BeforeExecute | None = None,
    ) -> Executed:
        """Run `request` to its end (or answer its earlier run); raises
        ScriptFailure when its script is missing or broken, Conflict and ValidationFailed as the class says."""
        request = request.model_copy(update={"request_id": request.request_id or uuid.uuid4().hex})
        request_id = request.request_id
        assert request_id is not None
        spec: RunbookSpec | None = None
        broken: str | None = None
        try:
            spec = spec_for(self._config.runbooks_dir, request.command)
        except ManifestError as exc:
            broken = str(exc)
        now = self._clock.now()
        token_name = TOKEN_NAME_PREFIX + secrets.token_hex(8) if spec is not None else None
        # By then the run has ended one way or another: its token is revoked, and a run still marked running
        # belongs to a server that died (the sweep ends it).
        timeout = spec.timeout_seconds if spec is not None else 0.0
        expires = now + timedelta(seconds=timeout + self._config.kill_grace_seconds + TOKEN_MARGIN_SECONDS)
        claim = await self._repository.begin(
            NewRun(
                request_id=request_id,
                environment=self._config.environment,
                command=request.command,
                fingerprint=fingerprint(request),
                request=request.model_dump(mode="json"),
                principal=principal.name,
                started_at=now,
                token_name=token_name,
                token_expires_at=expires,
                owner=process_owner(),
            )
        )
        if isinstance(claim, Busy):
            raise _busy(claim.run)
        if not isinstance(claim, Begun):
            body = self._replay(claim.run, fingerprint(request))
            return Executed(request_id, body, claim.run.status, claim.run.exit_code, replayed=True)
        abort = asyncio.Event()
        task = asyncio.create_task(
            self._run(claim.run_id, request, spec, broken, token_name, server_url, abort, before_execute),
            name=f"runbook-{request_id}",
        )
        self._running[claim.run_id] = (task, abort)
        task.add_done_callback(lambda _: self._running.pop(claim.run_id, None))
        # Shielded: a caller that goes away does not take the run (and its bookkeeping) with it.
        return await asyncio.shield(task)

    def _replay(self, run: StoredRun, given: str) -> bytes:
        if run.fingerprint != given:
            raise ValidationFailed(
                [
                    FieldError(
                        "body",
                        ("request_id",),
                        f"request_id '{run.request_id}' was used for a different request; use a new request_id",
                        "idempotency_key_reused",
                    )
                ],
                code="idempotency_key_reused",
            )
        if run.status == "running" or run.response_status is None:
            raise Conflict(
                f"runbook '{run.command}' with request_id '{run.request_id}' is still running; retry once it ended",
                code="request_in_progress",
            )
        body = run.response_body or b""
        if run.response_status >= 500:
            raise ScriptFailure(body.decode("utf-8", "replace"))
        return body

    async def _run(
        self,
        run_id: int,
        request: RunbookRequest,
        spec: RunbookSpec | None,
        broken: str | None,
        token_name: str | None,
        server_url: str,
        abort: asyncio.Event,
        before_execute: BeforeExecute | None,
    ) -> Executed:
        run_log = RunLog(self._repository, run_id, self._clock, max_lines=self._config.max_log_lines)
        run_log.start()
        watcher = asyncio.create_task(self._watch_abort(run_id, abort))
        result: ProcessResult | None = None
        token_made = False
        try:
            if before_execute is not None:
                await before_execute()
            if spec is not None and broken is None:
                assert token_name is not None
                scopes = _read_only(spec.scopes) if request.dry_run else spec.scopes
                token = await self._tokens.create(token_name, scopes)
                token_made = True
                env = script_environment(request, server_url=server_url, token=token, host_env=os.environ)
                run_log.add("INFO", f"running {spec.script.name} (timeout {spec.timeout_seconds:g} s)")
                # Until its process group is recorded, a script may be running: a run left behind by a server that
                # died meanwhile is ended only by its token's expiry.
                await self._repository.script_starting(run_id)
                result = await self._executor.run(
                    spec,
                    script_arguments(request),
                    env,
                    run_log.add,
                    abort,
                    on_started=lambda pgid: self._script_started(run_id, pgid),
                )
        except ManifestError as exc:
            broken = str(exc)
        except Exception:
            log.exception("runbook %s could not be run", request.request_id)
            broken = f"runbook '{request.command}' could not be run: internal error"
        finally:
            watcher.cancel()
            if token_made and token_name is not None:
                with contextlib.suppress(NotFound):
                    await self._tokens.revoke(token_name)
        # The sweep is done with the run only once its end is recorded (a ScriptFailure is recorded too): should
        # recording fail (the database busy), its token's expiry stays for the sweep to end it.
        try:
            executed = await self._finish(run_id, request, run_log, result, broken)
        except ScriptFailure:
            await self._repository.token_revoked(run_id)
            raise
        await self._repository.token_revoked(run_id)
        return executed

    async def _script_started(self, run_id: int, pgid: int) -> None:
        try:
            await self._repository.script_started(run_id, pgid)
        except Exception:  # the run goes on; should this server die, its token's expiry ends it
            log.warning("runbook run %s: its script's process group could not be recorded", run_id, exc_info=True)

    async def _finish(
        self,
        run_id: int,
        request: RunbookRequest,
        run_log: RunLog,
        result: ProcessResult | None,
        broken: str | None,
    ) -> Executed:
        status, exit_code = (result.outcome, result.exit_code) if result is not None else ("failed", None)
        health = self._script_health(result, run_log)
        if broken is not None:
            run_log.add("ERROR", broken)
        elif status == "timeout":
            run_log.add("ERROR", "timed out: the script and its process group were stopped")
        elif status == "aborted":
            run_log.add("WARN", "aborted on request: the script and its process group were stopped")
        elif status == "success" and request.enforce:
            measured = self.health()
            health = health or measured
            if measured.violations:
                status = "failed"
                for violation in measured.violations:
                    run_log.add("ERROR", f"enforce: {violation}")
            else:
                run_log.add("INFO", "enforce: health is within its thresholds")
        await run_log.close()
        finished_at = self._clock.now()
        stored = await self._repository.by_id(run_id)
        assert stored is not None
        view = run_view(stored, run_log.lines).model_copy(
            update={"status": status, "exit_code": exit_code, "finished_at": finished_at}
        )
        if broken is not None:
            response_status, body = 500, broken.encode()
        else:
            response_status, body = 200, ExecuteResponse(runbook=view, health=health).model_dump_json().encode()
        recorded = await self._repository.finish(
            run_id,
            status=status,
            exit_code=exit_code,
            finished_at=finished_at,
            health=health.model_dump(mode="json") if health is not None else None,
            response_status=response_status,
            response_body=body,
        )
        if not recorded:  # another process (a sweep) ended it first and told its observers: answer what it recorded
            return self._recorded_end(await self._repository.by_id(run_id), stored, body, status, exit_code, broken)
        for callback in self._on_finished:
            try:
                await callback(request.command, status, exit_code)
            except Exception:  # the run is recorded and answered whatever its observers do
                log.exception("a runbook observer failed on %s", request.request_id)
        if broken is not None:
            raise ScriptFailure(broken)
        return Executed(stored.request_id, body, status, exit_code, replayed=False)

    @staticmethod
    def _recorded_end(
        ended: StoredRun | None,
        stored: StoredRun,
        body: bytes,
        status: str,
        exit_code: int | None,
        broken: str | None,
    ) -> Executed:
        if ended is not None and ended.response_status is not None:
            answer = ended.response_body or b""
            if ended.response_status >= 500:
                raise ScriptFailure(answer.decode("utf-8", "replace"))
            return Executed(stored.request_id, answer, ended.status, ended.exit_code, replayed=False)
        if broken is not None:
            raise ScriptFailure(broken)
        return Executed(stored.request_id, body, status, exit_code, replayed=False)

    def _script_health(self, result: ProcessResult | None, run_log: RunLog) -> HealthReport | None:
        if result is None or result.health is None:
            return None
        try:
            return HealthReport.model_validate(result.health)
        except ValueError as exc:
            run_log.add("WARN", f"the script's health report is not valid and was left out: {exc}")
            return None

    async def _watch_abort(self, run_id: int, abort: asyncio.Event) -> None:
        """An abort may arrive at another replica: it is a flag in storage, looked at twice a second."""
        while not abort.is_set():
            await asyncio.sleep(0.5)
            if await self._repository.abort_requested(run_id):
                abort.set()

    async def _revoke(self, run_id: int, token_name: str) -> None:
        with contextlib.suppress(NotFound):
            await self._tokens.revoke(token_name)
        await self._repository.token_revoked(run_id)

    # --- aborting, reading ---

    async def abort(self, request_id: str) -> AbortResponse:
        run = await self._repository.get(request_id)
        if run is None:
            raise NotFound(f"no runbook run with request_id '{request_id}'")
        if run.status != "running":
            raise Conflict(f"runbook run '{request_id}' has ended already ({run.status})", code="run_ended")
        await self._repository.request_abort(run.run_id)
        local = self._running.get(run.run_id)
        if local is not None:
            task, abort = local
            abort.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(task), timeout=self._config.kill_grace_seconds + 5)
        ended = await self._repository.get(request_id)
        status = ended.status if ended is not None else run.status
        return AbortResponse(request_id=request_id, status=status, abort_requested=True)  # type: ignore[arg-type]

    async def run_state(self, request_id: str, offset: int) -> RunState:
        run = await self._repository.get(request_id)
        if run is None:
            raise NotFound(f"no runbook run with request_id '{request_id}'")
        logs = await self._repository.logs(run.run_id, offset)
        health = HealthReport.model_validate(run.health) if run.health is not None else None
        lines = [log_line(entry) for entry in logs]
        return RunState(runbook=run_view(run, lines), health=health, next_offset=offset + len(lines))

    # --- housekeeping ---

    async def sweep(self) -> None:
        """Revoke script tokens past their expiry, and end as failed the runs whose server died under them: once
        their token expired while they were still marked running, or sooner when they ran in this PID namespace,
        their server process is gone and so is their script's process group (a script still running holds the
        environment: it is watched until it ends). Each run on its own: one that cannot be handled is logged and
        left for the next sweep."""
        for run in await self._repository.tokens_expired(self._clock.now()):
            try:
                if run.status == "running" and run.run_id not in self._running:
                    await self._end_orphan(run)  # its token is done with once its end is recorded
                elif run.token_name is not None:
                    await self._revoke(run.run_id, run.token_name)
                else:
                    await self._repository.token_revoked(run.run_id)
            except Exception:
                log.exception("runbook sweep: run %s (expired token) could not be handled", run.request_id)
        me = process_owner()
        for run in await self._repository.running_with_owner():
            try:
                if run.owner is None or run.run_id in self._running or not owner_gone(run.owner, me):
                    continue
                if run.script_pgid is not None:
                    if run.script_pgid <= 0:  # its script may have started unrecorded: the token expiry ends it
                        continue
                    if not group_gone(run.script_pgid):
                        self._watch_orphan(run)
                        continue
                await self._end_orphan(run)
            except Exception:
                log.exception("runbook sweep: run %s (owner gone) could not be handled", run.request_id)

    def _watch_orphan(self, run: StoredRun) -> None:
        """Look at an orphan's script's process group a few times a second until it is gone, then end the run
        (the environment is not held for the rest of the token's life by a script that ended)."""
        if run.run_id in self._watching:
            return
        task = asyncio.create_task(self._until_group_gone(run), name=f"runbook-orphan-{run.request_id}")
        self._watching[run.run_id] = task
        task.add_done_callback(lambda _: self._watching.pop(run.run_id, None))

    async def _until_group_gone(self, run: StoredRun) -> None:
        assert run.script_pgid is not None
        try:
            while not group_gone(run.script_pgid):
                await asyncio.sleep(ORPHAN_POLL_SECONDS)
                now = await self._repository.by_id(run.run_id)
                if now is None or now.status != "running" or now.token_expires_at is None:
                    return  # ended (or left to the token expiry) meanwhile
                if now.token_expires_at < self._clock.now():
                    return  # the token-expiry sweep ends it
            await self._end_orphan(run)
        except Exception:
            log.exception("runbook sweep: run %s (owner gone) could not be handled", run.request_id)

    async def _end_orphan(self, run: StoredRun) -> None:
        # The stored request as it was taken then: not validated again (a rule added since must not keep the run
        # from ending). Ending it reads only its command and request id.
        fields = run.request if isinstance(run.request, dict) else {}
        request = RunbookRequest.model_construct(**{**fields, "command": run.command, "request_id": run.request_id})
        earlier = [log_line(entry) for entry in await self._repository.logs(run.run_id)]
        run_log = RunLog(self._repository, run.run_id, self._clock, earlier=earlier)
        run_log.add("ERROR", "the server running this runbook stopped before it ended")
        with contextlib.suppress(ScriptFailure):
            await self._finish(run.run_id, request, run_log, None, None)
        # Only once its end is recorded: should that fail, its token's expiry still finds it for the next sweep.
        if run.token_name is not None:
            await self._revoke(run.run_id, run.token_name)
        else:
            await self._repository.token_revoked(run.run_id)

    async def close(self) -> None:
        """Abort what still runs (the server is stopping) and wait for it to be recorded."""
        watchers = list(self._watching.values())
        for watcher in watchers:
            watcher.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
        for task, abort in list(self._running.values()):
            abort.set()
            with contextlib.suppress(Exception):
                await task


def _busy(run: StoredRun) -> Conflict:
    who = f" by {run.principal}" if run.principal else ""
    return Conflict(
        f"runbook '{run.command}' (request_id '{run.request_id}', started {run.started_at.isoformat()}{who}) is "
        f"running in environment '{run.environment}'; one runbook runs at a time",
        code="runbook_running",
        extra={"running": {"request_id": run.request_id, "command": run.command}},
    )
