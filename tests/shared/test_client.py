"""OpsClient's control sub-client against a real server on a real port: each method parses its model, each error
status raises its typed error; and the transport every family shares: an unreachable server is ServerUnavailable
said in words, one connection, the token and a request id on every call."""

import asyncio
import socket

import httpx
import pytest

from server.embedded import EmbeddedServer, free_port
from server.keys import AUDIT, TOKENS
from server.settings import Settings
from shared.client import OpsClient
from shared.clients.transport import describe_transport_error
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
    Conflict,
    Forbidden,
    Gone,
    InvalidRequest,
    NotFound,
    NotImplementedByServer,
    RateLimited,
    ServerUnavailable,
    Unauthorized,
)
from shared.scopes import ALL_SCOPES


class TestMethodsParseTheirModels:
    async def test_whoami(self, admin):
        me = await admin.control.whoami()

        assert isinstance(me, WhoAmIResponse)
        assert me.principal == "env:OPS_API_TOKEN"
        assert set(me.scopes) == ALL_SCOPES

    async def test_openapi_needs_no_token(self, make_client, server):
        document = await make_client(server, token=None).control.openapi()

        assert document.openapi == "3.1.0"
        assert document.paths["/ops/status"]["get"]["security"] == [{"bearerAuth": ["ops:read"]}]
        assert "ControlError" in document.components["schemas"]

    async def test_status(self, admin, clock):
        status = await admin.control.status()

        assert isinstance(status, StatusResponse)
        assert status.status.mode == "live"
        assert status.status.open_positions == 3
        assert status.status.as_of == clock.now()
        assert {c.name for c in status.status.components} >= {"orchestrator", "connector", "mt5_bridge"}

    async def test_runbook_top_and_named(self, admin):
        top = await admin.control.runbook()
        section = await admin.control.runbook("going live")

        assert isinstance(top, RunbookResponse)
        assert top.section == "top"
        assert section.section == "Going live"
        assert section.runbook_excerpt.startswith("## Going live")

    async def test_audit_with_a_limit(self, admin, server):
        for _ in range(4):
            await admin.control.whoami()

        audit = await admin.control.audit(limit=3)

        assert isinstance(audit, AuditResponse)
        assert audit.limit == 3
        assert len(audit.results) == 3
        assert [e.path for e in audit.results] == ["/ops/whoami"] * 3

    async def test_audit_filters_reach_the_server(self, admin, server):
        await admin.control.whoami()
        plan = await admin.control.request_command("restart", "mt5_bridge")
        await admin.control.confirm_command("restart", "mt5_bridge", plan.confirm_token)

        changes = await admin.control.audit(changes_only=True)
        confirms = await admin.control.audit(q="command.confirm")

        assert {e.method for e in changes.results} == {"POST"}
        assert [e.action for e in confirms.results] == ["command.confirm"]

    async def test_request_then_confirm_a_command(self, admin):
        params = CommandParams(reason="bridge flapping")
        plan = await admin.control.request_command("restart", "mt5_bridge", params)

        assert isinstance(plan, ConfirmationRequired)
        assert plan.expires_in == 60
        assert plan.plan.params.reason == "bridge flapping"

        executed = await admin.control.confirm_command("restart", "mt5_bridge", plan.confirm_token, params)

        assert isinstance(executed, CommandExecuted)
        assert (executed.result.status, executed.result.action) == ("ok", "restarting")
        assert (await admin.control.status()).status.mt5_up is None

    async def test_every_call_sends_a_request_id(self, make_client, server):
        ids = iter(["cli-1", "cli-2"])
        client = make_client(server, request_ids=lambda: next(ids))

        await client.control.whoami()
        await client.control.status()
        await server.app[AUDIT].flush()

        audit = await make_client(server).control.audit(limit=2)
        assert [e.request_id for e in audit.results] == ["cli-2", "cli-1"]

    async def test_the_client_closes_as_a_context_manager(self, server):
        async with OpsClient(str(server.make_url("")), "admin-secret") as client:
            await client.control.whoami()

        with pytest.raises(RuntimeError):
            await client.control.whoami()


class TestErrorsAreTyped:
    async def test_missing_token_is_unauthorized(self, make_client, server):
        with pytest.raises(Unauthorized) as info:
            await make_client(server, None).control.status()

        assert info.value.status == 401
        assert info.value.code == "unauthorized"

    async def test_wrong_token_is_unauthorized(self, make_client, server):
        with pytest.raises(Unauthorized) as info:
            await make_client(server, "wrong").control.whoami()

        assert info.value.code == "invalid_token"

    async def test_missing_scope_is_forbidden(self, make_client, server):
        reader = await server.app[TOKENS].create("reader", "ops:read")

        with pytest.raises(Forbidden) as info:
            await make_client(server, reader).control.request_command("restart", "mt5_bridge")

        assert info.value.status == 403
        assert info.value.code == "insufficient_scope"
        assert "ops:command" in str(info.value)

    async def test_another_principals_confirm_token_is_forbidden(self, admin, make_client, server):
        operator = await server.app[TOKENS].create("operator", "ops:read,ops:command")
        plan = await admin.control.request_command("restart", "mt5_bridge")

        with pytest.raises(Forbidden) as info:
            await make_client(server, operator).control.confirm_command("restart", "mt5_bridge", plan.confirm_token)

        assert info.value.code == "confirm_token_principal_mismatch"

    async def test_replayed_confirm_token_is_conflict(self, admin):
        plan = await admin.control.request_command("restart", "mt5_bridge")
        await admin.control.confirm_command("restart", "mt5_bridge", plan.confirm_token)

        with pytest.raises(Conflict) as info:
            await admin.control.confirm_command("restart", "mt5_bridge", plan.confirm_token)

        assert info.value.status == 409
        assert info.value.code == "confirm_token_used"

    async def test_refused_command_is_conflict_with_the_reason(self, admin):
        with pytest.raises(Conflict) as info:
            await admin.control.request_command("stop", "database")

        assert info.value.code == "command_refused"
        assert "dry-run" in info.value.detail

    async def test_expired_confirm_token_is_gone(self, admin, clock):
        plan = await admin.control.request_command("restart", "mt5_bridge")
        clock.advance(61)

        with pytest.raises(Gone) as info:
            await admin.control.confirm_command("restart", "mt5_bridge", plan.confirm_token)

        assert info.value.status == 410
        assert info.value.code == "confirm_token_expired"

    async def test_disabled_controller_is_not_implemented_by_server(self, start_server, make_client):
        server = await start_server(controller_enabled=False)

        with pytest.raises(NotImplementedByServer) as info:
            await make_client(server).control.request_command("restart", "mt5_bridge")

        assert info.value.status == 501
        assert info.value.code == "controller_unavailable"

    async def test_rate_limit_is_rate_limited_with_retry_after(self, start_server, make_client, clock):
        server = await start_server(rate_limit_per_minute=1)
        client = make_client(server)
        await client.control.whoami()
        clock.advance(20)

        with pytest.raises(RateLimited) as info:
            await client.control.whoami()

        assert info.value.status == 429
        assert info.value.code == "rate_limited"
        assert info.value.retry_after == 40.0

    async def test_unknown_component_is_invalid_request(self, admin):
        with pytest.raises(InvalidRequest) as info:
            await admin.control.request_command("restart", "warp_drive")

        assert info.value.status == 400
        assert info.value.code == "unknown_component"
        assert "warp_drive" in info.value.detail

    async def test_unknown_command_is_invalid_request_listing_the_field(self, admin):
        with pytest.raises(InvalidRequest) as info:
            await admin.control.request_command("explode", "connector")  # type: ignore[arg-type]

        assert info.value.code == "validation_failed"
        assert isinstance(info.value.detail, str)
        assert "command" in info.value.detail
        assert [e.loc for e in info.value.errors] == ["command"]
        assert info.value.errors[0].type == "literal_error"
        assert info.value.family == "control"

    async def test_out_of_range_audit_limit_is_invalid_request(self, admin):
        with pytest.raises(InvalidRequest) as info:
            await admin.control.audit(limit=501)

        assert [e.loc for e in info.value.errors] == ["limit"]

    async def test_unknown_runbook_section_is_not_found_with_the_sections(self, admin):
        with pytest.raises(NotFound) as info:
            await admin.control.runbook("no such thing")

        assert info.value.code == "unknown_section"
        assert info.value.detail == "no playbook section named 'no such thing'"
        assert "Going live" in info.value.body["sections"]


class TestNoAnswer:
    """Why no answer came, said in words: never an exception's class name."""

    async def test_connection_refused_is_server_unavailable_in_words(self):
        url = f"http://127.0.0.1:{free_port()}"
        async with OpsClient(url, "admin-secret", timeout=5) as client:
            with pytest.raises(ServerUnavailable) as info:
                await client.control.status()

        assert str(info.value) == f"cannot reach {url}: connection refused"
        assert (info.value.status, info.value.code, info.value.detail) == (None, None, "connection refused")
        assert info.value.family == "control"

    async def test_a_server_that_does_not_answer_in_time_is_timed_out(self, canned):
        state, server = canned
        state.answer(200, {"principal": "p", "scopes": []})
        state.delay = 2.0
        url = str(server.make_url("")).rstrip("/")
        async with OpsClient(url, "t", timeout=0.2) as client:
            with pytest.raises(ServerUnavailable) as info:
                await client.control.whoami()

        assert str(info.value) == f"cannot reach {url}: timed out"

    async def test_a_connection_closed_without_an_answer_is_said_so(self):
        async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.close()

        listener = await asyncio.start_server(hang_up, "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        try:
            async with OpsClient(f"http://127.0.0.1:{port}", "t", timeout=5) as client:
                with pytest.raises(ServerUnavailable) as info:
                    await client.control.status()
        finally:
            listener.close()
            await listener.wait_closed()

        assert str(info.value).endswith(": the server closed the connection without an answer")

    def test_an_unknown_host_is_said_so(self):
        # Built by hand: a real lookup of a made-up name may wait on a resolver that is not there.
        exc = httpx.ConnectError("[Errno -2] Name or service not known")
        exc.__cause__ = socket.gaierror(-2, "Name or service not known")

        assert describe_transport_error(exc) == "unknown host"


class TestOneTransport:
    async def test_the_token_and_a_request_id_are_sent_with_every_call(self, canned, make_client):
        state, server = canned
        state.answer(200, {"principal": "p", "scopes": []})

        await make_client(server, "t").control.whoami()

        assert state.seen[0].headers["Authorization"] == "Bearer t"
        assert state.seen[0].headers["X-Request-ID"]

    async def test_calls_share_one_connection(self, canned, make_client):
        state, server = canned
        state.answer(200, {"principal": "p", "scopes": []})
        client = make_client(server, "t")

        for _ in range(3):
            await client.control.whoami()

        assert len(set(state.peers)) == 1

    async def test_the_audit_cursor_is_sent_as_a_query_parameter(self, canned, make_client):
        state, server = canned
        state.answer(200, {"limit": 2, "results": [], "next_cursor": None})

        await make_client(server, "t").control.audit(2, q="stop database", changes_only=True, cursor="c-42")
        await make_client(server, "t").control.audit()

        first, plain = (dict(request.query) for request in state.seen)
        assert first == {"limit": "2", "q": "stop database", "changes_only": "true", "cursor": "c-42"}
        assert plain == {"limit": "50", "changes_only": "false"}

    async def test_an_audit_query_the_server_would_refuse_is_refused_without_a_request(self, canned, make_client):
        state, server = canned
        client = make_client(server, "t")

        with pytest.raises(InvalidRequest) as too_many:
            await client.control.audit(q="one two three four five six seven eight nine")
        with pytest.raises(InvalidRequest) as too_few:
            await client.control.audit(limit=0)

        assert state.seen == []
        assert (too_many.value.code, too_many.value.status) == ("validation_failed", None)
        assert [e.loc for e in too_many.value.errors] == ["q"]
        assert "at most 8 words" in (too_many.value.detail or "")
        assert [e.loc for e in too_few.value.errors] == ["limit"]


async def test_the_client_works_against_the_embedded_server(tmp_path):
    settings = Settings(data_dir=tmp_path, api_token="admin-secret", port=0, plant_tick_seconds=3600)
    embedded = EmbeddedServer(settings)
    url = embedded.start()
    try:
        async with OpsClient(url, "admin-secret") as client:
            assert (await client.control.whoami()).principal == "env:OPS_API_TOKEN"
            plan = await client.control.request_command("stop", "mt5_bridge")
            await client.control.confirm_command("stop", "mt5_bridge", plan.confirm_token)
            assert (await client.control.status()).status.mt5_up is False
    finally:
        embedded.stop()

    async with OpsClient(url, "admin-secret", timeout=5) as client:
        with pytest.raises(ServerUnavailable):
            await client.control.status()
