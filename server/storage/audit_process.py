"""The audit writer process: `python -m server.storage.audit_process DATABASE`, started by the AuditWriter.

It reads length-prefixed pickles from stdin (from the server that started it and no one else): first its
configuration (the checkpoint signing key, which it is not given through its environment, and the checkpoint
interval), then requests — append a batch of records (plain tuples), sign a checkpoint, prune — and answers
each on stdout with (error, value): an empty error when it was committed. Its first answer says whether it
opened the database. End of input ends it (also when the server dies: the pipe closes with it)."""

import os
import pickle
import signal
import sys
from typing import Any, BinaryIO

from server.storage.audit import AuditRecord
from server.storage.audit_appender import AuditAppender
from server.storage.audit_keys import AuditKey
from server.storage.audit_writer import frame


def _answer(out: BinaryIO, error: str = "", value: int = 0) -> None:
    out.write(frame(pickle.dumps((error, value))))
    out.flush()


def _read_message(source: BinaryIO) -> Any:
    header = source.read(4)
    if len(header) < 4:
        return None
    length = int.from_bytes(header, "big")
    payload = source.read(length)
    return pickle.loads(payload) if len(payload) == length else None


def _serve(appender: AuditAppender, request: tuple[Any, ...]) -> int:
    match request:
        case ("append", rows):
            appender.append([AuditRecord(*row) for row in rows])
            return len(rows)
        case ("checkpoint",):
            appender.checkpoint()
            return 0
        case ("prune", before):
            return appender.prune(before)
    raise ValueError(f"unknown request {request[0]!r}")


def main(argv: list[str]) -> int:
    # Its life is the server's pipe: it ends at end of input, once the server has sent its last batch. A Ctrl-C
    # in the terminal or a service manager's SIGTERM reaches the whole process group; taking it here would lose
    # the batches the server writes while it shuts down.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    source, out = sys.stdin.buffer, sys.stdout.buffer
    try:
        return _run(argv[1], source, out)
    except BrokenPipeError:
        # The server died while an answer was on its way: nobody is left to tell. Point stdout at /dev/null so
        # the interpreter's own flush at exit does not print the same error again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
        return 0


def _run(database: str, source: BinaryIO, out: BinaryIO) -> int:
    config = _read_message(source)
    if config is None:
        return 0  # the server went away before it said anything
    secret, checkpoint_seconds = config
    try:
        appender = AuditAppender(database, AuditKey(secret) if secret else None, checkpoint_seconds=checkpoint_seconds)
    except Exception as exc:
        _answer(out, f"cannot open the audit log: {type(exc).__name__}: {exc}")
        return 1
    try:
        _answer(out)
        while (request := _read_message(source)) is not None:
            try:
                value = _serve(appender, request)
            except Exception as exc:  # not committed; say so and take the next one
                _answer(out, f"{type(exc).__name__}: {exc}")
            else:
                _answer(out, value=value)
            # After the answer: signing costs a commit and a file sync that no waiter of the batch should pay.
            appender.checkpoint_if_due()
    finally:
        appender.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
