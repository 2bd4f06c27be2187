"""Rate limiting: fixed one-minute windows, per token for authenticated callers and per client address for the
rest. Counters are per node, in memory (fine while one node serves; replicas each count their own)."""

import math
from typing import NamedTuple

from aiohttp import web
from aiohttp.typedefs import Handler

from server.clock import Clock
from server.errors import RateLimited
from server.http.auth import PUBLIC, identify, required_scope
from server.http.context import context_of
from server.keys import CLOCK, SETTINGS

WINDOW_SECONDS = 60


class RateLimitState(NamedTuple):
    limit: int
    remaining: int
    reset: int  # epoch seconds when the window ends


class RateLimiter:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._window = -1
        self._counts: dict[str, int] = {}

    def hit(self, key: str, limit: int) -> tuple[bool, RateLimitState, int]:
        """Count one request for `key`. Returns (allowed, state, seconds until the window resets)."""
        now = self._clock.timestamp()
        window = int(now // WINDOW_SECONDS)
        if window != self._window:
            # A new window: old counts can go, which also bounds memory to one window's callers.
            self._window, self._counts = window, {}
        counts = self._counts
        count = counts[key] = counts.get(key, 0) + 1
        reset = (window + 1) * WINDOW_SECONDS
        state = RateLimitState(limit, max(0, limit - count), reset)
        return count <= limit, state, max(1, math.ceil(reset - now))


RATE_LIMITER = web.AppKey("rate_limiter", RateLimiter)


def create_rate_limiter(app: web.Application) -> None:
    app[RATE_LIMITER] = RateLimiter(app[CLOCK])


@web.middleware
async def rate_limit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    app = request.app
    settings = app[SETTINGS]
    principal = None if required_scope(request) == PUBLIC else await identify(request)
    if principal is not None:
        key, limit = "principal:" + principal.name, settings.rate_limit_per_minute
    else:
        key, limit = f"addr:{request.remote}", settings.rate_limit_anon_per_minute
    allowed, state, retry_after = app[RATE_LIMITER].hit(key, limit)
    context_of(request).rate_limit = state
    if not allowed:
        raise RateLimited(
            f"rate limit of {limit} requests per minute exceeded; retry in {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )
    return await handler(request)
