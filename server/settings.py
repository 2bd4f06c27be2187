"""Server settings: `OPS_*` environment variables, then an optional TOML file, then defaults."""

import ipaddress
import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
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
    # Metrics: unset, the server samples the plant into SQLite every `metrics_sample_seconds`; set, the summary and
    # timeseries come from this Prometheus (which scrapes /api/v1/metrics at about that interval).
    prometheus_url: str | None = None
    metrics_sample_seconds: float = Field(default=5.0, gt=0, le=3600)

    controller_enabled: bool = True
    confirm_ttl_seconds: int = Field(default=60, ge=5, le=3600)
    playbook_path: Path = REPO_ASSETS / "playbook.md"

    rate_limit_per_minute: int = Field(default=100, ge=1)
    rate_limit_anon_per_minute: int = Field(default=10, ge=1)
    # Failed token checks per client address and minute; past them a token is refused before its database lookup.
    # None: the anonymous limit.
    rate_limit_failed_auth_per_minute: int | None = Field(default=None, ge=1)
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
    # Signs the audit log's checkpoints (HMAC-SHA256); unset: the 0600 file `audit-key` in the data dir, made at
    # first start. Keep it out of the database's reach: whoever holds it can re-sign a rewritten log.
    audit_key: SecretStr | None = None
    # How often the head of the audit log is signed while reads arrive (a command's entries: as soon as the log is
    # quiet for a tenth of a second).
    audit_checkpoint_seconds: float = Field(default=10.0, gt=0)
    # Audit entries older than this many days are pruned (checked every minute); None keeps them forever.
    audit_retention_days: int | None = Field(default=None, ge=1)

    token_cache_seconds: float = Field(default=5.0, ge=0)

    # Runbooks: the dir of manifest.toml and its scripts (a site's own, or the shipped ones); the environment whose
    # one-run-at-a-time lock they share; the health an `enforce` run must leave behind; how long a script may take
    # to end after SIGTERM before SIGKILL; the URL scripts call back on (default: the address the request came in on).
    runbooks_dir: Path = REPO_ASSETS / "runbooks"
    runbooks_environment: str = Field(default="default", min_length=1, max_length=64)
    runbooks_min_coverage_ratio: float = Field(default=0.98, ge=0, le=1)
    runbooks_min_throughput_mps: float = Field(default=1000.0, ge=0)
    runbooks_max_backlog_messages: float = Field(default=100_000.0, ge=0)
    runbooks_kill_grace_seconds: float = Field(default=2.0, ge=0, le=60)
    runbooks_server_url: str | None = None

    # Ops agent: an OpenAI-compatible chat-completions endpoint for the investigations' reasoning (unset: the
    # built-in deterministic reasoner), its key and model, the timeout of one call and how often a call that may
    # pass (timeout, 429, 5xx) is tried again.
    llm_url: str | None = None
    llm_api_key: SecretStr | None = None
    llm_model: str = Field(default="gpt-4o-mini", min_length=1, max_length=128)
    llm_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    llm_retries: int = Field(default=2, ge=0, le=5)
    # Investigations one server process runs at once; a run or resume beyond it is refused (503 with Retry-After)
    # so a burst cannot exhaust the server's connections, memory or the reasoner's quota.
    agent_max_concurrent: int = Field(default=16, ge=1, le=1000)

    # Live + refunds (contract 5): the tenant the public board names; the policy decision point (unset: the
    # in-process engine; set: a remote one with the same interface, POST <url>/v1/decide) and how long a decision
    # may take before the action fails closed; how often the governed agents run (unset: with the plant's ticks);
    # how long process-once's Idempotency-Keys are kept (at least the 24 h the contract promises).
    live_tenant: str = Field(default="public-demo", min_length=1, max_length=64)
    policy_url: str | None = None
    policy_timeout_seconds: float = Field(default=2.0, gt=0, le=60)
    live_tick_seconds: float | None = Field(default=None, gt=0)
    refunds_idempotency_hours: float = Field(default=24.0, ge=24)

    # Orchestration (contract 4): the asset files published at first start, and how many CIs the generated CMDB
    # holds at first start (besides the plant's components).
    orchestration_assets_dir: Path = REPO_ASSETS / "orchestration"
    orchestration_cmdb_size: int = Field(default=320, ge=0, le=1_000_000)

    # Webhooks: the networks subscribers may be in besides public ones (a comma-separated CIDR list, e.g.
    # "10.20.0.0/16,127.0.0.0/8"; loopback, link-local, metadata, private and reserved addresses are refused
    # otherwise); one attempt's timeout and how much of the answer is read; how many attempts a delivery gets and the
    # backoff between them (doubling from the base up to the max, with jitter; a Retry-After of a 429/5xx wins);
    # how long a rotated secret still signs beside the new one.
    webhook_allowed_networks: Annotated[list[ipaddress.IPv4Network | ipaddress.IPv6Network], NoDecode] = Field(
        default_factory=list
    )
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    webhook_max_response_bytes: int = Field(default=64 * 1024, ge=0, le=16 * 1024 * 1024)
    webhook_max_attempts: int = Field(default=10, ge=1, le=50)
    webhook_retry_base_seconds: float = Field(default=10.0, gt=0, le=3600)
    webhook_retry_max_seconds: float = Field(default=3600.0, gt=0, le=7 * 24 * 3600)
    webhook_secret_overlap_seconds: float = Field(default=24 * 3600.0, ge=0, le=30 * 24 * 3600)

    @field_validator("webhook_allowed_networks", mode="before")
    @classmethod
    def _cidr_list(cls, value: object) -> object:
        # From the environment or a TOML string: "a/8, b/16"; a list passes through.
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

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
