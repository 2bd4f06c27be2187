"""Rate limiting: a token bucket per caller, kept by GCRA (the generic cell rate algorithm), per node in memory
(fine while one node serves; replicas each count their own).

Three policies, each a quota per minute:

- `token`: per authenticated principal (`OPS_RATE_LIMIT_PER_MINUTE`);
- `address`: per client address, for callers without a valid token (`OPS_RATE_LIMIT_ANON_PER_MINUTE`);
- `failed-auth`: per client address, token checks that failed (`OPS_RATE_LIMIT_FAILED_AUTH_PER_MINUTE`). A token
  the cache does not know is looked up in the database only while its address has budget left here, so random
  tokens cannot turn every request into a lookup.

A bucket holds `quota` requests and refills one every `window / quota` seconds: a caller may spend its whole quota
at once, then keeps the steady rate. Unlike the fixed windows this replaces, no window boundary hands out a second
quota at once (39 requests in 3.5 s under a limit of 20 a minute, before).

GCRA keeps one number per caller, the theoretical arrival time (TAT): when its bucket will be full again. A caller
whose TAT has passed holds a full bucket, the same as one never seen, so its entry can go at any time: that and a
cap on entries keep memory bounded whatever number of addresses or tokens a flood brings."""

import ipaddress
import itertools
import math
from typing import NamedTuple

from aiohttp import web

from server.clock import Clock
from server.errors import RateLimited
from server.http.auth import identify
from server.http.context import RequestContext
from server.keys import CLOCK, SETTINGS
from server.services.tokens import Principal

WINDOW_SECONDS = 60
# Entries per policy before idle ones are dropped (and, if a flood keeps them all busy, the oldest forgotten):
# about 170 bytes each with its key, so under 10 MB a policy.
MAX_KEYS = 50_000
# Float slack: 100 requests of 0.6 s each must add up to exactly the 60 s a bucket of 100 holds.
_EPSILON = 1e-6


class RateLimitPolicy:
    """A quota of requests per window; also the largest burst."""

    def __init__(self, name: str, quota: int, window: int = WINDOW_SECONDS) -> None:
        self.name = name
        self.quota = quota
        self.window = window
        self.interval = window / quota  # one request's share of the window: the bucket refills one per interval
        # The RateLimit-Policy field, draft-ietf-httpapi-ratelimit-headers-11 (May 2026): a policy name and its
        # quota `q` per window `w` seconds.
        self.field = f'"{name}";q={quota};w={window}'


class RateLimitState(NamedTuple):
    """One request's standing under its policy."""

    policy: RateLimitPolicy
    allowed: bool
    remaining: int  # requests the caller may still make at once, after this one
    reset_after: float  # seconds until the bucket is full again
    retry_after: float  # seconds until a refused caller may try again; 0 when allowed
    now: float

    def header_values(self) -> tuple[str, str, str, str, str]:
        """X-RateLimit-Limit, -Remaining, -Reset (epoch seconds when the quota is whole again), RateLimit-Policy
        and RateLimit. RateLimit follows draft-ietf-httpapi-ratelimit-headers-11: `r` the quota available now, `t`
        the seconds until all of it is back (the bucket refills steadily, so some comes back sooner)."""
        policy = self.policy
        reset_after = math.ceil(self.reset_after - _EPSILON)
        return (
            str(policy.quota),
            str(self.remaining),
            str(math.ceil(self.now + reset_after)),
            policy.field,
            f'"{policy.name}";r={self.remaining};t={reset_after}',
        )

    def retry_after_seconds(self) -> int:
        """Retry-After: whole seconds, at least 1."""
        return max(1, math.ceil(self.retry_after - _EPSILON))


class Buckets:
    """One policy's buckets, one per key (a principal's name, an address)."""

    def __init__(self, policy: RateLimitPolicy, clock: Clock, *, max_keys: int = MAX_KEYS) -> None:
        self.policy = policy
        self._clock = clock
        self._max_keys = max_keys
        self._tats: dict[str, float] = {}  # key -> theoretical arrival time, epoch seconds

    def __len__(self) -> int:
        return len(self._tats)

    def hit(self, key: str) -> RateLimitState:
        """Spend one request of `key`'s bucket, unless it is empty: then the state says it is refused."""
        now = self._clock.timestamp()
        policy = self.policy
        tat = self._tats.get(key, now)
        if tat < now:
            tat = now
        new_tat = tat + policy.interval
        allowed_from = new_tat - policy.window  # the earliest time this request fits in the bucket
        if allowed_from > now + _EPSILON:
            return RateLimitState(policy, False, 0, tat - now, allowed_from - now, now)
        if key not in self._tats and len(self._tats) >= self._max_keys:
            self._make_room(now)
        self._tats[key] = new_tat
        remaining = int((now + policy.window - new_tat) / policy.interval + _EPSILON)
        return RateLimitState(policy, True, remaining, new_tat - now, 0.0, now)

    def refund(self, key: str) -> None:
        """Give back the request `hit` spent for `key` (it turned out not to count)."""
        tat = self._tats.get(key)
        if tat is not None:
            self._tats[key] = tat - self.policy.interval

    def _make_room(self, now: float) -> None:
        # Full buckets first: forgetting them changes nothing. Then, if a flood keeps every entry busy, the oldest
        # quarter: those callers start again with a full bucket, which bounds memory at the price of some leniency.
        for key in [key for key, tat in self._tats.items() if tat <= now]:
            del self._tats[key]
        excess = len(self._tats) - self._max_keys * 3 // 4
        if excess > 0:
            for key in list(itertools.islice(self._tats, excess)):
                del self._tats[key]


class RateLimiter:
    def __init__(
        self,
        clock: Clock,
        *,
        per_principal: int,
        per_address: int,
        failed_auth_per_address: int,
        max_keys: int = MAX_KEYS,
    ) -> None:
        self.principals = Buckets(RateLimitPolicy("token", per_principal), clock, max_keys=max_keys)
        self.addresses = Buckets(RateLimitPolicy("address", per_address), clock, max_keys=max_keys)
        self.failed_auth = Buckets(RateLimitPolicy("failed-auth", failed_auth_per_address), clock, max_keys=max_keys)


RATE_LIMITER = web.AppKey("rate_limiter", RateLimiter)


def create_rate_limiter(app: web.Application) -> None:
    settings = app[SETTINGS]
    app[RATE_LIMITER] = RateLimiter(
        app[CLOCK],
        per_principal=settings.rate_limit_per_minute,
        per_address=settings.rate_limit_anon_per_minute,
        failed_auth_per_address=settings.rate_limit_failed_auth_per_minute or settings.rate_limit_anon_per_minute,
    )


def address_key(remote: str | None) -> str:
    """The key of a client address. An IPv6 host usually holds a whole /64, so its addresses count as one."""
    if not remote:
        return "-"
    try:
        address = ipaddress.ip_address(remote)
    except ValueError:  # not an IP address (a Unix socket's peer, say): its text is the key
        return remote
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def _refuse(state: RateLimitState, what: str) -> RateLimited:
    retry_after = state.retry_after_seconds()
    return RateLimited(f"{what}; retry in {retry_after} s", headers={"Retry-After": str(retry_after)})


async def identify_within_failure_budget(
    app: web.Application, request: web.Request, context: RequestContext
) -> Principal | None:
    """Look the request's token up in the database (the cache did not know it), if its address has failed token
    checks left this minute; refuse it with 429 before the lookup otherwise. The budget is spent before the lookup
    and given back when the token is valid, so concurrent requests cannot all slip through on the same balance."""
    failed_auth = app[RATE_LIMITER].failed_auth
    key = address_key(request.remote)
    state = failed_auth.hit(key)
    if not state.allowed:
        context.rate_limit = state
        raise _refuse(state, f"too many failed token checks from your address ({state.policy.quota} a minute)")
    principal = await identify(app, request, context)
    if principal is not None:
        failed_auth.refund(key)
    return principal


def enforce_rate_limit(
    app: web.Application, request: web.Request, context: RequestContext, principal: Principal | None
) -> None:
    """The rate-limit stage: count the request against its caller (its token's principal, else its address) and
    refuse it past the limit. The state goes on the context for the response headers."""
    limiter = app[RATE_LIMITER]
    if principal is not None:
        state = limiter.principals.hit(principal.name)
    else:
        state = limiter.addresses.hit(address_key(request.remote))
    context.rate_limit = state
    if not state.allowed:
        raise _refuse(state, f"rate limit of {state.policy.quota} requests per minute exceeded")
