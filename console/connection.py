"""Connection state of the console and the reconnect schedule."""

from enum import StrEnum

BACKOFF_MAX_SECONDS = 5.0
"""While disconnected the console retries at least this often, so a server that comes back is seen within seconds."""
HEARTBEAT_SECONDS = 3.0
"""When no screen request has succeeded for this long, the app asks the server itself (whoami): a screen that does
not poll (Audit) still learns that the server went away."""


class ConnectionState(StrEnum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    UNAUTHORIZED = "unauthorized"
    RATE_LIMITED = "rate limited"


PROBLEM_STATES = frozenset({ConnectionState.DISCONNECTED, ConnectionState.UNAUTHORIZED, ConnectionState.RATE_LIMITED})
"""States in which screens do not refresh and the banner says why."""

UNAUTHORIZED_HINT = "unauthorized — check --token or OPS_API_TOKEN"


def backoff_delay(attempt: int, *, cap: float = BACKOFF_MAX_SECONDS) -> float:
    """Seconds to wait before reconnect attempt `attempt` (0-based): 1, 2, 4, 5, 5, ..."""
    return min(cap, 2.0 ** min(attempt, 16))
