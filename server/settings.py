"""Server settings: `OPS_*` environment variables, then an optional TOML file, then defaults."""

import os
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from server.storage.audit_writer import WriterKind

REPO_ASSETS = Path(__file__).resolve().parent.parent / "assets"


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "ops-console"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OPS_", extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    data_dir: Path = Field(default_factory=default_data_dir)

    api_token: SecretStr | None = Field(default=None, description="Admin token with every scope")
    metrics_token: SecretStr | None = None

    controller_enabled: bool = True
    confirm_ttl_seconds: int = Field(default=60, ge=5, le=3600)
    playbook_path: Path = REPO_ASSETS / "playbook.md"

    rate_limit_per_minute: int = Field(default=100, ge=1)
    rate_limit_anon_per_minute: int = Field(default=10, ge=1)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)

    # How long the embedded plant takes to come back from a restart, and its random seed.
    restart_seconds: float = Field(default=2.0, ge=0)
    plant_tick_seconds: float = Field(default=1.0, gt=0)
    plant_seed: int = 7

    # Audit writes for reads are batched: at most this many rows or this long before a commit.
    audit_batch_rows: int = Field(default=200, ge=1, le=1000)  # one INSERT per batch: 13 variables a row
    audit_batch_ms: int = Field(default=20, ge=1)
    # Where audit entries are linked, hashed and written: a process beside the server's (it keeps that work off
    # the request path's interpreter lock), or a thread inside it.
    audit_writer: WriterKind = WriterKind.PROCESS

    token_cache_seconds: float = Field(default=5.0, ge=0)

    @property
    def database_path(self) -> Path:
        return self.data_dir / "ops.sqlite3"

    @property
    def admin_token_file(self) -> Path:
        return self.data_dir / "admin-token"


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Settings from overrides (CLI flags) > environment > TOML file > defaults."""
    if config_file is None:
        return Settings(**overrides)

    class FileSettings(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=config_file))

    return FileSettings(**overrides)
