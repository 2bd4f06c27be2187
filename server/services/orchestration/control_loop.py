"""The control loop: whether a stage's trouble (a timeout, an error, an empty answer, a policy violation) is met
with a replan, by the replan policy of the policy asset:

- `enable_automatic_replan` off, or a trigger not in `allowed_triggers`: never;
- at most `max_replans` per ask; the ask that runs out starts the cooling period;
- for `cooling_period_seconds` after that, no ask replans: a dependency that keeps failing does not make every ask
  pay for replans that do not help;
- at least `min_interval_seconds` after another ask's replan (within one ask, `max_replans` bounds them).

Decisions are kept in memory for the next ask and stored with each trace for the statistics."""

from dataclasses import dataclass
from datetime import datetime

from server.clock import Clock
from server.storage.traces import ReplanRow, TraceRepository
from shared.orchestration import ControlLoopStats, ReplanPolicy, StageName, TriggerType


@dataclass(frozen=True, slots=True)
class Decision:
    should_replan: bool
    reason: str
    exhausted: bool = False


class ControlLoop:
    def __init__(self, traces: TraceRepository, clock: Clock) -> None:
        self._traces = traces
        self._clock = clock
        self._last_replan: tuple[datetime, str | None] | None = None  # when, and by which ask
        self._last_exhausted: datetime | None = None

    async def restore(self) -> None:
        """Take up the state the decisions stored before a restart left."""
        totals = await self._traces.replan_totals()
        if totals.last_replan_at is not None:
            self._last_replan = (totals.last_replan_at, None)
        self._last_exhausted = totals.last_exhausted_at

    def decide(self, policy: ReplanPolicy, trace_id: str, replans_so_far: int, trigger: TriggerType) -> Decision:
        now = self._clock.now()
        if not policy.enable_automatic_replan:
            return Decision(False, "automatic replan is disabled")
        if trigger not in policy.allowed_triggers:
            return Decision(False, f"the trigger '{trigger}' is not allowed")
        if replans_so_far >= policy.max_replans:
            self._last_exhausted = now
            return Decision(False, f"the ask used all {policy.max_replans} replans", exhausted=True)
        if self._last_exhausted is not None:
            cooled = (now - self._last_exhausted).total_seconds()
            if cooled < policy.cooling_period_seconds:
                return Decision(
                    False,
                    f"cooling period: {cooled:.0f}s of {policy.cooling_period_seconds:.0f}s since replans ran out",
                )
        if self._last_replan is not None and self._last_replan[1] != trace_id:
            since = (now - self._last_replan[0]).total_seconds()
            if since < policy.min_interval_seconds:
                return Decision(
                    False, f"min interval: {since:.0f}s of {policy.min_interval_seconds:.0f}s since the last replan"
                )
        self._last_replan = (now, trace_id)
        return Decision(True, "replan")

    @staticmethod
    def row(at: datetime, stage: StageName, trigger: TriggerType, decision: Decision) -> ReplanRow:
        return ReplanRow(at, stage, trigger, decision.should_replan, decision.exhausted)

    async def stats(self, policy: ReplanPolicy) -> ControlLoopStats:
        totals = await self._traces.replan_totals()
        return ControlLoopStats(
            replan_count=totals.replanned,
            max_replans=policy.max_replans,
            last_replan_time=totals.last_replan_at,
            replan_history_count=totals.decisions,
            trigger_counts=totals.by_trigger,
            policy=policy,
        )
