"""The audit writer process: `python -m server.storage.audit_process DATABASE`, started by the AuditWriter.

It reads batches of audit records from stdin (each a length-prefixed pickle of plain tuples, from the server
that started it and no one else), appends each to the chain, and answers each on stdout: empty when it was
committed, else what went wrong. Its first answer says whether it opened the database. End of input ends it
(also when the server dies: the pipe closes with it)."""

import pickle
import signal
import sys
from typing import BinaryIO

from server.storage.audit import new_record
from server.storage.audit_appender import AuditAppender
from server.storage.audit_writer import frame


def _answer(out: BinaryIO, text: str) -> None:
    out.write(frame(text.encode()))
    out.flush()


def _read_message(source: BinaryIO) -> bytes | None:
    header = source.read(4)
    if len(header) < 4:
        return None
    length = int.from_bytes(header, "big")
    payload = source.read(length)
    return payload if len(payload) == length else None


def main(argv: list[str]) -> int:
    # Its life is the server's pipe: it ends at end of input, once the server has sent its last batch. A Ctrl-C
    # in the terminal or a service manager's SIGTERM reaches the whole process group; taking it here would lose
    # the batches the server writes while it shuts down.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    source, out = sys.stdin.buffer, sys.stdout.buffer
    try:
        appender = AuditAppender(argv[1])
    except Exception as exc:
        _answer(out, f"cannot open the audit log: {type(exc).__name__}: {exc}")
        return 1
    _answer(out, "")
    try:
        while (message := _read_message(source)) is not None:
            try:
                appender.append([new_record(row) for row in pickle.loads(message)])
            except Exception as exc:  # the batch was not committed; say so and take the next one
                _answer(out, f"{type(exc).__name__}: {exc}")
            else:
                _answer(out, "")
    finally:
        appender.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
