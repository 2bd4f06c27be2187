"""A program run in a pseudo-terminal, for the console benchmarks (console_start.py, audit_console.py): start it,
send keys, wait until what it paints matches a pattern, and take its peak memory (ru_maxrss) when it ends.

What counts as painted is what the program wrote to the terminal, as a terminal would receive it."""

import fcntl
import os
import pty
import re
import select
import signal
import struct
import termios
import time
from collections.abc import Sequence


class PaintTimeout(Exception):
    """The program did not paint the pattern in time."""


class Terminal:
    def __init__(self, argv: Sequence[str], env: dict[str, str], *, columns: int = 120, lines: int = 40) -> None:
        """Fork `argv` onto a new pseudo-terminal of `columns` x `lines`. `started` is the moment before the fork."""
        self.started = time.perf_counter()
        pid, fd = pty.fork()
        if pid == 0:  # the child: the pty is its controlling terminal and stdio
            try:
                os.execvpe(argv[0], list(argv), {**env, "TERM": "xterm-256color"})
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
        self.output = bytearray()
        self.max_rss_kib = 0
        self.exit_status: int | None = None

    def send(self, keys: bytes) -> float:
        """Write `keys` as typed; returns the moment they were written."""
        sent = time.perf_counter()
        os.write(self.fd, keys)
        return sent

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return False
        try:
            chunk = os.read(self.fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            chunk = b""
        if not chunk:
            raise PaintTimeout("the program closed its terminal")
        self.output += chunk
        return True

    def wait_for(
        self, pattern: re.Pattern[bytes], *, after: int = 0, timeout: float = 60.0
    ) -> tuple[re.Match[bytes], float]:
        """The first match of `pattern` in the output from offset `after` on, waiting for it up to `timeout` s, and
        the moment it was seen (within one read of its arrival: the output is searched after every read)."""
        deadline = time.perf_counter() + timeout
        while True:
            # All of the output from `after` on, each time: a match may straddle two reads.
            match = pattern.search(self.output, after)
            if match is not None:
                return match, time.perf_counter()
            left = deadline - time.perf_counter()
            if left <= 0:
                tail = bytes(self.output[-400:]).decode(errors="replace")
                raise PaintTimeout(f"no {pattern.pattern!r} within {timeout} s; the terminal ends with {tail!r}")
            self._read(min(left, 0.05))

    def drain(self, seconds: float) -> None:
        """Read whatever the program paints for `seconds` (lets it settle between measurements)."""
        deadline = time.perf_counter() + seconds
        while (left := deadline - time.perf_counter()) > 0:
            self._read(left)

    def close(self, quit_keys: bytes = b"", timeout: float = 10.0) -> None:
        """End the program (its quit keys, then SIGTERM, then SIGKILL) and keep its peak memory."""
        if quit_keys:
            os.write(self.fd, quit_keys)
        deadline = time.perf_counter() + timeout
        signals = [signal.SIGTERM, signal.SIGKILL]
        while True:
            pid, status, usage = os.wait4(self.pid, os.WNOHANG)
            if pid == self.pid:
                break
            if time.perf_counter() > deadline and signals:
                os.kill(self.pid, signals.pop(0))
                deadline = time.perf_counter() + timeout
            try:
                self._read(0.05)  # keep the terminal drained: a child blocked on a full pty never exits
            except PaintTimeout:
                time.sleep(0.01)
        os.close(self.fd)
        self.exit_status = status
        self.max_rss_kib = usage.ru_maxrss  # KiB on Linux
