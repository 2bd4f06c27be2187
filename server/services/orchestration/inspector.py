"""The trace inspector: the filtered trace list, one trace with its audit entries, and what clients rendered of an
answer. The audit entries are the shared audit trail's (server/services/audit.py), found by the trace id: the ask's
entry (who asked) stands for the stages the trace ran, one "executed" entry each, and a stored render's entry
follows it; no second log is kept."""

import uuid
from datetime import datetime, timedelta
from typing import Any

from server.clock import Clock
from server.errors import NotFound
from server.services.audit import AuditTrail
from server.storage.audit import AuditRow
from server.storage.traces import TraceRepository
from shared.inspector import (
    AuditResourceType,
    TraceAuditLog,
    TraceDetail,
    TraceList,
    TraceListQuery,
    UiRender,
    UiRenderReceipt,
    UiRenderRequest,
)
from shared.orchestration import Trace

ASK_ACTION = "ci.ask"  # server/http/orchestration.py notes the ask under this action, the trace id as its target
UI_RENDER_ACTION = "inspector.ui_render"
AUDIT_PAGE = 100
AUDIT_ENTRIES_MAX = 1000  # changes that mention the trace read at most; past it, the newest are shown


class InspectorService:
    def __init__(self, traces: TraceRepository, audit: AuditTrail, clock: Clock) -> None:
        self._traces = traces
        self._audit = audit
        self._clock = clock

    async def list_traces(self, query: TraceListQuery) -> TraceList:
        summaries, total, capped = await self._traces.page(query)
        return TraceList(traces=summaries, total=total, total_capped=capped, limit=query.limit, offset=query.offset)

    async def trace(self, trace_id: str) -> Trace:
        trace = await self._traces.get(trace_id)
        if trace is None:
            raise NotFound(f"no trace '{trace_id}'", code="trace_not_found")
        return trace

    async def detail(self, trace_id: str) -> TraceDetail:
        trace = await self.trace(trace_id)
        rows = await self._audit_rows(trace_id)
        logs = [log for row in rows for log in audit_logs(trace, row)]
        return TraceDetail(trace=trace, audit_logs=logs, ui_render=await self._traces.latest_render(trace_id))

    async def record_render(
        self, trace_id: str, render: UiRenderRequest, size_bytes: int, principal: str | None
    ) -> UiRenderReceipt:
        await self.trace(trace_id)
        stored = UiRender(
            render_id=f"rnd_{uuid.uuid4().hex}",
            trace_id=trace_id,
            recorded_at=self._clock.now(),
            principal=principal,
            blocks=render.blocks,
            meta=render.meta,
            size_bytes=size_bytes,
        )
        await self._traces.save_render(stored)
        return UiRenderReceipt(
            render_id=stored.render_id,
            trace_id=trace_id,
            recorded_at=stored.recorded_at,
            block_count=len(stored.blocks),
            size_bytes=size_bytes,
        )

    async def _audit_rows(self, trace_id: str) -> list[AuditRow]:
        """The trail's entries whose target is the trace, oldest first. The trail's search finds the entries that
        mention the id anywhere (a path, a detail); only those about the trace itself are kept. Reads are left out
        in the search itself: however often a trace is viewed, its views never push its ask out of reach."""
        found: list[AuditRow] = []
        cursor: str | None = None
        scanned = 0
        while scanned < AUDIT_ENTRIES_MAX:
            page = await self._audit.page(AUDIT_PAGE, cursor=cursor, words=[trace_id], changes_only=True)
            scanned += len(page.rows)
            found += [row for row in page.rows if row.record.target == trace_id]
            cursor = page.next_cursor
            if cursor is None:
                break
        return found[::-1]


def audit_logs(trace: Trace, row: AuditRow) -> list[TraceAuditLog]:
    """One audit entry about the trace as the inspector shows it: the ask's as "asked" followed by each stage it
    ran, timed when the stage ended; a render's as "rendered"; any other by its action."""
    record = row.record
    entry_id = f"audit_{row.entry_id}"

    def log(
        log_id: str,
        kind: AuditResourceType,
        resource_id: str,
        action: str,
        at: datetime,
        outcome: str,
        detail: dict[str, Any],
    ) -> TraceAuditLog:
        return TraceAuditLog(
            id=log_id,
            trace_id=trace.trace_id,
            resource_type=kind,
            resource_id=resource_id,
            action=action,
            timestamp=at,
            principal=record.principal,
            outcome=outcome,
            audit_entry_id=row.entry_id,
            detail=detail,
        )

    if record.action == ASK_ACTION:
        logs = [log(entry_id, "trace", trace.trace_id, "asked", row.at, record.outcome, record.detail)]
        ended = trace.created_at
        for output in trace.stage_outputs:
            ended += timedelta(milliseconds=output.duration_ms)
            detail: dict[str, Any] = {"duration_ms": output.duration_ms}
            stage_id = f"{entry_id}.{output.stage}"
            logs.append(log(stage_id, "stage", output.stage, "executed", ended, output.diagnostics.status, detail))
        return logs
    if record.action == UI_RENDER_ACTION:
        render_id = str(record.detail.get("render_id", ""))
        return [log(entry_id, "ui_render", render_id, "rendered", row.at, record.outcome, record.detail)]
    return [log(entry_id, "trace", trace.trace_id, record.action, row.at, record.outcome, record.detail)]
