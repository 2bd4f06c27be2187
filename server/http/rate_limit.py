"""Rate limiting: fixed one-minute windows, per token for authenticated callers and per client address for the
rest. Counters are per node, in memory (fine while one node serves; replicas each count their own)."""

import math
from typing import NamedTuple

from aiohttp import web

from server.clock import Clock
from server.errors import RateLimited
from server.http.context import RequestContext
from server.keys import CLOCK, SETTINGS
from server.services.tokens import Principal

WINDOW_SECONDS = 60


class RateLimitState(NamedTuple):
    limit: int
    used: int  # requests counted in this window, this one included
    reset: int  # epoch seconds when the window ends

    @property
    def allowed(self) -> bool:
        return self.used <= self.limit

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    def header_values(self) -> tuple[str, str, str]:
        """X-RateLimit-Limit, -Remaining and -Reset."""
        limit, used, reset = self
        return str(limit), str(limit - used if used < limit else 0), str(reset)


# tuple.__new__ straight: a NamedTuple's own constructor is a Python function, and every request makes a state.
_new_state = tuple.__new__


class RateLimiter:
    def __init__(self, clock: Clock, *, per_principal: int, per_address: int) -> None:
        self._clock = clock
        self.per_principal = per_principal
        self.per_address = per_address
        self._window = -1
        self._counts: dict[str, int] = {}

    def hit(self, key: str, limit: int) -> RateLimitState:
        """Count one request for `key` against `limit` per window."""
        window = int(self._clock.timestamp() // WINDOW_SECONDS)
        if window != self._window:
            # A new window: old counts can go, which also bounds memory to one window's callers.
            self._window, self._counts = window, {}
        counts = self._counts
        count = counts[key] = counts.get(key, 0) + 1
        return _new_state(RateLimitState, (limit, count, (window + 1) * WINDOW_SECONDS))

    def retry_after(self, state: RateLimitState) -> int:
        """Whole seconds until `state`'s window ends, at least 1."""
        return max(1, math.ceil(state.reset - self._clock.timestamp()))


RATE_LIMITER = web.AppKey("rate_limiter", RateLimiter)


def create_rate_limiter(app: web.Application) -> None:
    settings = app[SETTINGS]
    app[RATE_LIMITER] = RateLimiter(
        app[CLOCK], per_principal=settings.rate_limit_per_minute, per_address=settings.rate_limit_anon_per_minute
    )


def enforce_rate_limit(
    app: web.Application, request: web.Request, context: RequestContext, principal: Principal | None
) -> None:
    """The rate-limit stage: count the request against its caller (its token's principal, else its address) and
    refuse it past the limit. The state goes on the context for the response headers."""
    limiter = app[RATE_LIMITER]
    if principal is not None:
        state = limiter.hit("principal:" + principal.name, limiter.per_principal)
    else:
        state = limiter.hit(f"addr:{request.remote}", limiter.per_address)
    context.rate_limit = state
    if not state.allowed:
        retry_after = limiter.retry_after(state)
        raise RateLimited(
            f"rate limit of {state.limit} requests per minute exceeded; retry in {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )
