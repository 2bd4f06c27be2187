"""Bad input to POST /ops/command: each is a 400 (or 413) naming what was wrong, never a 500, and changes
nothing: no confirmation is issued and the plant is as it was."""

import pytest
from aiohttp import web

from server.http.routes import check_routes
from server.plant.plant import Plant
from shared.control import StatusSnapshot

AUTH = {"Authorization": "Bearer admin-secret", "Content-Type": "application/json"}
STOP = {"command": "stop", "component": "connector"}


async def _post_raw(client, data: bytes | str):
    return await client.post("/ops/command", data=data, headers=AUTH)


async def _assert_nothing_changed(ops, before: dict) -> None:
    assert ops.table("confirmations") == []
    assert await ops.status() == before


@pytest.mark.parametrize(
    ("raw", "code", "named"),
    [
        (b"", "empty_body", "empty"),
        (b"   \n", "empty_body", "empty"),
        (b"{not json", "malformed_json", "not valid JSON"),
        (b'{"command": "stop",}', "malformed_json", "not valid JSON"),
        (b"\xff\xfe\x00garbage", "malformed_json", "not valid JSON"),
        (b"[]", "invalid_body", "JSON object"),
        (b'"stop connector"', "invalid_body", "JSON object"),
        (b"42", "invalid_body", "JSON object"),
        (b"null", "invalid_body", "JSON object"),
    ],
    ids=["empty", "whitespace", "truncated", "trailing-comma", "not-utf8", "array", "string", "number", "null"],
)
async def test_unparseable_body_is_400_naming_the_problem(ops, raw, code, named):
    before = await ops.status()

    response = await _post_raw(ops.client, raw)

    assert response.status == 400
    body = await response.json()
    assert body["error"] == code
    assert named in body["detail"]
    await _assert_nothing_changed(ops, before)


@pytest.mark.parametrize(
    ("body", "loc", "error_type"),
    [
        ({"component": "connector"}, "command", "missing"),
        ({"command": "stop"}, "component", "missing"),
        ({"command": "explode", "component": "connector"}, "command", "literal_error"),
        ({"command": "STOP", "component": "connector"}, "command", "literal_error"),
        ({"command": 1, "component": "connector"}, "command", "literal_error"),
        ({"command": "stop", "component": 5}, "component", "string_type"),
        ({"command": "stop", "component": ""}, "component", "string_too_short"),
        ({"command": "stop", "component": "c" * 65}, "component", "string_too_long"),
        ({**STOP, "params": []}, "params", "model_type"),
        ({**STOP, "params": None}, "params", "model_type"),
        ({**STOP, "params": {"reason": 3}}, "params.reason", "string_type"),
        (
            {**STOP, "params": {"reason": "r" * 201}},
            "params.reason",
            "string_too_long",
        ),
        ({**STOP, "params": {"force": True}}, "params.force", "extra_forbidden"),
        ({**STOP, "user": "root"}, "user", "extra_forbidden"),
        ({**STOP, "confirm_token": ""}, "confirm_token", "string_too_short"),
        ({**STOP, "confirm_token": 7}, "confirm_token", "string_type"),
    ],
)
async def test_invalid_fields_are_400_listing_each_field(ops, body, loc, error_type):
    before = await ops.status()

    response = await ops.post(body)

    assert response.status == 400
    answer = await response.json()
    assert answer["error"] == "validation_failed"
    assert {"loc": loc, "type": error_type} in [{"loc": d["loc"], "type": d["type"]} for d in answer["errors"]]
    await _assert_nothing_changed(ops, before)


async def test_every_invalid_field_is_listed_at_once(ops):
    response = await ops.post({"command": "explode", "component": 5, "extra": 1})

    assert response.status == 400
    locs = {d["loc"] for d in (await response.json())["errors"]}
    assert locs == {"command", "component", "extra"}


async def test_unknown_component_is_400_listing_the_known_ones(ops, plant):
    before = await ops.status()

    response = await ops.post({"command": "stop", "component": "flux_capacitor"})

    assert response.status == 400
    body = await response.json()
    assert body["error"] == "unknown_component"
    assert "flux_capacitor" in body["detail"]
    assert all(name in body["detail"] for name in plant.component_names)
    await _assert_nothing_changed(ops, before)


async def test_unknown_component_on_confirm_is_400(ops):
    token = await ops.request("restart", "mt5_bridge")

    response = await ops.confirm("restart", "nothing", token)

    assert response.status == 400
    assert (await response.json())["error"] == "unknown_component"
    assert await ops.component_state("mt5_bridge") == "running"


async def test_body_over_max_body_bytes_is_413_in_the_envelope(ops_with):
    ops = await ops_with(max_body_bytes=1024)
    before = await ops.status()
    big = '{**STOP, "params": {"reason": "' + "x" * 2000 + '"}}'

    response = await _post_raw(ops.client, big)

    assert response.status == 413
    body = await response.json()
    assert body["error"] == "payload_too_large"
    assert "1024 bytes" in body["detail"]
    await _assert_nothing_changed(ops, before)


async def test_body_of_exactly_max_body_bytes_is_accepted(ops_with):
    ops = await ops_with(max_body_bytes=1024)
    body = '{"command": "restart", "component": "mt5_bridge", "params": {"reason": "' + "x" * 200 + '"}}'

    response = await _post_raw(ops.client, body.ljust(1024))

    assert response.status == 200


async def test_body_one_byte_over_max_body_bytes_is_413(ops_with):
    ops = await ops_with(max_body_bytes=1024)
    body = '{"command": "restart", "component": "mt5_bridge"}'

    response = await _post_raw(ops.client, body.ljust(1025))

    assert response.status == 413


@pytest.mark.parametrize(
    "raw",
    [
        "[" * 100_000,
        '{**STOP, "params": {"reason": ' + "1" * 5000 + "}}",
        '{**STOP, "params": {"reason": NaN}}',
        '{"command": "stop", "component": 1e999}',
        '{"command": "stop", "component": "connector\\u0000"}',
        '{"command": "stop", "component": "\\ud800"}',
        '{"command": "stop", "command": "start", "component": "mt5"}',
        '{"a":' * 5000 + "1" + "}" * 5000,
    ],
    ids=["deep-array", "huge-int", "nan", "inf", "nul-char", "lone-surrogate", "duplicate-key", "deep-object"],
)
async def test_hostile_bodies_are_400_never_500(ops, raw):
    before = await ops.status()

    response = await _post_raw(ops.client, raw)

    assert response.status == 400, await response.text()
    assert (await response.json())["error"] in {"malformed_json", "validation_failed", "unknown_component"}
    await _assert_nothing_changed(ops, before)


async def test_a_refused_command_issues_no_confirmation(ops):
    before = await ops.status()

    response = await ops.post({"command": "stop", "component": "database"})

    assert response.status == 409
    await _assert_nothing_changed(ops, before)


async def test_get_query_junk_is_400_not_500(ops):
    response = await ops.get("/ops/audit", params={"limit": "9" * 5000})

    assert response.status == 400


class _BrokenPlant(Plant):
    def snapshot(self) -> StatusSnapshot:
        raise RuntimeError("sensor bus on fire: secret=hunter2")


async def test_an_unexpected_error_is_500_in_the_envelope_without_internals(ops_with, clock):
    ops = await ops_with(plant=_BrokenPlant(clock))

    response = await ops.get("/ops/status", headers={"X-Request-ID": "req-500"})

    assert response.status == 500
    body = await response.json()
    assert body == {"error": "internal_error", "detail": "internal error; quote request id req-500"}
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    rows = await ops.audit_rows()
    assert [(r["request_id"], r["outcome"], r["status"]) for r in rows] == [("req-500", "internal_error", 500)]


def test_a_route_that_declares_no_access_stops_the_app_from_starting():
    app = web.Application()

    async def handler(request: web.Request) -> web.Response:
        return web.Response()

    app.router.add_get("/ops/open", handler)

    with pytest.raises(RuntimeError, match="GET /ops/open declares no access"):
        check_routes(app)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/ops/nothing", {"error": "not_found", "detail": "no route /ops/nothing"}),
        ("/api/ops/nothing", {"detail": "no route /api/ops/nothing"}),
        ("/ops/api/nothing", {"detail": "no route /ops/api/nothing"}),
        (
            "/api/v1/nothing",
            {
                "error": {
                    "code": "OPS_AGENT_NOT_FOUND",
                    "message": "no route /api/v1/nothing",
                    "details": {"code": "not_found"},
                }
            },
        ),
        (
            "/ops/ci/nothing",
            {
                "code": 404,
                "message": "Not Found",
                "error": "no route /ops/ci/nothing",
                "details": {"code": "not_found"},
            },
        ),
        ("/webhooksX", {"error": "not_found", "detail": "no route /webhooksX"}),  # not under /webhooks
        (
            "/webhooks/nothing/here",  # no route: /webhooks/{webhook_id} exists, nothing below it by that name
            {
                "code": 404,
                "message": "Not Found",
                "error": "no route /webhooks/nothing/here",
                "details": {"code": "not_found"},
            },
        ),
    ],
)
async def test_unknown_routes_answer_in_their_familys_envelope(client, path, expected):
    response = await client.get(path)

    assert response.status == 404
    assert await response.json() == expected
