"""Headers on every response: nosniff, no-store when authenticated, the request id, the rate-limit state."""

import re

import pytest

AUTH = {"Authorization": "Bearer admin-secret"}

# (method, path, headers, json body, expected status): successes and each kind of failure.
RESPONSES = [
    ("GET", "/ops/status", AUTH, None, 200),
    ("GET", "/ops/whoami", AUTH, None, 200),
    ("POST", "/ops/command", AUTH, {"command": "restart", "component": "mt5_bridge"}, 200),
    ("POST", "/ops/command", AUTH, {"command": "restart"}, 400),
    ("GET", "/ops/status", {}, None, 401),
    ("GET", "/ops/status", {"Authorization": "Bearer wrong"}, None, 401),
    ("GET", "/ops/runbook?name=nope", AUTH, None, 404),
    ("GET", "/ops/nowhere", AUTH, None, 404),
    ("GET", "/nowhere", {}, None, 404),
    ("POST", "/ops/status", AUTH, None, 405),
    ("POST", "/ops/command", AUTH, {"command": "stop", "component": "x" * (1024 * 1024)}, 413),
]
IDS = [f"{m} {p} -> {s}" for m, p, _, _, s in RESPONSES]
ERRORS = [r for r in RESPONSES if r[4] >= 400]
ERROR_IDS = [i for i, r in zip(IDS, RESPONSES, strict=True) if r[4] >= 400]


@pytest.mark.parametrize(("method", "path", "headers", "body", "status"), RESPONSES, ids=IDS)
async def test_every_response_carries_nosniff_request_id_and_rate_limit_headers(
    client, method, path, headers, body, status
):
    response = await client.request(method, path, headers=headers, json=body)

    assert response.status == status
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])
    assert int(response.headers["X-RateLimit-Limit"]) == 10_000
    assert 0 <= int(response.headers["X-RateLimit-Remaining"]) < 10_000
    assert int(response.headers["X-RateLimit-Reset"]) > 0


@pytest.mark.parametrize(("method", "path", "headers", "body", "status"), ERRORS, ids=ERROR_IDS)
async def test_every_error_is_json_in_the_control_envelope(client, method, path, headers, body, status):
    response = await client.request(method, path, headers=headers, json=body)

    assert response.status == status
    assert response.content_type == "application/json"
    body = await response.json()
    assert {"error", "detail"} <= set(body) <= {"error", "detail", "errors", "sections"}
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["detail"], str) and body["detail"]


async def test_unknown_route_is_404_naming_the_path(client):
    response = await client.get("/ops/nowhere", headers=AUTH)

    assert response.status == 404
    assert await response.json() == {"error": "not_found", "detail": "no route /ops/nowhere"}


async def test_wrong_method_is_405_with_allow(client):
    response = await client.post("/ops/status", headers=AUTH)

    assert response.status == 405
    assert "GET" in response.headers["Allow"]
    assert (await response.json())["error"] == "method_not_allowed"


async def test_authenticated_responses_are_not_cacheable(client):
    for response in (
        await client.get("/ops/status", headers=AUTH),
        await client.get("/ops/runbook?name=nope", headers=AUTH),
        await client.post("/ops/command", headers=AUTH, json={"command": "restart", "component": "mt5_bridge"}),
    ):
        assert response.headers["Cache-Control"] == "no-store"


async def test_a_response_to_a_presented_but_bad_token_is_not_cacheable(client):
    response = await client.get("/ops/status", headers={"Authorization": "Bearer wrong"})

    assert response.headers["Cache-Control"] == "no-store"


async def test_request_id_is_echoed_when_given(client):
    response = await client.get("/ops/status", headers={**AUTH, "X-Request-ID": "console-42.a:b_c"})

    assert response.headers["X-Request-ID"] == "console-42.a:b_c"


async def test_request_id_is_echoed_on_errors_too(client):
    response = await client.get("/ops/status", headers={"X-Request-ID": "req-401"})

    assert response.status == 401
    assert response.headers["X-Request-ID"] == "req-401"


async def test_request_id_is_generated_when_absent(client):
    first = await client.get("/ops/status", headers=AUTH)
    second = await client.get("/ops/status", headers=AUTH)

    assert re.fullmatch(r"[0-9a-f]{32}", first.headers["X-Request-ID"])
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


@pytest.mark.parametrize("unsafe", ["has spaces", "<script>", "x" * 129, "semi;colon", "quote'", "ünïcode"])
async def test_unsafe_request_id_is_replaced(client, unsafe):
    response = await client.get("/ops/status", headers={**AUTH, "X-Request-ID": unsafe})

    assert response.status == 200
    assert response.headers["X-Request-ID"] != unsafe
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])


async def test_head_is_answered_like_get_without_a_body(client):
    response = await client.head("/ops/status", headers=AUTH)

    assert response.status == 200
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert await response.read() == b""


async def test_head_needs_the_same_token_as_get(client):
    response = await client.head("/ops/status")

    assert response.status == 401
