"""Rate limiting: a token bucket (GCRA) per token, per anonymous address, and per address for failed token checks,
which refuses before the database lookup. Time is the injected ManualClock."""

import asyncio
import secrets

import pytest

from server.clock import ManualClock
from server.http.rate_limit import RATE_LIMITER, Buckets, RateLimitPolicy, address_key
from server.keys import PLANT, TOKENS
from server.storage.tokens import TokenRepository, TokenRow

AUTH = {"Authorization": "Bearer admin-secret"}


def _random_token() -> dict[str, str]:
    return {"Authorization": f"Bearer ops_{secrets.token_urlsafe(32)}"}


async def _spend(client, n: int, headers: dict[str, str]) -> list[int]:
    return [(await client.get("/ops/whoami", headers=headers)).status for _ in range(n)]


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every token digest looked up in the database, in order."""
    seen: list[str] = []
    original = TokenRepository.by_hash

    async def by_hash(self: TokenRepository, token_hash: str) -> TokenRow | None:
        seen.append(token_hash)
        return await original(self, token_hash)

    monkeypatch.setattr(TokenRepository, "by_hash", by_hash)
    return seen


class TestTokenBucket:
    async def test_a_token_may_spend_its_quota_at_once_and_then_waits_for_the_refill(self, start_app, make_settings):
        client = await start_app(make_settings(rate_limit_per_minute=100))
        assert set(await _spend(client, 100, AUTH)) == {200}

        response = await client.get("/ops/whoami", headers=AUTH)

        assert response.status == 429
        # One request's share of the minute: 0.6 s, rounded up.
        assert response.headers["Retry-After"] == "1"
        body = await response.json()
        assert body["error"] == "rate_limited"
        assert "100 requests per minute" in body["detail"]
        assert response.headers["X-RateLimit-Remaining"] == "0"

    async def test_39_requests_in_3_5_s_across_a_minute_boundary_are_held_to_the_limit(
        self, start_app, make_settings, clock
    ):
        client = await start_app(make_settings(rate_limit_per_minute=20))
        clock.advance(58.5)  # 1.5 s before a minute ends: fixed windows let 20 through on each side of it
        statuses = []
        for n in range(39):
            statuses.append((await client.get("/ops/whoami", headers=AUTH)).status)
            clock.advance(1.5 / 19 if n < 19 else 2 / 19)

        # The quota, and the one request the 3.5 s refilled (one every 3 s), no more.
        assert statuses.count(200) == 21
        assert statuses[:20] == [200] * 20

    async def test_the_steady_rate_is_always_allowed(self, start_app, make_settings, clock):
        client = await start_app(make_settings(rate_limit_per_minute=20))
        statuses = []
        for _ in range(100):  # five minutes at exactly the limit
            statuses.append((await client.get("/ops/whoami", headers=AUTH)).status)
            clock.advance(3)

        assert set(statuses) == {200}

    async def test_an_emptied_bucket_refills_one_request_per_interval(self, start_app, make_settings, clock):
        client = await start_app(make_settings(rate_limit_per_minute=20))
        await _spend(client, 20, AUTH)
        refused = await client.get("/ops/whoami", headers=AUTH)
        assert refused.status == 429
        assert refused.headers["Retry-After"] == "3"

        clock.advance(3)

        assert await _spend(client, 2, AUTH) == [200, 429]

    async def test_retry_after_counts_down_to_when_a_request_fits(self, start_app, make_settings, clock):
        client = await start_app(make_settings(rate_limit_per_minute=1))
        await client.get("/ops/whoami", headers=AUTH)
        clock.advance(45.5)

        response = await client.get("/ops/whoami", headers=AUTH)

        assert response.status == 429
        assert response.headers["Retry-After"] == "15"

    async def test_each_token_has_its_own_budget(self, start_app, make_settings):
        client = await start_app(make_settings(rate_limit_per_minute=2))
        reader = await client.app[TOKENS].create("reader", "ops:read")
        await _spend(client, 2, AUTH)
        assert (await client.get("/ops/whoami", headers=AUTH)).status == 429

        response = await client.get("/ops/whoami", headers={"Authorization": f"Bearer {reader}"})

        assert response.status == 200

    async def test_anonymous_callers_do_not_spend_a_tokens_budget(self, start_app, make_settings):
        client = await start_app(make_settings(rate_limit_per_minute=5, rate_limit_anon_per_minute=1))
        await _spend(client, 3, {})

        assert set(await _spend(client, 5, AUTH)) == {200}

    async def test_limits_are_configurable(self, start_app, make_settings):
        client = await start_app(make_settings(rate_limit_per_minute=3, rate_limit_anon_per_minute=2))

        assert await _spend(client, 4, AUTH) == [200, 200, 200, 429]
        assert await _spend(client, 3, {}) == [401, 401, 429]

    async def test_a_rate_limited_command_changes_nothing(self, start_app, make_settings):
        client = await start_app(make_settings(rate_limit_per_minute=1))
        await client.get("/ops/whoami", headers=AUTH)

        response = await client.post(
            "/ops/command", headers=AUTH, json={"command": "restart", "component": "mt5_bridge"}
        )

        assert response.status == 429
        assert client.app[PLANT].state_of("mt5_bridge") == "running"


class TestHeaders:
    async def test_the_x_and_the_ietf_fields_count_down_together(self, start_app, make_settings, clock):
        client = await start_app(make_settings(rate_limit_per_minute=20))
        now = int(clock.timestamp())
        seen = []
        for _ in range(3):
            response = await client.get("/ops/whoami", headers=AUTH)
            headers = response.headers
            seen.append(
                (
                    headers["X-RateLimit-Limit"],
                    headers["X-RateLimit-Remaining"],
                    headers["X-RateLimit-Reset"],
                    headers["RateLimit-Policy"],
                    headers["RateLimit"],
                )
            )

        # Each request takes 3 s of the bucket: the quota is whole again 3, 6, 9 s from now.
        assert seen == [
            ("20", "19", str(now + 3), '"token";q=20;w=60', '"token";r=19;t=3'),
            ("20", "18", str(now + 6), '"token";q=20;w=60', '"token";r=18;t=6'),
            ("20", "17", str(now + 9), '"token";q=20;w=60', '"token";r=17;t=9'),
        ]

    async def test_a_refusal_names_its_policy_with_nothing_left(self, start_app, make_settings):
        client = await start_app(make_settings(rate_limit_per_minute=10_000, rate_limit_anon_per_minute=2))
        await _spend(client, 2, {})

        response = await client.get("/ops/whoami")

        assert response.status == 429
        assert response.headers["RateLimit-Policy"] == '"address";q=2;w=60'
        assert response.headers["RateLimit"] == '"address";r=0;t=60'
        assert response.headers["X-RateLimit-Remaining"] == "0"
        assert response.headers["Retry-After"] == "30"

    async def test_the_quota_is_whole_again_after_the_window(self, start_app, make_settings, clock):
        client = await start_app(make_settings(rate_limit_per_minute=3))
        await _spend(client, 4, AUTH)

        clock.advance(60)

        response = await client.get("/ops/whoami", headers=AUTH)
        assert response.status == 200
        assert response.headers["RateLimit"] == '"token";r=2;t=20'


class TestFailedAuthentication:
    async def test_an_address_past_its_failed_checks_is_refused_before_the_lookup(
        self, start_app, make_settings, lookups
    ):
        client = await start_app(make_settings(rate_limit_failed_auth_per_minute=3))

        statuses = [(await client.get("/ops/whoami", headers=_random_token())).status for _ in range(10)]

        assert statuses == [401] * 3 + [429] * 7
        assert len(lookups) == 3

    async def test_the_refusal_says_when_to_try_again(self, start_app, make_settings):
        client = await start_app(make_settings(rate_limit_failed_auth_per_minute=3))
        for _ in range(3):
            await client.get("/ops/whoami", headers=_random_token())

        response = await client.get("/ops/whoami", headers=_random_token())

        assert response.status == 429
        assert response.headers["Retry-After"] == "20"
        assert response.headers["RateLimit-Policy"] == '"failed-auth";q=3;w=60'
        assert "failed token checks" in (await response.json())["detail"]

    async def test_concurrent_random_tokens_cannot_all_reach_the_database(self, start_app, make_settings, lookups):
        client = await start_app(make_settings(rate_limit_failed_auth_per_minute=3))

        responses = await asyncio.gather(*(client.get("/ops/whoami", headers=_random_token()) for _ in range(30)))

        assert sorted(r.status for r in responses) == [401] * 3 + [429] * 27
        assert len(lookups) == 3

    async def test_valid_tokens_spend_nothing_of_the_failure_budget(self, start_app, make_settings, lookups):
        # token_cache_seconds is 0 in tests: every request of the reader is a lookup.
        client = await start_app(make_settings(rate_limit_failed_auth_per_minute=2))
        reader = {"Authorization": f"Bearer {await client.app[TOKENS].create('reader', 'ops:read')}"}

        assert set(await _spend(client, 10, reader)) == {200}
        assert await _spend(client, 3, _random_token()) == [401, 401, 429]
        assert len(lookups) == 12

    async def test_a_token_known_without_lookup_still_passes_while_its_address_is_refused(
        self, start_app, make_settings
    ):
        client = await start_app(make_settings(rate_limit_failed_auth_per_minute=1))
        await _spend(client, 2, _random_token())

        assert await _spend(client, 1, AUTH) == [200]

    async def test_the_budget_refills_with_time(self, start_app, make_settings, clock):
        client = await start_app(make_settings(rate_limit_failed_auth_per_minute=3))
        await _spend(client, 4, _random_token())

        clock.advance(20)

        assert await _spend(client, 2, _random_token()) == [401, 429]

    def test_the_failure_budget_defaults_to_the_anonymous_limit(self, make_settings):
        settings = make_settings(rate_limit_anon_per_minute=7)
        assert settings.rate_limit_failed_auth_per_minute is None


async def test_the_limiter_takes_the_failure_budget_from_the_settings(start_app, make_settings):
    default = await start_app(make_settings(rate_limit_anon_per_minute=7))
    explicit = await start_app(make_settings(rate_limit_anon_per_minute=7, rate_limit_failed_auth_per_minute=4))

    assert default.app[RATE_LIMITER].failed_auth.policy.quota == 7
    assert explicit.app[RATE_LIMITER].failed_auth.policy.quota == 4


class TestMemory:
    def test_a_flood_of_distinct_keys_keeps_the_table_bounded(self):
        buckets = Buckets(RateLimitPolicy("address", 10), ManualClock(), max_keys=1_000)

        for n in range(100_000):
            assert buckets.hit(f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}").allowed

        assert len(buckets) <= 1_000

    def test_idle_callers_go_first(self):
        clock = ManualClock()
        buckets = Buckets(RateLimitPolicy("address", 10), clock, max_keys=100)
        for _ in range(10):
            buckets.hit("busy")
        for n in range(99):
            buckets.hit(f"idle-{n}")
        clock.advance(7)  # the idle ones' single requests are refilled; "busy" got one of its ten back

        buckets.hit("newcomer")

        assert len(buckets) == 2
        # Still remembered: the one request refilled, then nothing (a forgotten caller would have ten).
        assert [buckets.hit("busy").allowed for _ in range(2)] == [True, False]

    def test_the_addresses_of_one_ipv6_host_share_a_bucket(self):
        keys = {address_key(f"2001:db8:1:2::{n:x}") for n in range(1000)}

        assert keys == {"2001:db8:1:2::/64"}
        assert address_key("::ffff:192.0.2.7") == "192.0.2.7"
        assert address_key("192.0.2.7") == "192.0.2.7"
        assert address_key(None) == "-"
