"""AuditWriter: runs the AuditAppender off the event loop, in a process of its own or on a thread of its own.

In a process (what the server uses by default) the linking, hashing and inserting of every entry run beside the
server instead of inside it: every read request makes an entry, and in the server's process that work competes
for the one interpreter lock with serving requests. The process is `python -m server.storage.audit_process`;
batches go to it over its stdin and its answers come back over its stdout, on the event loop's own pipes, so no
thread of the server's wakes for them. On a thread (tests, or a caller who wants one process) the same
appender runs under the server's lock."""

import asyncio
import functools
import logging
import os
import pickle
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from enum import StrEnum
from pathlib import Path
from typing import Any

from server.storage.audit import AuditRecord
from server.storage.audit_appender import DEFAULT_CHECKPOINT_SECONDS, AuditAppender
from server.storage.audit_keys import AuditKey
from server.storage.database import database_busy

log = logging.getLogger(__name__)

_LENGTH_BYTES = 4  # each message is its length, big-endian, then its bytes
_STOP_SECONDS = 10.0


class WriterKind(StrEnum):
    PROCESS = "process"
    THREAD = "thread"


class AuditWriteFailed(Exception):
    """A batch was not written (or its fate is unknown): its waiters must not take it as committed."""


# How the writer process words a batch SQLite refused because another connection held the write lock (the process
# sends the error's text, not the error).
_BUSY_TEXTS = (
    "OperationalError: database is locked",
    "cannot open the audit log: OperationalError: database is locked",
)


def audit_write_busy(exc: BaseException) -> bool:
    """Whether `exc` is a batch refused because the database was locked by another connection (nothing written)."""
    return database_busy(exc) or (isinstance(exc, AuditWriteFailed) and str(exc).startswith(_BUSY_TEXTS))


def frame(payload: bytes) -> bytes:
    return len(payload).to_bytes(_LENGTH_BYTES, "big") + payload


class AuditWriter:
    def __init__(
        self,
        path: Path,
        kind: WriterKind = WriterKind.PROCESS,
        *,
        key: AuditKey | None = None,
        checkpoint_seconds: float = DEFAULT_CHECKPOINT_SECONDS,
    ) -> None:
        self._path = path
        self._kind = kind
        # The checkpoint signing key: handed to the process over its pipe, never through its environment.
        self._key = key
        self._checkpoint_seconds = checkpoint_seconds
        self._running = False
        self._lock = asyncio.Lock()  # one batch in flight: answers come back in order, one per batch
        self._process: asyncio.subprocess.Process | None = None  # None while running: start one at the next batch
        self._thread: ThreadPoolExecutor | None = None
        self._appender: AuditAppender | None = None  # the thread kind's; the process keeps its own
        self._signing: asyncio.Future[None] | None = None  # the thread kind's checkpoint after its last batch

    async def start(self) -> None:
        """Start the process or thread and open the database there: a writer that cannot write fails now, with
        AuditWriteFailed."""
        if self._running:
            raise RuntimeError("the audit writer is running already")
        if self._kind is WriterKind.THREAD:
            # One thread: an sqlite3 connection is used on the thread that made it.
            thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit-writer")
            opening = functools.partial(
                AuditAppender, self._path, self._key, checkpoint_seconds=self._checkpoint_seconds
            )
            try:
                self._appender = await asyncio.get_running_loop().run_in_executor(thread, opening)
            except Exception as exc:
                thread.shutdown(wait=False)
                raise AuditWriteFailed(f"cannot open the audit log: {type(exc).__name__}: {exc}") from exc
            self._thread = thread
        else:
            async with self._lock:
                await self._spawn()
        self._running = True

    async def append(self, records: Sequence[AuditRecord]) -> None:
        """Append a batch to the chain; returns once it is committed, raises AuditWriteFailed if it was not."""
        # Plain tuples to a process: a NamedTuple pickles as a class call per row, several times the cost.
        await self._request(("append", [tuple(r) for r in records]), "append", records)

    async def checkpoint(self) -> None:
        """Sign a checkpoint of the log's head now, if it moved since the last one."""
        await self._request(("checkpoint",), "checkpoint")

    async def prune(self, before: float) -> int:
        """Delete the entries made before `before` (seconds since the epoch), signing a checkpoint at the cut;
        returns how many were deleted."""
        return await self._request(("prune", before), "prune", before)

    async def _request(self, message: tuple[Any, ...], method: str, *args: Any) -> int:
        """Have the appender run `method(*args)`: on the thread, or as `message` to the process."""
        if not self._running:
            raise AuditWriteFailed("the audit writer is not running")
        if self._thread is not None and self._appender is not None:
            call = functools.partial(getattr(self._appender, method), *args)
            loop = asyncio.get_running_loop()
            try:
                result = await loop.run_in_executor(self._thread, call)
            except Exception as exc:
                raise AuditWriteFailed(f"{type(exc).__name__}: {exc}") from exc
            finally:
                # Not awaited: like the process, sign after answering; the next batch queues behind it.
                self._signing = loop.run_in_executor(self._thread, self._appender.checkpoint_if_due)
            return result if isinstance(result, int) else 0
        async with self._lock:
            if self._process is not None and self._process.returncode is not None:
                # It died between batches (killed, out of memory): a batch written to it would only fail.
                log.error("the audit writer process exited with %s", self._process.returncode)
                await self._discard(self._process)
            if self._process is None:
                # The last one died or was cut off mid-batch; a new one reads the head from the file.
                await self._spawn()
            assert self._process is not None and self._process.stdin is not None
            self._process.stdin.write(frame(pickle.dumps(message, pickle.HIGHEST_PROTOCOL)))
            return await self._answer()

    async def stop(self) -> None:
        """Close the database and end the thread or process; later batches fail with AuditWriteFailed."""
        self._running = False
        if self._thread is not None:
            thread, appender = self._thread, self._appender
            self._thread = self._appender = None
            if appender is not None:
                await asyncio.get_running_loop().run_in_executor(thread, appender.close)
            thread.shutdown(wait=False)  # its one task is done
            return
        async with self._lock:
            process, self._process = self._process, None
            if process is None:
                return
            assert process.stdin is not None
            process.stdin.close()  # end of input: the process closes its database and exits
            try:
                await asyncio.wait_for(process.wait(), _STOP_SECONDS)
            except TimeoutError:
                log.error("the audit writer process did not exit in %.0f s; killing it", _STOP_SECONDS)
                await self._discard(process)

    async def _spawn(self) -> None:
        # The child imports the very `server` package this process runs, from where this process found it: `-P`
        # keeps the working directory off its path, where `-m` would put it first. It needs none of the
        # server's settings, and so is not handed its secrets (OPS_API_TOKEN); the audit key goes over its pipe.
        env = {name: value for name, value in os.environ.items() if not name.startswith("OPS_")}
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        process = self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-P",
            "-m",
            "server.storage.audit_process",
            str(self._path),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=env,
        )
        assert process.stdin is not None
        config = (self._key.secret if self._key else None, self._checkpoint_seconds)
        process.stdin.write(frame(pickle.dumps(config, pickle.HIGHEST_PROTOCOL)))
        try:
            await self._answer()  # its first answer says whether it opened the database
        except AuditWriteFailed:
            await self._discard(process)  # it could not, and is on its way out
            raise

    async def _answer(self) -> int:
        """Read the process's answer to the last message: its value, or AuditWriteFailed saying what went wrong."""
        process = self._process
        assert process is not None and process.stdout is not None
        try:
            length = int.from_bytes(await process.stdout.readexactly(_LENGTH_BYTES), "big")
            error, value = pickle.loads(await process.stdout.readexactly(length))
        except BaseException as exc:
            # Died, or this wait was cancelled mid-answer: either way the exchange is out of step. Whether the
            # batch was committed is unknown, so it counts as failed, and the next batch gets a new process.
            await self._discard(process)
            if isinstance(exc, asyncio.IncompleteReadError | ConnectionError):
                log.error("the audit writer process exited with %s", process.returncode)
                raise AuditWriteFailed(f"the audit writer process exited with {process.returncode}") from None
            raise
        if error:
            raise AuditWriteFailed(error)
        return int(value)

    async def _discard(self, process: asyncio.subprocess.Process) -> None:
        if self._process is process:
            self._process = None
        if process.returncode is None:
            process.kill()
        await process.wait()
