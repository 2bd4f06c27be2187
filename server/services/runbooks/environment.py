"""What a runbook script is given: the request's fields as arguments and as `RUNBOOK_*` variables, the server's
URL and its own short-lived token (`OPS_RUNBOOK_URL`, `OPS_RUNBOOK_TOKEN`), and an environment built from an
allow-list of harmless variables rather than the server's own: no `OPS_*` setting, no credential of the host
(`AWS_*`, `*_TOKEN`, ...) ever reaches a script."""

from collections.abc import Mapping
from pathlib import Path

import shared
from shared.runbooks import RunbookRequest

# Variables a script may need to run at all, none of them secret.
PASSED_THROUGH = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "HOME", "TMPDIR")
# The shipped scripts import `shared` (the one API client): its project root goes on their path even when the
# server runs from a source tree rather than an installed package.
PROJECT_ROOT = Path(shared.__file__).resolve().parent.parent


def script_arguments(request: RunbookRequest) -> list[str]:
    """`--command failover --mode live ... --enforce --dry-run`: every field given, flags only when true."""
    arguments = ["--command", request.command]
    for name in ("mode", "window", "profile", "config", "request_id", "reason"):
        value = getattr(request, name)
        if value is not None:
            arguments += [f"--{name.replace('_', '-')}", value]
    if request.enforce:
        arguments.append("--enforce")
    if request.dry_run:
        arguments.append("--dry-run")
    return arguments


def script_environment(
    request: RunbookRequest, *, server_url: str, token: str | None, host_env: Mapping[str, str]
) -> dict[str, str]:
    env = {name: host_env[name] for name in PASSED_THROUGH if name in host_env}
    env.setdefault("PATH", "/usr/bin:/bin")
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    env["PYTHONUNBUFFERED"] = "1"  # lines reach the log as they are printed, not when the script ends
    env["PYTHONIOENCODING"] = "utf-8"
    env["OPS_RUNBOOK_URL"] = server_url
    if token is not None:
        env["OPS_RUNBOOK_TOKEN"] = token
    for name in ("command", "mode", "window", "profile", "config", "request_id", "reason"):
        value = getattr(request, name)
        if value is not None:
            env[f"RUNBOOK_{name.upper()}"] = value
    env["RUNBOOK_ENFORCE"] = "1" if request.enforce else "0"
    env["RUNBOOK_DRY_RUN"] = "1" if request.dry_run else "0"
    return env
