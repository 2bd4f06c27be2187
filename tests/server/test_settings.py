"""Settings: defaults, OPS_* environment variables, a TOML file via load_settings(path), and their order."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from server.settings import Settings, load_settings


def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ops.toml"
    path.write_text(text)
    return path


def test_defaults_are_safe(tmp_path):
    settings = Settings(data_dir=tmp_path)

    assert settings.host == "127.0.0.1"
    assert settings.port == 8000
    assert settings.api_token is None
    assert settings.controller_enabled is True
    assert settings.confirm_ttl_seconds == 60
    assert settings.rate_limit_per_minute == 100
    assert settings.rate_limit_anon_per_minute == 10
    assert settings.database_path == tmp_path / "ops.sqlite3"
    assert settings.admin_token_file == tmp_path / "admin-token"
    assert settings.playbook_path.is_file()


def test_environment_variables_with_the_ops_prefix_are_read(monkeypatch, tmp_path):
    monkeypatch.setenv("OPS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("OPS_PORT", "9123")
    monkeypatch.setenv("OPS_API_TOKEN", "env-token")
    monkeypatch.setenv("OPS_CONTROLLER_ENABLED", "false")
    monkeypatch.setenv("OPS_RATE_LIMIT_PER_MINUTE", "7")

    settings = load_settings()

    assert settings.data_dir == tmp_path
    assert settings.port == 9123
    assert settings.api_token is not None and settings.api_token.get_secret_value() == "env-token"
    assert settings.controller_enabled is False
    assert settings.rate_limit_per_minute == 7


def test_a_toml_file_is_read(tmp_path):
    config = _toml(
        tmp_path,
        f'data_dir = "{tmp_path}"\nport = 9001\nconfirm_ttl_seconds = 30\nrate_limit_anon_per_minute = 3\n',
    )

    settings = load_settings(config)

    assert settings.data_dir == tmp_path
    assert settings.port == 9001
    assert settings.confirm_ttl_seconds == 30
    assert settings.rate_limit_anon_per_minute == 3


def test_environment_beats_the_file(monkeypatch, tmp_path):
    config = _toml(tmp_path, "port = 9001\nconfirm_ttl_seconds = 30\n")
    monkeypatch.setenv("OPS_PORT", "9002")

    settings = load_settings(config)

    assert settings.port == 9002
    assert settings.confirm_ttl_seconds == 30  # what the environment does not set still comes from the file


def test_overrides_beat_the_environment_and_the_file(monkeypatch, tmp_path):
    config = _toml(tmp_path, "port = 9001\n")
    monkeypatch.setenv("OPS_PORT", "9002")

    assert load_settings(config, port=9003).port == 9003
    assert load_settings(None, port=9003).port == 9003


def test_the_file_beats_the_defaults(tmp_path):
    settings = load_settings(_toml(tmp_path, "controller_enabled = false\n"))

    assert settings.controller_enabled is False
    assert settings.port == 8000


def test_an_unknown_key_in_the_file_is_refused(tmp_path):
    with pytest.raises(ValidationError, match="confirm_ttl"):
        load_settings(_toml(tmp_path, "confirm_ttl = 30\n"))


@pytest.mark.parametrize(
    ("key", "value"),
    [("confirm_ttl_seconds", "1"), ("port", "70000"), ("rate_limit_per_minute", "0"), ("max_body_bytes", "10")],
)
def test_out_of_range_values_are_refused(tmp_path, key, value):
    with pytest.raises(ValidationError, match=key):
        load_settings(_toml(tmp_path, f"{key} = {value}\n"))


def test_an_out_of_range_environment_value_is_refused(monkeypatch):
    monkeypatch.setenv("OPS_CONFIRM_TTL_SECONDS", "4000")

    with pytest.raises(ValidationError, match="confirm_ttl_seconds"):
        load_settings()


def test_the_api_token_does_not_show_in_the_settings_repr(tmp_path):
    settings = Settings(data_dir=tmp_path, api_token="very-secret")

    assert "very-secret" not in repr(settings)
    assert "very-secret" not in str(settings.model_dump())
