"""OpsClient against a real server on a real port: each method parses its model, each error status raises its
typed error, and an unreachable server is ServerUnavailable."""

import httpx
import pytest

from server.embedded import EmbeddedServer, free_port
from server.keys import AUDIT, TOKENS
from server.settings import Settings
from shared.client import OpsClient
from shared.control import (
    AuditResponse,
    CommandExecuted,
    CommandParams,
    ConfirmationRequired,
    RunbookResponse,
    StatusResponse,
    WhoAmIResponse,
)
from shared.errors import (
    ConfirmationExpired,
    Conflict,
    ControllerUnavailable,
    Forbidden,
    InvalidRequest,
    NotFound,
    OpsClientError,
    RateLimited,
    ServerError,
    ServerUnavailable,
    Unauthorized,
)
from shared.scopes import ALL_SCOPES


class TestMethodsParseTheirModels:
    async def test_whoami(self, admin):
        me = await admin.whoami()

        assert isinstance(me, WhoAmIResponse)
        assert me.principal == "env:OPS_API_TOKEN"
        assert set(me.scopes) == ALL_SCOPES

    async def test_status(self, admin, clock):
        status = await admin.status()

        assert isinstance(status, StatusResponse)
        assert status.status.mode == "live"
        assert status.status.open_positions == 3
        assert status.status.as_of == clock.now()
        assert {c.name for c in status.status.components} >= {"orchestrator", "connector", "mt5_bridge"}

    async def test_runbook_top_and_named(self, admin):
        top = await admin.runbook()
        section = await admin.runbook("going live")

        assert isinstance(top, RunbookResponse)
        assert top.section == "top"
        assert section.section == "Going live"
        assert section.runbook_excerpt.startswith("## Going live")

    async def test_audit_with_a_limit(self, admin, server):
        for _ in range(4):
            await admin.whoami()

        audit = await admin.audit(limit=3)

        assert isinstance(audit, AuditResponse)
        assert audit.limit == 3
        assert len(audit.results) == 3
        assert [e.path for e in audit.results] == ["/ops/whoami"] * 3

    async def test_audit_filters_reach_the_server(self, admin, server):
        await admin.whoami()
        plan = await admin.request_command("restart", "mt5_bridge")
        await admin.confirm_command("restart", "mt5_bridge", plan.confirm_token)

        changes = await admin.audit(changes_only=True)
        confirms = await admin.audit(q="command.confirm")

        assert {e.method for e in changes.results} == {"POST"}
        assert [e.action for e in confirms.results] == ["command.confirm"]

    async def test_request_then_confirm_a_command(self, admin):
        params = CommandParams(reason="bridge flapping")
        plan = await admin.request_command("restart", "mt5_bridge", params)

        assert isinstance(plan, ConfirmationRequired)
        assert plan.expires_in == 60
        assert plan.plan.params.reason == "bridge flapping"

        executed = await admin.confirm_command("restart", "mt5_bridge", plan.confirm_token, params)

        assert isinstance(executed, CommandExecuted)
        assert (executed.result.status, executed.result.action) == ("ok", "restarting")
        assert (await admin.status()).status.mt5_up is None

    async def test_every_call_sends_a_request_id(self, make_client, server):
        ids = iter(["cli-1", "cli-2"])
        client = make_client(server, request_ids=lambda: next(ids))

        await client.whoami()
        await client.status()
        await server.app[AUDIT].flush()

        audit = await make_client(server).audit(limit=2)
        assert [e.request_id for e in audit.results] == ["cli-2", "cli-1"]

    async def test_the_client_closes_as_a_context_manager(self, server):
        async with OpsClient(str(server.make_url("")), "admin-secret") as client:
            await client.whoami()

        with pytest.raises(RuntimeError):
            await client.whoami()


class TestErrorsAreTyped:
    async def test_missing_token_is_unauthorized(self, make_client, server):
        with pytest.raises(Unauthorized) as info:
            await make_client(server, None).status()

        assert info.value.status == 401
        assert info.value.code == "unauthorized"

    async def test_wrong_token_is_unauthorized(self, make_client, server):
        with pytest.raises(Unauthorized) as info:
            await make_client(server, "wrong").whoami()

        assert info.value.code == "invalid_token"

    async def test_missing_scope_is_forbidden(self, make_client, server):
        reader = await server.app[TOKENS].create("reader", "ops:read")

        with pytest.raises(Forbidden) as info:
            await make_client(server, reader).request_command("restart", "mt5_bridge")

        assert info.value.status == 403
        assert info.value.code == "insufficient_scope"
        assert "ops:command" in str(info.value)

    async def test_another_principals_confirm_token_is_forbidden(self, admin, make_client, server):
        operator = await server.app[TOKENS].create("operator", "ops:read,ops:command")
        plan = await admin.request_command("restart", "mt5_bridge")

        with pytest.raises(Forbidden) as info:
            await make_client(server, operator).confirm_command("restart", "mt5_bridge", plan.confirm_token)

        assert info.value.code == "confirm_token_principal_mismatch"

    async def test_replayed_confirm_token_is_conflict(self, admin):
        plan = await admin.request_command("restart", "mt5_bridge")
        await admin.confirm_command("restart", "mt5_bridge", plan.confirm_token)

        with pytest.raises(Conflict) as info:
            await admin.confirm_command("restart", "mt5_bridge", plan.confirm_token)

        assert info.value.status == 409
        assert info.value.code == "confirm_token_used"

    async def test_refused_command_is_conflict_with_the_reason(self, admin):
        with pytest.raises(Conflict) as info:
            await admin.request_command("stop", "database")

        assert info.value.code == "command_refused"
        assert "dry-run" in info.value.detail

    async def test_expired_confirm_token_is_confirmation_expired(self, admin, clock):
        plan = await admin.request_command("restart", "mt5_bridge")
        clock.advance(61)

        with pytest.raises(ConfirmationExpired) as info:
            await admin.confirm_command("restart", "mt5_bridge", plan.confirm_token)

        assert info.value.status == 410
        assert info.value.code == "confirm_token_expired"

    async def test_disabled_controller_is_controller_unavailable(self, start_server, make_client):
        server = await start_server(controller_enabled=False)

        with pytest.raises(ControllerUnavailable) as info:
            await make_client(server).request_command("restart", "mt5_bridge")

        assert info.value.status == 501
        assert info.value.code == "controller_unavailable"

    async def test_rate_limit_is_rate_limited_with_retry_after(self, start_server, make_client, clock):
        server = await start_server(rate_limit_per_minute=1)
        client = make_client(server)
        await client.whoami()
        clock.advance(20)

        with pytest.raises(RateLimited) as info:
            await client.whoami()

        assert info.value.status == 429
        assert info.value.code == "rate_limited"
        assert info.value.retry_after == 40.0

    async def test_unknown_component_is_invalid_request(self, admin):
        with pytest.raises(InvalidRequest) as info:
            await admin.request_command("restart", "warp_drive")

        assert info.value.status == 400
        assert info.value.code == "unknown_component"
        assert "warp_drive" in info.value.detail

    async def test_unknown_command_is_invalid_request_listing_the_field(self, admin):
        with pytest.raises(InvalidRequest) as info:
            await admin.request_command("explode", "connector")  # type: ignore[arg-type]

        assert info.value.code == "validation_failed"
        assert isinstance(info.value.detail, str)
        assert "command" in info.value.detail
        assert info.value.body["errors"][0]["loc"] in ("command", ["command"])

    async def test_out_of_range_audit_limit_is_invalid_request(self, admin):
        with pytest.raises(InvalidRequest):
            await admin.audit(limit=501)

    async def test_unknown_runbook_section_is_not_found_with_the_sections(self, admin):
        with pytest.raises(NotFound) as info:
            await admin.runbook("no such thing")

        assert info.value.code == "unknown_section"
        assert info.value.detail == "no playbook section named 'no such thing'"
        assert "Going live" in info.value.body["sections"]

    async def test_connection_refused_is_server_unavailable(self):
        async with OpsClient(f"http://127.0.0.1:{free_port()}", "admin-secret", timeout=5) as client:
            with pytest.raises(ServerUnavailable) as info:
                await client.status()

        assert "cannot reach" in str(info.value)
        assert info.value.status is None


def _mock_client(handler) -> OpsClient:
    return OpsClient("http://ops.test", "t", transport=httpx.MockTransport(handler))


class TestResponsesNoServerSends:
    """Mapping of answers the real server does not give on purpose (a 500, a proxy's HTML page, a 413 from a
    front end), through a mock transport."""

    async def test_500_is_a_server_error_with_the_servers_code_and_detail(self):
        detail = "audit entry 2 cannot be read; run 'ops-server audit verify'"
        client = _mock_client(lambda r: httpx.Response(500, json={"error": "data_corrupted", "detail": detail}))

        with pytest.raises(ServerError) as info:
            await client.audit()

        assert not isinstance(info.value, ServerUnavailable)  # the server answered: not a lost connection
        assert (info.value.status, info.value.code, info.value.detail) == (500, "data_corrupted", detail)
        assert str(info.value) == f"500 data_corrupted: {detail}"

    @pytest.mark.parametrize("status", [505, 507, 599])
    async def test_other_5xx_are_server_errors(self, status):
        client = _mock_client(lambda r: httpx.Response(status, text="no json"))

        with pytest.raises(ServerError) as info:
            await client.status()

        assert (info.value.status, info.value.code, info.value.detail, info.value.body) == (status, None, None, {})

    @pytest.mark.parametrize("status", [502, 503, 504])
    async def test_gateway_and_unavailable_answers_are_server_unavailable(self, status):
        body = {"error": "dependency_failure", "detail": "database is not reachable"}
        client = _mock_client(lambda r: httpx.Response(status, json=body))

        with pytest.raises(ServerUnavailable) as info:
            await client.status()

        assert not isinstance(info.value, ServerError)
        assert (info.value.status, info.value.code, info.value.detail) == (status, *body.values())

    async def test_validation_failure_detail_is_a_string_and_the_field_errors_are_in_the_body(self):
        errors = [{"loc": "command", "msg": "Input should be 'start' or 'stop'", "type": "literal_error"}]
        new = {"error": "validation_failed", "detail": "command: Input should be 'start' or 'stop'", "errors": errors}
        old = {"error": "validation_failed", "detail": errors}
        for body in (new, old):
            client = _mock_client(lambda r, body=body: httpx.Response(400, json=body))

            with pytest.raises(InvalidRequest) as info:
                await client.request_command("start", "connector")

            assert info.value.detail == "command: Input should be 'start' or 'stop'", body
            assert info.value.body["errors"] == errors
            assert info.value.body["error"] == "validation_failed"

    async def test_unknown_section_detail_is_a_string_and_the_sections_are_in_the_body(self):
        sections = ["Going live", "Restarting a component"]
        new = {"error": "unknown_section", "detail": "no playbook section named 'x'", "sections": sections}
        old = {"error": "unknown_section", "detail": {"message": "no playbook section named 'x'", "sections": sections}}
        for body in (new, old):
            client = _mock_client(lambda r, body=body: httpx.Response(404, json=body))

            with pytest.raises(NotFound) as info:
                await client.runbook("x")

            assert info.value.detail == "no playbook section named 'x'", body
            assert info.value.body["sections"] == sections
            assert str(info.value) == "404 unknown_section: no playbook section named 'x'"

    async def test_502_html_from_a_proxy_is_server_unavailable(self):
        client = _mock_client(lambda r: httpx.Response(502, text="<html>Bad Gateway</html>"))

        with pytest.raises(ServerUnavailable) as info:
            await client.status()

        assert (info.value.code, info.value.detail, info.value.body) == (None, None, {})

    async def test_413_is_invalid_request(self):
        client = _mock_client(lambda r: httpx.Response(413, json={"error": "payload_too_large", "detail": "big"}))

        with pytest.raises(InvalidRequest) as info:
            await client.request_command("stop", "connector")

        assert info.value.code == "payload_too_large"

    async def test_retry_after_that_is_not_seconds_is_none(self):
        client = _mock_client(
            lambda r: httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}, json={})
        )

        with pytest.raises(RateLimited) as info:
            await client.status()

        assert info.value.retry_after is None

    async def test_a_success_body_of_the_wrong_shape_is_an_ops_client_error(self):
        client = _mock_client(lambda r: httpx.Response(200, json={"unexpected": True}))

        with pytest.raises(OpsClientError) as info:
            await client.status()

        assert not isinstance(info.value, ServerUnavailable)
        assert "unexpected response" in str(info.value)

    async def test_the_agent_family_envelope_is_understood(self):
        body = {"error": {"code": "OPS_AGENT_SCOPE_FORBIDDEN", "message": "no"}}
        client = _mock_client(lambda r: httpx.Response(403, json=body))

        with pytest.raises(Forbidden) as info:
            await client.status()

        assert (info.value.code, info.value.detail) == ("OPS_AGENT_SCOPE_FORBIDDEN", "no")

    async def test_the_token_is_sent_as_a_bearer_header(self):
        seen = {}

        def handler(request: httpx.Request) -> httpx.Response:
            seen.update(request.headers)
            return httpx.Response(200, json={"principal": "p", "scopes": []})

        await _mock_client(handler).whoami()

        assert seen["authorization"] == "Bearer t"
        assert seen["x-request-id"]


async def test_the_client_works_against_the_embedded_server(tmp_path):
    settings = Settings(data_dir=tmp_path, api_token="admin-secret", port=0, plant_tick_seconds=3600)
    embedded = EmbeddedServer(settings)
    url = embedded.start()
    try:
        async with OpsClient(url, "admin-secret") as client:
            assert (await client.whoami()).principal == "env:OPS_API_TOKEN"
            plan = await client.request_command("stop", "mt5_bridge")
            await client.confirm_command("stop", "mt5_bridge", plan.confirm_token)
            assert (await client.status()).status.mt5_up is False
    finally:
        embedded.stop()

    async with OpsClient(url, "admin-secret", timeout=5) as client:
        with pytest.raises(ServerUnavailable):
            await client.status()
