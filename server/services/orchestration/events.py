"""What orchestration tells the outside world: the events a webhook can subscribe to, and the sink they are emitted
into. The webhooks family puts its sink under EVENTS before orchestration starts; a service that emits reads it with
`app.get(EVENTS, NO_EVENTS)`, so it runs unchanged without webhooks. Emitting only queues: delivery is asynchronous
and never slows or fails the caller's request."""

from collections.abc import Mapping
from enum import StrEnum
from typing import Protocol

from aiohttp import web

from shared.orchestration import ReplanEvent, Trace


class EventType(StrEnum):
    TRACE_COMPLETED = "trace.completed"
    REPLAN_DECIDED = "replan.decided"
    REGRESSION_COMPLETED = "regression.completed"


EVENT_TYPES: tuple[str, ...] = tuple(event.value for event in EventType)


class EventSink(Protocol):
    async def emit(self, event_type: str, data: Mapping[str, object], *, test_mode: bool) -> None:
        """Queues `data` (JSON-serialisable) for every subscriber of `event_type`; `test_mode` events are dropped."""
        ...


class _NoEvents:
    async def emit(self, event_type: str, data: Mapping[str, object], *, test_mode: bool) -> None:
        return None


NO_EVENTS: EventSink = _NoEvents()

EVENTS = web.AppKey("orchestration_events", EventSink)


def trace_completed(trace: Trace) -> dict[str, object]:
    """The `trace.completed` data: what a subscriber needs to decide whether to fetch the trace
    (GET /inspector/traces/{trace_id}). Not the question: it goes to another party, and the trace has it."""
    return {
        "trace_id": trace.trace_id,
        "route": trace.route,
        "feature": trace.feature,
        "status": trace.status,
        "duration_ms": trace.duration_ms,
        "created_at": trace.created_at.isoformat(),
        "replan_count": len(trace.replan_events),
        "applied_assets": dict(trace.applied_assets),
    }


def replan_decided(trace_id: str, event: ReplanEvent) -> dict[str, object]:
    """The `replan.decided` data: one decision of the control loop, without the plans before and after."""
    return {
        "trace_id": trace_id,
        "stage_name": event.stage_name,
        "trigger": event.trigger.model_dump(mode="json"),
        "should_replan": bool(event.decision_metadata.get("should_replan")),
        "decision_metadata": event.decision_metadata,
        "timestamp": event.timestamp,
    }


async def emit_ask(sink: EventSink, trace: Trace) -> None:
    """An ask's events, once its trace is stored (a subscriber may fetch it at once): each replan decision, then
    the completed trace."""
    for event in trace.replan_events:
        await sink.emit(EventType.REPLAN_DECIDED, replan_decided(trace.trace_id, event), test_mode=trace.test_mode)
    await sink.emit(EventType.TRACE_COMPLETED, trace_completed(trace), test_mode=trace.test_mode)
