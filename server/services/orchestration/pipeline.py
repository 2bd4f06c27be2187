"""POST /ops/ci/ask: five stages, route_plan -> validate -> execute -> compose -> present. Each records its input
(the asset versions it applied, its parameters, the stage before's result) and its output (result, diagnostics,
references, duration) in the trace; the control loop's decisions become the trace's replan events; the trace is
stored before the answer goes out."""

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from server.clock import Clock
from server.services.orchestration.assets import AppliedAssets, AssetService
from server.services.orchestration.compose import StepOutcome, counts_text, step_block, summary_block
from server.services.orchestration.control_loop import ControlLoop, Decision
from server.services.orchestration.events import NO_EVENTS, EventSink, emit_ask
from server.services.orchestration.replan import StepPatch, patch_step, patch_violation, violations
from server.services.orchestration.router import KeywordRouter, Routed, RoutedOutput
from server.services.orchestration.tools import ToolError, ToolResult, Tools
from server.storage.traces import ReplanRow, TraceRepository
from shared.orchestration import (
    AskMeta,
    AskRequest,
    AskResponse,
    Block,
    DirectPlanOutput,
    ExecutionContext,
    OrchPlanOutput,
    Plan,
    RejectPlanOutput,
    ReplanEvent,
    ReplanPatchDiff,
    ReplanTrigger,
    Route,
    Severity,
    StageDiagnostics,
    StageInput,
    StageName,
    StageOutput,
    TableBlock,
    TimeseriesBlock,
    ToolCall,
    Trace,
    TraceStatus,
    TriggerType,
)

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 2.0
SEVERITY: dict[TriggerType, Severity] = {
    "timeout": "medium",
    "error": "high",
    "empty": "low",
    "policy_violation": "medium",
}
_ROUTES: dict[str, Route] = {"direct": "direct", "plan": "orch", "reject": "reject"}


def _route_of(output: RoutedOutput) -> Route:
    return _ROUTES[output.kind]


@dataclass
class _Run:
    """One ask in progress: its context, the trace's parts so far."""

    context: ExecutionContext
    assets: AppliedAssets
    inputs: list[StageInput] = field(default_factory=list)
    outputs: list[StageOutput] = field(default_factory=list)
    events: list[ReplanEvent] = field(default_factory=list)
    decisions: list[ReplanRow] = field(default_factory=list)
    used_tools: list[str] = field(default_factory=list)

    def begin(self, stage: StageName, asset_types: tuple[str, ...], params: dict[str, Any]) -> float:
        prev = self.outputs[-1].result if self.outputs else None
        applied = {kind: self.assets.refs[kind] for kind in asset_types}
        self.inputs.append(
            StageInput(
                stage=stage, applied_assets=applied, params=params, prev_output=prev, trace_id=self.context.trace_id
            )
        )
        return time.perf_counter()

    def end(
        self,
        stage: StageName,
        started: float,
        result: dict[str, Any],
        diagnostics: StageDiagnostics,
        references: list[dict[str, Any]] | None = None,
    ) -> None:
        duration = round((time.perf_counter() - started) * 1000)
        self.outputs.append(
            StageOutput(
                stage=stage, result=result, diagnostics=diagnostics, references=references or [], duration_ms=duration
            )
        )


class AskPipeline:
    def __init__(
        self,
        assets: AssetService,
        router: KeywordRouter,
        tools: Tools,
        control: ControlLoop,
        traces: TraceRepository,
        clock: Clock,
        events: EventSink = NO_EVENTS,
    ) -> None:
        self._assets = assets
        self._router = router
        self.tools = tools
        self._control = control
        self._traces = traces
        self._clock = clock
        self._events = events  # trace.completed and replan.decided, queued for webhooks

    async def ask(self, request: AskRequest) -> AskResponse:
        started, created_at = time.perf_counter(), self._clock.now()
        context = ExecutionContext(
            trace_id=f"tr_{uuid.uuid4().hex}",
            test_mode=request.context.test_mode,
            asset_overrides={kind: ref for kind, ref in request.context.asset_overrides.items()},
            start_time=self._clock.timestamp(),
        )
        run = _Run(context, await self._assets.resolve(request.context.asset_overrides))
        routed = await self._route_plan(run, request.question)
        output = await self._validate(run, routed.output)
        outcomes: list[StepOutcome] = []
        if isinstance(output, OrchPlanOutput):
            outcomes, final_plan = await self._execute(run, output.plan)
            output = output.model_copy(update={"plan": final_plan})  # the plan as the replans left it
        else:
            self._skip_execute(run, output)
        blocks = self._compose(run, output, outcomes)
        self._present(run, blocks)
        route = _route_of(output)
        status = _status(output, outcomes)
        duration = round((time.perf_counter() - started) * 1000)
        trace = Trace(
            trace_id=context.trace_id,
            question=request.question,
            route=route,
            feature=routed.feature,
            status=status,
            created_at=created_at,
            duration_ms=duration,
            test_mode=context.test_mode,
            applied_assets=run.assets.refs,
            router=routed.router,
            plan_output=output,
            stage_inputs=run.inputs,
            stage_outputs=run.outputs,
            replan_events=run.events,
        )
        await self._traces.save(trace, run.decisions)
        await emit_ask(self._events, trace)
        meta = AskMeta(
            route=route,
            duration_ms=duration,
            used_tools=run.used_tools,
            trace_id=context.trace_id,
            feature=routed.feature,
            status=status,
            test_mode=context.test_mode,
        )
        return AskResponse(blocks=blocks, meta=meta, trace=trace)

    # --- stages ---

    async def _route_plan(self, run: _Run, question: str) -> Routed:
        started = run.begin("route_plan", ("prompt", "mapping", "policy", "query"), {"question": question})
        routed = await self._router.route(question, run.assets)
        result = {
            "plan_output": routed.output.model_dump(mode="json"),
            "route": _route_of(routed.output),
            "matched": routed.matched,
        }
        diagnostics = StageDiagnostics(warnings=routed.notes, counts={"matched_terms": len(routed.matched)})
        refs = [{"kind": "asset", "asset_type": kind, "ref": run.assets.refs[kind]} for kind in ("prompt", "mapping")]
        run.end("route_plan", started, result, diagnostics, refs)
        return routed

    async def _validate(self, run: _Run, output: RoutedOutput) -> RoutedOutput:
        started = run.begin("validate", ("policy",), {"plan_output": output.model_dump(mode="json")})
        diagnostics = StageDiagnostics()
        policy = run.assets.policy
        while isinstance(output, OrchPlanOutput) and (found := violations(output.plan, policy)):
            violation = found[0]
            diagnostics.warnings.append(violation.reason)
            step = output.plan.steps[violation.step]
            evaluated = time.perf_counter()
            patch = patch_violation(step, violation, run.assets.query, policy)
            decision = self._decide(run, "policy_violation", patch)
            after = _replaced(output.plan, violation.step, patch) if decision.should_replan and patch else output.plan
            self._record(run, "validate", "policy_violation", violation.reason, output.plan, after, decision, evaluated)
            if decision.should_replan and patch is not None:
                output = output.model_copy(update={"plan": after})
                continue
            output = RejectPlanOutput(
                reject_reason=violation.reason,
                reject_policy=f"{run.assets.refs['policy'].split(':')[0]}.{violation.rule}",
                confidence=output.confidence,
                reasoning=f"the plan breaks the policy and was not replanned: {decision.reason}",
            )
            diagnostics.errors.append(violation.reason)
        diagnostics.status = "error" if diagnostics.errors else "warning" if diagnostics.warnings else "ok"
        diagnostics.counts = {"violations": len(diagnostics.warnings)}
        run.end(
            "validate",
            started,
            {"plan_output": output.model_dump(mode="json"), "route": _route_of(output)},
            diagnostics,
        )
        return output

    async def _execute(self, run: _Run, plan: Plan) -> tuple[list[StepOutcome], Plan]:
        started = run.begin("execute", ("query", "policy"), {"steps": [s.model_dump() for s in plan.steps]})
        diagnostics = StageDiagnostics()
        outcomes: list[StepOutcome] = []
        references: list[dict[str, Any]] = []
        for index in range(len(plan.steps)):
            while True:
                step = plan.steps[index]
                result, trigger, reason = await self._run_tool(run, step)
                if trigger is None:
                    outcomes.append(StepOutcome(step, result))
                    break
                diagnostics.warnings.append(f"{step.tool}: {reason}")
                evaluated = time.perf_counter()
                patch = patch_step(step, trigger, run.assets.query, run.assets.policy)
                decision = self._decide(run, trigger, patch)
                after = _replaced(plan, index, patch) if decision.should_replan and patch else plan
                self._record(run, "execute", trigger, reason, plan, after, decision, evaluated)
                if decision.should_replan and patch is not None:
                    plan = after
                    continue
                if trigger == "empty":
                    outcomes.append(StepOutcome(step, result))  # nothing matches: an answer all the same
                else:
                    diagnostics.errors.append(f"{step.tool}: {reason}")
                    outcomes.append(StepOutcome(step, None, reason))
                break
        for outcome in outcomes:
            if outcome.result is not None:
                references.extend(outcome.result.references)
                diagnostics.empty_flags[outcome.step.tool] = outcome.result.empty
                diagnostics.counts[outcome.step.tool] = outcome.result.total
        diagnostics.counts["replans"] = run.context.replan_count
        answered = sum(o.result is not None for o in outcomes)
        diagnostics.status = "error" if answered == 0 else "warning" if diagnostics.warnings else "ok"
        summary = {
            "steps": [
                {
                    "tool": o.step.tool,
                    "params": o.step.params,
                    "rows": len(o.result.rows) if o.result else 0,
                    "total": o.result.total if o.result else 0,
                    "error": o.error,
                }
                for o in outcomes
            ]
        }
        run.end("execute", started, summary, diagnostics, references)
        return outcomes, plan

    def _skip_execute(self, run: _Run, output: RoutedOutput) -> None:
        """A direct answer or a refusal runs no tool; the stage is on record all the same, as skipped."""
        started = run.begin("execute", ("query", "policy"), {"steps": []})
        result = {"skipped": True, "reason": f"route {_route_of(output)}: nothing to run"}
        run.end("execute", started, result, StageDiagnostics(counts={"replans": 0}))

    def _compose(self, run: _Run, output: RoutedOutput, outcomes: list[StepOutcome]) -> list[Block]:
        route = _route_of(output)
        started = run.begin("compose", ("screen",), {"route": route, "steps": len(outcomes)})
        screen = run.assets.screen
        values: dict[str, Any]
        if isinstance(output, RejectPlanOutput):
            values = {"policy": output.reject_policy, "reason": output.reject_reason}
        elif isinstance(output, DirectPlanOutput):
            values = {"answer": output.direct_answer.text}
        else:
            values = {"intent": output.plan.intent, "counts": counts_text(outcomes)}
        blocks: list[Block] = [summary_block(screen, route, values)]
        blocks += [step_block(o, screen.layouts.get(o.step.tool)) for o in outcomes]
        diagnostics = StageDiagnostics(counts={"blocks": len(blocks)})
        run.end("compose", started, {"block_types": [b.type for b in blocks]}, diagnostics)
        return blocks

    def _present(self, run: _Run, blocks: list[Block]) -> None:
        started = run.begin("present", ("screen",), {"blocks": len(blocks)})
        rendered = [_rendered(block) for block in blocks]
        run.end("present", started, {"rendered": rendered}, StageDiagnostics(counts={"blocks": len(blocks)}))

    # --- the control loop's part ---

    async def _run_tool(self, run: _Run, step: ToolCall) -> tuple[ToolResult | None, TriggerType | None, str]:
        settings = run.assets.query.tools.get(step.tool)
        timeout = settings.timeout_ms / 1000 if settings is not None else DEFAULT_TIMEOUT_SECONDS
        tool = self.tools.by_name.get(step.tool)
        if tool is None:
            return None, "error", f"there is no tool '{step.tool}'"
        if step.tool not in run.used_tools:
            run.used_tools.append(step.tool)
        try:
            result = await asyncio.wait_for(tool(dict(step.params)), timeout)
        except TimeoutError:
            return None, "timeout", f"no answer within {timeout * 1000:.0f} ms"
        except ToolError as exc:
            return None, "error", str(exc)
        except Exception as exc:  # a tool's bug fails its step, never the ask
            log.exception("tool %s failed", step.tool)
            return None, "error", f"{type(exc).__name__}: {exc}"
        if result.empty:
            return result, "empty", "the answer is empty"
        return result, None, ""

    def _decide(self, run: _Run, trigger: TriggerType, patch: StepPatch | None) -> Decision:
        if patch is None:
            return Decision(False, "the assets offer no other plan")
        return self._control.decide(run.assets.policy.replan, run.context.trace_id, run.context.replan_count, trigger)

    def _record(
        self,
        run: _Run,
        stage: StageName,
        trigger: TriggerType,
        reason: str,
        before: Plan,
        after: Plan,
        decision: Decision,
        evaluated: float,
    ) -> None:
        """A ReplanEvent for the trace and a decision row for the statistics; `evaluated` is when the decision
        began."""
        if decision.should_replan:
            run.context.replan_count += 1
        now = self._clock.now()
        policy = run.assets.policy.replan
        run.events.append(
            ReplanEvent(
                stage_name=stage,
                trigger=ReplanTrigger(
                    trigger_type=trigger,
                    reason=reason,
                    severity=SEVERITY[trigger],
                    stage_name=stage,
                ),
                patch=ReplanPatchDiff(before=before.model_dump(), after=after.model_dump()),
                timestamp=now.isoformat(),
                decision_metadata={
                    "should_replan": decision.should_replan,
                    "reason": decision.reason,
                    "replan_count": run.context.replan_count,
                    "max_replans": policy.max_replans,
                    "evaluation_time": round(time.perf_counter() - evaluated, 6),
                },
            )
        )
        run.decisions.append(ControlLoop.row(now, stage, trigger, decision))


def _replaced(plan: Plan, index: int, patch: StepPatch | None) -> Plan:
    if patch is None:
        return plan
    steps = list(plan.steps)
    steps[index] = patch.step
    return plan.model_copy(update={"steps": steps})


def _status(output: RoutedOutput, outcomes: list[StepOutcome]) -> TraceStatus:
    if isinstance(output, RejectPlanOutput):
        return "rejected"
    if not outcomes:
        return "success"
    answered = sum(o.result is not None for o in outcomes)
    return "success" if answered == len(outcomes) else "partial" if answered else "error"


def _rendered(block: Block) -> dict[str, Any]:
    shown: dict[str, Any] = {"type": block.type, "title": block.title}
    if isinstance(block, TableBlock):
        shown["rows"] = len(block.content.rows)
    elif isinstance(block, TimeseriesBlock):
        shown["points"] = len(block.content.points)
    return shown
