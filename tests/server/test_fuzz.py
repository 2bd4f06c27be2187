"""Generated input against a running server: whatever a caller sends to the control API, the answer is a status
the contract knows, in the control envelope, never a 500, and nothing changes in the plant without a confirmed
command. The hand-picked hostile inputs live in test_errors.py; these reach the cases nobody thought to pick."""

import os
import re
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ops_constants import ADMIN_TOKEN

from server.embedded import EmbeddedServer
from server.keys import AUDIT, DB
from server.settings import Settings
from server.storage.audit import AuditRepository

_FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_ERROR_STATUSES = {400, 401, 403, 404, 405, 409, 410, 413, 415}

_json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40)
)
_json_values = st.recursive(
    _json_scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=10,
)
# Bodies near the real shape get past the JSON parser and into validation, the plant and the confirmations.
_command_bodies = st.fixed_dictionaries(
    {},
    optional={
        "command": st.sampled_from(["start", "stop", "restart", "dry-run-on", "dry-run-off"]) | _json_scalars,
        "component": st.sampled_from(["connector", "database", "mt5_bridge", "orchestrator"]) | _json_scalars,
        "params": st.fixed_dictionaries({}, optional={"reason": _json_scalars}) | _json_values,
        "confirm_token": st.just("confirm_") | st.text(max_size=80) | _json_scalars,
        "extra": _json_values,
    },
)
# What HTTP lets a header carry: printable ASCII, no whitespace at either end.
_printable = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60).map(str.strip)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    with pytest.MonkeyPatch.context() as env:
        for name in [n for n in os.environ if n.startswith("OPS_")]:
            env.delenv(name)
        embedded = EmbeddedServer(
            Settings(
                data_dir=tmp_path_factory.mktemp("fuzz"),
                api_token=ADMIN_TOKEN,
                port=0,
                rate_limit_per_minute=1_000_000,
                rate_limit_anon_per_minute=1_000_000,
                plant_tick_seconds=3600,
            )
        )
        embedded.start()
    yield embedded
    embedded.stop()


@pytest.fixture(scope="module")
def http(server: EmbeddedServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10) as client:
        yield client


def _plant_state(http: httpx.Client) -> tuple[str, dict[str, str]]:
    status = http.get("/ops/status").json()["status"]
    return status["mode"], {c["name"]: c["state"] for c in status["components"]}


def _assert_contract_answer(response: httpx.Response, ok: set[int]) -> None:
    assert response.status_code in ok | _ERROR_STATUSES, response.text
    if response.status_code >= 400:
        body = response.json()
        assert isinstance(body["error"], str) and body["error"]
        assert isinstance(body["detail"], str) and body["detail"]


@_FUZZ
@given(body=_command_bodies | _json_values)
def test_any_json_command_body_is_answered_and_changes_nothing_unconfirmed(http, body):
    before = _plant_state(http)

    response = http.post("/ops/command", json=body)

    _assert_contract_answer(response, {200})
    if response.status_code == 200:
        assert response.json()["requires_confirmation"] is True  # no guessed token executes anything
    assert _plant_state(http) == before


@_FUZZ
@given(raw=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_raw_command_body_is_answered(http, raw):
    response = http.post("/ops/command", content=raw, headers={"Content-Type": "application/json"})

    _assert_contract_answer(response, {200})


@_FUZZ
@given(params=st.dictionaries(st.sampled_from(["limit", "q", "changes_only", "other"]), st.text(max_size=30)))
def test_any_audit_query_is_answered(http, params):
    response = http.get("/ops/audit", params=params)

    _assert_contract_answer(response, {200})
    if response.status_code == 200:
        assert isinstance(response.json()["results"], list)


@_FUZZ
@given(name=st.text(max_size=60))
def test_any_runbook_name_is_answered(http, name):
    response = http.get("/ops/runbook", params={"name": name})

    _assert_contract_answer(response, {200})


@_FUZZ
@given(authorization=_printable, request_id=_printable)
def test_any_authorization_and_request_id_header_is_answered(server, authorization, request_id):
    response = httpx.get(
        f"{server.url}/ops/status",
        headers={"Authorization": authorization, "X-Request-ID": request_id},
        timeout=10,
    )

    _assert_contract_answer(response, {200})
    echoed = response.headers["X-Request-ID"]
    if re.fullmatch(r"[A-Za-z0-9._:-]{1,128}", request_id):
        assert echoed == request_id
    else:  # anything else is never echoed: the server makes an id of its own
        assert re.fullmatch(r"[0-9a-f]{32}", echoed)


def test_the_fuzzed_history_is_still_one_unbroken_chain(server):
    # Runs after the generated requests above (pytest keeps file order): all of them are on record, linked.
    app = server.app
    assert app is not None
    server.run(app[AUDIT].flush())

    checked, broken = server.run(AuditRepository(app[DB]).verify())

    assert broken is None
    assert checked > 500
