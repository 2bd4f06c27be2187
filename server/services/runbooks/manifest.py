"""The runbooks manifest: `manifest.toml` in the runbooks dir, one table per command with its script, timeout,
description and the scopes the script's short-lived token gets:

    [commands.failover]
    script = "failover.py"
    timeout_seconds = 60
    description = "Move the market-data feed to the backup profile"
    scopes = ["runbooks:read", "runbooks:execute"]

Read at every execution, so a site can change its scripts without restarting the server; a broken manifest is
the run's failure (500 with its detail), not the server's."""

import tomllib
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.runbooks import RunbookCommand
from shared.scopes import ALL_SCOPES

MANIFEST_NAME = "manifest.toml"


class ManifestError(Exception):
    """The manifest or a script it names is missing or broken: a sentence saying which and why."""


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    script: str = Field(min_length=1)
    timeout_seconds: float = Field(gt=0, le=3600)
    description: str = ""
    scopes: list[str] = Field(default_factory=list)


class _Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    commands: dict[RunbookCommand, _Entry]


@dataclass(frozen=True, slots=True)
class RunbookSpec:
    command: str
    script: Path
    timeout_seconds: float
    description: str
    scopes: frozenset[str]


def load_manifest(runbooks_dir: Path) -> dict[str, RunbookSpec]:
    """Every command the manifest describes. Raises ManifestError naming what is wrong."""
    path = runbooks_dir / MANIFEST_NAME
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ManifestError(f"runbook manifest {path} cannot be read: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(f"runbook manifest {path} is not valid TOML: {exc}") from None
    try:
        manifest = _Manifest.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False))
        raise ManifestError(f"runbook manifest {path} is not valid: {problems}") from None
    specs: dict[str, RunbookSpec] = {}
    root = runbooks_dir.resolve()
    for command, entry in manifest.commands.items():
        unknown = sorted(set(entry.scopes) - ALL_SCOPES)
        if unknown:
            raise ManifestError(f"runbook manifest {path}: {command} asks for unknown scopes {', '.join(unknown)}")
        script = (root / entry.script).resolve()
        if not script.is_relative_to(root):  # the manifest names scripts of its own dir only
            raise ManifestError(f"runbook manifest {path}: {command}'s script {entry.script} is outside {root}")
        specs[command] = RunbookSpec(command, script, entry.timeout_seconds, entry.description, frozenset(entry.scopes))
    return specs


def spec_for(runbooks_dir: Path, command: str) -> RunbookSpec:
    specs = load_manifest(runbooks_dir)
    spec = specs.get(command)
    if spec is None:
        raise ManifestError(f"runbook manifest {runbooks_dir / MANIFEST_NAME} has no entry for '{command}'")
    return spec
