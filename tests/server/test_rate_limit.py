"""Rate limiting: fixed one-minute windows per token and, for anonymous callers, per client address."""

import pytest

from server.clock import ManualClock
from server.http.rate_limit import RateLimiter
from server.keys import PLANT, TOKENS

AUTH = {"Authorization": "Bearer admin-secret"}


@pytest.fixture
async def limited(start_app, make_settings):
    """An app with the default limits: 100 per token, 10 per anonymous address, per minute."""
    return await start_app(make_settings(rate_limit_per_minute=100, rate_limit_anon_per_minute=10))


async def _spend(client, n: int, headers: dict[str, str]) -> list[int]:
    return [(await client.get("/ops/whoami", headers=headers)).status for _ in range(n)]


async def test_101st_request_of_a_token_in_a_minute_is_429(limited):
    assert set(await _spend(limited, 100, AUTH)) == {200}

    response = await limited.get("/ops/whoami", headers=AUTH)

    assert response.status == 429
    assert response.headers["Retry-After"] == "60"
    body = await response.json()
    assert body["error"] == "rate_limited"
    assert "100 requests per minute" in body["detail"]
    assert response.headers["X-RateLimit-Remaining"] == "0"


async def test_11th_anonymous_request_in_a_minute_is_429(limited):
    assert set(await _spend(limited, 10, {})) == {401}

    response = await limited.get("/ops/whoami")

    assert response.status == 429
    assert "Retry-After" in response.headers
    assert (await response.json())["error"] == "rate_limited"


async def test_bad_tokens_count_against_the_anonymous_limit(limited):
    await _spend(limited, 10, {"Authorization": "Bearer guess"})

    response = await limited.get("/ops/whoami", headers={"Authorization": "Bearer another-guess"})

    assert response.status == 429


async def test_remaining_counts_down_within_a_window(limited, clock):
    statuses = []
    for _ in range(3):
        response = await limited.get("/ops/whoami", headers=AUTH)
        statuses.append(
            (response.headers["X-RateLimit-Limit"], response.headers["X-RateLimit-Remaining"]),
        )

    assert statuses == [("100", "99"), ("100", "98"), ("100", "97")]
    assert int(response.headers["X-RateLimit-Reset"]) == int(clock.now().timestamp()) + 60


async def test_a_new_window_resets_the_count(limited, clock):
    await _spend(limited, 101, AUTH)
    assert (await limited.get("/ops/whoami", headers=AUTH)).status == 429

    clock.advance(60)

    response = await limited.get("/ops/whoami", headers=AUTH)
    assert response.status == 200
    assert response.headers["X-RateLimit-Remaining"] == "99"


async def test_retry_after_counts_down_to_the_end_of_the_window(start_app, make_settings, clock):
    client = await start_app(make_settings(rate_limit_per_minute=1))
    await client.get("/ops/whoami", headers=AUTH)
    clock.advance(45.5)

    response = await client.get("/ops/whoami", headers=AUTH)

    assert response.status == 429
    assert response.headers["Retry-After"] == "15"


async def test_each_token_has_its_own_budget(start_app, make_settings):
    client = await start_app(make_settings(rate_limit_per_minute=2))
    reader = await client.app[TOKENS].create("reader", "ops:read")
    await _spend(client, 2, AUTH)
    assert (await client.get("/ops/whoami", headers=AUTH)).status == 429

    response = await client.get("/ops/whoami", headers={"Authorization": f"Bearer {reader}"})

    assert response.status == 200


async def test_anonymous_callers_do_not_spend_a_tokens_budget(start_app, make_settings):
    client = await start_app(make_settings(rate_limit_per_minute=5, rate_limit_anon_per_minute=1))
    await _spend(client, 3, {})

    assert set(await _spend(client, 5, AUTH)) == {200}


async def test_limits_are_configurable(start_app, make_settings):
    client = await start_app(make_settings(rate_limit_per_minute=3, rate_limit_anon_per_minute=2))

    assert await _spend(client, 4, AUTH) == [200, 200, 200, 429]
    assert await _spend(client, 3, {}) == [401, 401, 429]


async def test_a_rate_limited_command_changes_nothing(start_app, make_settings):
    client = await start_app(make_settings(rate_limit_per_minute=1))
    await client.get("/ops/whoami", headers=AUTH)

    response = await client.post("/ops/command", headers=AUTH, json={"command": "restart", "component": "mt5_bridge"})

    assert response.status == 429
    assert client.app[PLANT].state_of("mt5_bridge") == "running"


def test_rate_limiter_forgets_old_windows():
    clock = ManualClock()
    limiter = RateLimiter(clock, per_principal=3, per_address=3)
    for _ in range(3):
        limiter.hit("a", 3)
    assert limiter.hit("a", 3).allowed is False

    clock.advance(60)

    state = limiter.hit("a", 3)
    assert state.allowed is True
    assert state.remaining == 2
    assert limiter.retry_after(state) == 60
