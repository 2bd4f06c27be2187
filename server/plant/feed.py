"""The venue's market-data feed, behind the plant's `connector` component: the subscriptions it holds, the messages
per second it delivers, the backlog its consumer (the execution engine) has not taken yet, and the profile
(primary or backup venue connection) it runs on.

Its numbers follow the plant: a stopped or restarting connector delivers nothing and holds no subscriptions; once
running again it resubscribes over RESUBSCRIBE_SECONDS, and throughput ramps with it. A failover switches the
profile, costs a failover latency and a shorter resubscription. While the execution engine is down the backlog
grows by what arrives; once it is back it drains. Everything reads the injected clock, so tests move time by hand,
and the noise comes from a generator of the feed's own, seeded from the plant's seed: reading the feed never
changes the plant's own sequence of trades."""

import math
import random
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from server.clock import Clock
from server.errors import Conflict
from shared.control import ComponentState

Profile = Literal["primary", "backup"]

EXPECTED_SUBSCRIPTIONS = 1280
# Subscriptions the venue lists but deliberately does not consume (delisted, halted): never expected to match.
IGNORED_SUBSCRIPTIONS = 2
NOMINAL_MPS = 5400.0
RESUBSCRIBE_SECONDS = 15.0  # from connector start to every subscription active again
FAILOVER_RESUBSCRIBE_SECONDS = 3.0  # the backup session is warm: only the switch itself
# The consumer takes up to this many times the nominal rate, so a backlog drains once it is back.
DRAIN_FACTOR = 1.5
IN_FLIGHT_SECONDS = 0.005
MAX_BACKLOG = 50_000_000  # the broker's queue bound: beyond it messages are dropped, not queued
# The backup venue connection carries fewer instruments and less depth.
PROFILE_COVERAGE: dict[Profile, float] = {"primary": 0.9990, "backup": 0.9930}
PROFILE_RATE: dict[Profile, float] = {"primary": 1.0, "backup": 0.92}
FAILOVER_LATENCY_MS = (1800.0, 0.2)  # median and log-normal sigma of a profile switch


class FeedHost(Protocol):
    """What the feed reads of the plant: a component's state and since when it has been in it."""

    def state_since(self, name: str) -> tuple[ComponentState, datetime]: ...


class FeedRefused(Conflict):
    """A failover or failback that cannot happen in the feed's current state."""

    code = "feed_refused"


@dataclass(frozen=True, slots=True)
class FeedSnapshot:
    """The feed as measured at `at`."""

    at: datetime
    profile: Profile
    connector: ComponentState
    expected_total: int
    active_total: int
    matched_total: int
    ignored_total: int
    throughput_mps: float
    backlog_messages: int
    last_failover_latency_ms: float | None

    @property
    def coverage_ratio(self) -> float:
        """Matched subscriptions over those expected to match (the ignored ones are not)."""
        wanted = self.expected_total - self.ignored_total
        return self.matched_total / wanted if wanted > 0 else 0.0


class MarketDataFeed:
    def __init__(self, host: FeedHost, clock: Clock, rng: random.Random) -> None:
        self._host = host
        self._clock = clock
        self._random = rng
        self.profile: Profile = "primary"
        self._switched_at: datetime | None = None  # the last failover or failback
        self.last_failover_latency_ms: float | None = None
        self._backlog = 0.0
        self._advanced_at = self._created_at = clock.now()
        self._drift = 1.0  # slow random walk of the market's activity around nominal

    # --- reading ---

    def snapshot(self) -> FeedSnapshot:
        """The feed now: subscriptions, throughput with noise, backlog. Each call is one measurement."""
        now = self._clock.now()
        self._advance(now)
        connector, since = self._host.state_since("connector")
        ramp = self._ramp(connector, since, now)
        expected, ignored = EXPECTED_SUBSCRIPTIONS, IGNORED_SUBSCRIPTIONS
        wanted = expected - ignored
        if ramp <= 0.0:
            active = matched = 0
            throughput = 0.0
        else:
            # A few subscriptions are always between resubscribing and active: Poisson-like noise around coverage.
            mean_missing = (1 - PROFILE_COVERAGE[self.profile]) * wanted
            missing = max(0, round(self._random.gauss(mean_missing, math.sqrt(mean_missing))))
            matched = max(0, min(wanted, round(wanted * ramp) - missing))
            # Active: matched plus the ignored ones (subscribed, deliberately unconsumed) once the ramp reaches them.
            active = min(expected, matched + (ignored if ramp >= 1.0 else 0))
            noise = self._random.gauss(1.0, 0.03)
            throughput = max(0.0, NOMINAL_MPS * PROFILE_RATE[self.profile] * self._drift * ramp * noise)
        return FeedSnapshot(
            at=now,
            profile=self.profile,
            connector=connector,
            expected_total=expected,
            active_total=active,
            matched_total=matched,
            ignored_total=ignored,
            throughput_mps=round(throughput, 1),
            # Messages in flight to the consumer always count: a few milliseconds' worth.
            backlog_messages=int(self._backlog + throughput * IN_FLIGHT_SECONDS),
            last_failover_latency_ms=self.last_failover_latency_ms,
        )

    # --- commanding (the runbooks' failover and failback) ---

    def failover(self) -> float:
        """Switch to the backup profile. Returns the failover latency in ms, also kept as the latest one."""
        return self._switch("backup")

    def failback(self) -> float:
        """Return to the primary profile. Returns the switch's latency in ms, also kept as the latest one."""
        return self._switch("primary")

    def _switch(self, to: Profile) -> float:
        if self.profile == to:
            raise FeedRefused(f"the feed already runs on the {to} profile")
        connector, _ = self._host.state_since("connector")
        if connector != "running":
            raise FeedRefused(f"the connector is {connector}; the feed can switch profiles only while it runs")
        now = self._clock.now()
        self._advance(now)
        median, sigma = FAILOVER_LATENCY_MS
        latency = round(median * math.exp(self._random.gauss(0.0, sigma)), 1)
        self.profile = to
        self._switched_at = now
        self.last_failover_latency_ms = latency
        return latency

    # --- simulation ---

    def tick(self) -> None:
        """One step of the plant's simulation: the market's activity drifts, the backlog moves."""
        self._advance(self._clock.now())
        # Mean-reverting walk: activity wanders by a few percent, never far from nominal.
        self._drift += 0.1 * (1.0 - self._drift) + self._random.gauss(0.0, 0.01)
        self._drift = min(1.3, max(0.7, self._drift))

    def _ramp(self, connector: ComponentState, since: datetime, now: datetime) -> float:
        """How far the feed is from a cold connector (0) to fully subscribed (1)."""
        if connector != "running":
            return 0.0
        # Running since the plant was made: the feed was up before the simulation began.
        ramp = 1.0 if since <= self._created_at else min(1.0, (now - since).total_seconds() / RESUBSCRIBE_SECONDS)
        if self._switched_at is not None:
            switched = (now - self._switched_at).total_seconds() / FAILOVER_RESUBSCRIBE_SECONDS
            ramp = min(ramp, max(0.2, min(1.0, switched)))  # the warm backup keeps most of the book while switching
        return max(0.0, ramp)

    def _advance(self, now: datetime) -> None:
        """Move the backlog from the last reading to `now`, at today's rates (readings are seconds apart)."""
        elapsed = (now - self._advanced_at).total_seconds()
        if elapsed <= 0:
            return
        self._advanced_at = now
        connector, since = self._host.state_since("connector")
        inflow = NOMINAL_MPS * PROFILE_RATE[self.profile] * self._ramp(connector, since, now)
        engine, _ = self._host.state_since("execution_engine")
        drain = NOMINAL_MPS * DRAIN_FACTOR if engine == "running" else 0.0
        self._backlog = min(float(MAX_BACKLOG), max(0.0, self._backlog + (inflow - drain) * elapsed))
