"""Each family's envelope, read from canned answers of a real server on a real port: the same typed errors whatever
the family, with the family's own code, sentence and field errors kept; orchestration successes unwrapped; and
answers the real server does not give on purpose (a 500, a proxy's page) mapped too."""

import pytest
from pydantic import BaseModel

from shared.clients import envelopes
from shared.clients.envelopes import Envelope
from shared.clients.transport import Transport
from shared.errors import (
    Conflict,
    FieldError,
    Forbidden,
    Gone,
    InvalidRequest,
    NotFound,
    NotImplementedByServer,
    OpsClientError,
    RateLimited,
    ServerError,
    ServerUnavailable,
    Unauthorized,
)


class Trace(BaseModel):
    trace_id: str
    status: str


@pytest.fixture
async def call(canned):
    """`await call(envelope, status, body)`: one GET answered with `body`, read with `envelope`."""
    state, server = canned
    transports: list[Transport] = []

    async def go(envelope: Envelope, status: int, body=None, *, text=None, model=Trace, **headers):
        state.answer(status, body, text=text, **headers)
        transport = Transport(str(server.make_url("")), "t")
        transports.append(transport)
        return await transport.request(envelope, "GET", "/anything", model)

    yield go
    for transport in transports:
        await transport.aclose()


async def raised(call, *args, **kwargs) -> OpsClientError:
    with pytest.raises(OpsClientError) as info:
        await call(*args, **kwargs)
    return info.value


class TestEveryFamilyRaisesTheSameTypedErrors:
    @pytest.mark.parametrize(
        ("status", "error_type"),
        [
            (400, InvalidRequest),
            (401, Unauthorized),
            (403, Forbidden),
            (404, NotFound),
            (409, Conflict),
            (410, Gone),
            (413, InvalidRequest),
            (422, InvalidRequest),
            (429, RateLimited),
            (500, ServerError),
            (501, NotImplementedByServer),
            (502, ServerUnavailable),
            (503, ServerUnavailable),
            (504, ServerUnavailable),
            (507, ServerError),
            (418, OpsClientError),
        ],
    )
    @pytest.mark.parametrize("envelope", list(envelopes.ENVELOPES.values()), ids=lambda e: e.family)
    async def test_status_to_error_type(self, call, envelope, status, error_type):
        error = await raised(call, envelope, status, {})

        assert type(error) is error_type
        assert (error.status, error.family) == (status, envelope.family)


class TestControl:
    async def test_code_sentence_and_siblings(self, call):
        sections = ["Going live", "Restarting a component"]
        body = {"error": "unknown_section", "detail": "no playbook section named 'x'", "sections": sections}

        error = await raised(call, envelopes.CONTROL, 404, body)

        assert (error.code, error.detail, error.errors) == ("unknown_section", "no playbook section named 'x'", [])
        assert error.body["sections"] == sections
        assert str(error) == "404 unknown_section: no playbook section named 'x'"

    async def test_validation_failure_lists_the_fields(self, call):
        errors = [{"loc": "params.reason", "msg": "String should have at most 200 characters", "type": "too_long"}]
        body = {"error": "validation_failed", "detail": "params.reason: too long", "errors": errors}

        error = await raised(call, envelopes.CONTROL, 400, body)

        assert error.errors == [FieldError("params.reason", "String should have at most 200 characters", "too_long")]
        assert error.detail == "params.reason: too long"

    async def test_the_older_envelope_reads_the_same(self, call):
        errors = [{"loc": "command", "msg": "Input should be 'start' or 'stop'", "type": "literal_error"}]
        invalid = await raised(call, envelopes.CONTROL, 400, {"error": "validation_failed", "detail": errors})
        sections = {"message": "no playbook section named 'x'", "sections": ["Going live"]}
        unknown = await raised(call, envelopes.CONTROL, 404, {"error": "unknown_section", "detail": sections})

        assert invalid.detail == "command: Input should be 'start' or 'stop'"
        assert invalid.errors == [FieldError("command", "Input should be 'start' or 'stop'", "literal_error")]
        assert (unknown.detail, unknown.body["sections"]) == ("no playbook section named 'x'", ["Going live"])

    async def test_500_is_a_server_error_with_the_servers_code_and_detail(self, call):
        detail = "audit entry 2 cannot be read; run 'ops-server audit verify'"

        error = await raised(call, envelopes.CONTROL, 500, {"error": "data_corrupted", "detail": detail})

        assert not isinstance(error, ServerUnavailable)  # the server answered: not a lost connection
        assert (error.code, error.detail) == ("data_corrupted", detail)
        assert str(error) == f"500 data_corrupted: {detail}"

    async def test_the_rate_limit_says_when_to_retry(self, call):
        body = {"error": "rate_limited", "detail": "slow down"}

        error = await raised(call, envelopes.CONTROL, 429, body, Retry_After="40")
        undated = await raised(call, envelopes.CONTROL, 429, body, Retry_After="Wed, 21 Oct 2026 07:28:00 GMT")

        assert isinstance(error, RateLimited) and isinstance(undated, RateLimited)
        assert (error.code, error.retry_after, undated.retry_after) == ("rate_limited", 40.0, None)


class TestRunbooksAndLive:
    async def test_a_sentence_detail_has_no_code(self, call):
        error = await raised(call, envelopes.LIVE, 401, {"detail": "Invalid or missing credentials"})

        assert (error.code, error.detail, error.errors) == (None, "Invalid or missing credentials", [])
        assert str(error) == "401 Unauthorized: Invalid or missing credentials"

    async def test_a_422_lists_every_invalid_field_with_its_location(self, call):
        body = {
            "detail": [
                {"loc": ["body", "command"], "msg": "Input should be 'start' or 'stop'", "type": "literal_error"},
                {"loc": ["body", "window"], "msg": "Field required", "type": "missing"},
            ]
        }

        error = await raised(call, envelopes.RUNBOOKS, 422, body)

        assert isinstance(error, InvalidRequest)
        assert [(e.loc, e.type) for e in error.errors] == [
            ("body.command", "literal_error"),
            ("body.window", "missing"),
        ]
        assert error.detail == "body.command: Input should be 'start' or 'stop'; body.window: Field required"

    async def test_a_script_failure_is_a_server_error_with_its_detail(self, call):
        error = await raised(call, envelopes.RUNBOOKS, 500, {"detail": "failover exited with code 3"})

        assert (type(error), error.detail, error.family) == (ServerError, "failover exited with code 3", "runbooks")


class TestAgent:
    async def test_the_nested_error_gives_code_and_message(self, call):
        body = {"error": {"code": "OPS_AGENT_NOT_FOUND", "message": "no investigation inv-7", "details": {}}}

        error = await raised(call, envelopes.AGENT, 404, body)

        assert (type(error), error.code, error.detail) == (NotFound, "OPS_AGENT_NOT_FOUND", "no investigation inv-7")
        assert str(error) == "404 OPS_AGENT_NOT_FOUND: no investigation inv-7"

    async def test_field_errors_in_the_details_are_listed(self, call):
        invalid = [{"loc": ["mode"], "msg": "Input should be 'quick' or 'deep'", "type": "literal_error"}]
        body = {"error": {"code": "OPS_AGENT_INVALID_REQUEST", "message": "invalid", "details": {"errors": invalid}}}

        error = await raised(call, envelopes.AGENT, 422, body)

        assert error.errors == [FieldError("mode", "Input should be 'quick' or 'deep'", "literal_error")]


class TestOrchestration:
    async def test_the_error_sentence_is_the_detail_not_the_code(self, call):
        body = {"code": 404, "message": "Not Found", "error": "no trace named abc123", "details": {}}

        error = await raised(call, envelopes.ORCHESTRATION, 404, body)

        assert (type(error), error.code, error.detail) == (NotFound, None, "no trace named abc123")
        assert str(error) == "404 Not Found: no trace named abc123"

    async def test_a_one_word_error_is_the_code_beside_the_invalid_fields(self, call):
        invalid = [{"loc": "baseline_trace_id", "msg": "Field required", "type": "missing"}]
        body = {
            "code": 422,
            "message": "Unprocessable Entity",
            "error": "validation_failed",
            "details": {"errors": invalid},
        }

        error = await raised(call, envelopes.ORCHESTRATION, 422, body)

        assert (error.code, error.detail) == ("validation_failed", "baseline_trace_id: Field required")
        assert error.errors == [FieldError("baseline_trace_id", "Field required", "missing")]

    async def test_a_code_in_the_details_is_the_code(self, call):
        body = {
            "code": 409,
            "message": "Conflict",
            "error": "asset v1.0.0 is already published",
            "details": {"code": "asset_published"},
        }

        error = await raised(call, envelopes.ORCHESTRATION, 409, body)

        assert (error.code, error.detail) == ("asset_published", "asset v1.0.0 is already published")

    async def test_a_success_is_unwrapped_to_its_data(self, call):
        body = {"code": 0, "message": "success", "data": {"trace_id": "abc123", "status": "success"}}

        trace = await call(envelopes.ORCHESTRATION, 200, body)

        assert trace == Trace(trace_id="abc123", status="success")

    @pytest.mark.parametrize(
        "body",
        [
            {"trace_id": "abc123", "status": "success"},  # not wrapped
            {"code": 7, "message": "partial", "data": {"trace_id": "abc123", "status": "success"}},
            {"code": 0, "message": "success"},
        ],
    )
    async def test_a_success_not_wrapped_as_the_contract_says_is_unexpected(self, call, body):
        error = await raised(call, envelopes.ORCHESTRATION, 200, body)

        assert type(error) is OpsClientError
        assert str(error) == "unexpected response from GET /anything"


class TestAnswersNoFamilyGives:
    @pytest.mark.parametrize("envelope", list(envelopes.ENVELOPES.values()), ids=lambda e: e.family)
    async def test_a_proxys_html_page_has_no_code_or_detail(self, call, envelope):
        error = await raised(call, envelope, 502, text="<html>Bad Gateway</html>")

        assert type(error) is ServerUnavailable
        assert (error.code, error.detail, error.errors, error.body) == (None, None, [], {})
        assert str(error) == "502 Bad Gateway"

    async def test_a_success_body_of_the_wrong_shape_is_an_ops_client_error(self, call):
        error = await raised(call, envelopes.CONTROL, 200, {"unexpected": True})

        assert type(error) is OpsClientError
        assert error.status == 200
        assert str(error) == "unexpected response from GET /anything"
        assert error.detail == "trace_id: Field required; status: Field required"  # no model names
