"""Stored runs as the API shows them: a run with its request's fields and its log lines."""

from collections.abc import Sequence

from server.storage.runbooks import StoredLog, StoredRun
from shared.runbooks import LogLine, RunbookRun


def log_line(entry: StoredLog) -> LogLine:
    return LogLine.model_validate({"level": entry.level, "message": entry.message, "at": entry.at})


def run_view(run: StoredRun, logs: Sequence[LogLine] = ()) -> RunbookRun:
    request = run.request
    return RunbookRun.model_validate(
        {
            "request_id": run.request_id,
            "command": run.command,
            "status": run.status,
            "exit_code": run.exit_code,
            "started_at": run.started_at,
            "finished_at": run.finished_at,
            "principal": run.principal,
            "mode": request.get("mode"),
            "window": request.get("window"),
            "profile": request.get("profile"),
            "config": request.get("config"),
            "enforce": bool(request.get("enforce")),
            "dry_run": bool(request.get("dry_run")),
            "reason": request.get("reason"),
            "logs": list(logs),
        }
    )
