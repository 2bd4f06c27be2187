"""LogThrottle: at most a few log lines a minute from one source, however fast it fires, and a count of the ones
left out. For what any client can trigger at will (malformed requests), so a flood cannot fill the log."""

import logging
import time
from collections.abc import Callable


class LogThrottle:
    """Lets `lines` lines through per `window` seconds; the next line let through after some were held back says
    how many."""

    def __init__(
        self,
        logger: logging.Logger,
        *,
        lines: int = 5,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._lines = lines
        self._window = window
        self._clock = clock
        self._window_start = -window
        self._sent = 0
        self.suppressed = 0  # held back since the last line that went out

    def warning(self, msg: str, *args: object) -> bool:
        """Log `msg % args` at WARNING if the budget allows; returns whether it went out."""
        now = self._clock()
        if now - self._window_start >= self._window:
            self._window_start, self._sent = now, 0
        if self._sent >= self._lines:
            self.suppressed += 1
            return False
        self._sent += 1
        if self.suppressed:
            msg, args = msg + " (%d similar lines suppressed before this one)", (*args, self.suppressed)
            self.suppressed = 0
        self._logger.warning(msg, *args)
        return True
