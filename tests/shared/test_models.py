"""The shared payload models and scopes: closed sets and forbidden extras are enforced where they are defined."""

import pytest
from pydantic import ValidationError

from shared.control import COMMANDS, CommandRequest, StatusSnapshot
from shared.scopes import ALL_SCOPES, Scope, parse_scopes


def test_command_request_forbids_unknown_fields():
    with pytest.raises(ValidationError, match="extra"):
        CommandRequest.model_validate({"command": "stop", "component": "connector", "force": True})


def test_command_request_params_forbid_unknown_fields():
    with pytest.raises(ValidationError, match="extra"):
        CommandRequest.model_validate({"command": "stop", "component": "connector", "params": {"force": True}})


@pytest.mark.parametrize("command", COMMANDS)
def test_every_listed_command_is_accepted(command):
    assert CommandRequest(command=command, component="orchestrator").command == command


def test_a_command_outside_the_closed_set_is_refused():
    with pytest.raises(ValidationError):
        CommandRequest.model_validate({"command": "reboot", "component": "connector"})


def test_status_snapshot_allows_the_contracts_nulls():
    snapshot = StatusSnapshot(
        mode="unknown", execution_engine=False, position_manager=False, database=True, mt5_up=None, open_positions=None
    )

    assert snapshot.mt5_up is None and snapshot.open_positions is None


def test_parse_scopes_accepts_known_scopes_with_spaces():
    assert parse_scopes(" ops:read , ops:command ") == {Scope.OPS_READ, Scope.OPS_COMMAND}


@pytest.mark.parametrize("text", ["", " , ", "ops:read,ops:write", "OPS:READ"])
def test_parse_scopes_refuses_empty_and_unknown(text):
    with pytest.raises(ValueError):
        parse_scopes(text)


def test_all_scopes_is_every_scope():
    assert {s.value for s in Scope} == ALL_SCOPES
