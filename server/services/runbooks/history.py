"""Reads of past runs: keyset pages of the history, and `GET /api/ops/status` as contract 2 shows it."""

import re

from server.errors import FieldError, ValidationFailed
from server.services.runbooks.views import run_view
from server.storage.runbooks import RunbookRepository
from shared.runbooks import HealthReport, HistoryPage, HistoryQuery, OpsStatus

STATUS_HISTORY = 10  # runs in the status's `runbook_history`
STATUS_HEALTH = 20  # reports in its `health_by_request`


# A run's key as the history gives it out: ASCII digits (str.isdigit() takes '²' and '١٢٣' too), an SQLite integer.
_CURSOR = re.compile(r"[1-9][0-9]{0,18}")


def _cursor(value: str) -> int:
    if not _CURSOR.fullmatch(value) or int(value) >= 2**63:
        raise ValidationFailed([FieldError("query", ("cursor",), "not a cursor this server gave", "cursor_invalid")])
    return int(value)


async def history_page(repository: RunbookRepository, query: HistoryQuery) -> HistoryPage:
    """Runs newest first, without their logs; `next_cursor` (the last run's key) while more remain."""
    before = _cursor(query.cursor) if query.cursor is not None else None
    runs = await repository.page(before=before, limit=query.limit + 1, command=query.command)
    more = len(runs) > query.limit
    runs = runs[: query.limit]
    return HistoryPage(
        items=[run_view(run) for run in runs], next_cursor=str(runs[-1].run_id) if more and runs else None
    )


async def ops_status(
    repository: RunbookRepository, *, environment_mode: str, active_profile: str | None
) -> OpsStatus:
    runs = await repository.page(before=None, limit=STATUS_HISTORY)
    with_health = await repository.with_health(STATUS_HEALTH)
    health_by_request = {
        run.request_id: HealthReport.model_validate(run.health) for run in with_health if run.health is not None
    }
    last_health = next(iter(health_by_request.values()), None)
    history = [run_view(run) for run in runs]
    # The window the last run that named one asked for: what the environment was last operated for.
    window = next((run.window for run in history if run.window is not None), None)
    updated = [t for run in runs[:1] for t in (run.finished_at, run.started_at) if t is not None]
    if last_health is not None:
        updated.append(last_health.generated_at)
    return OpsStatus(
        environment_mode=environment_mode,
        active_profile=active_profile,
        active_window=window,
        last_runbook=history[0] if history else None,
        runbook_history=history,
        health_by_request=health_by_request,
        last_health=last_health,
        last_exit_codes=await repository.last_exit_codes(),
        last_updated_at=max(updated) if updated else None,
    )
