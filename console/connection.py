"""Connection state of the console and the reconnect schedule."""

from enum import StrEnum

BACKOFF_MAX_SECONDS = 30.0


class ConnectionState(StrEnum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    UNAUTHORIZED = "unauthorized"


def backoff_delay(attempt: int, *, cap: float = BACKOFF_MAX_SECONDS) -> float:
    """Seconds to wait before reconnect attempt `attempt` (0-based): 1, 2, 4, 8, 16, 30, 30, ..."""
    return min(cap, 2.0 ** min(attempt, 16))
