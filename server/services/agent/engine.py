"""The investigation engine: starts an investigation and runs it in the background, step by step as the planner
decides, checkpointing every step as it finishes. A resumed investigation replays its finished steps (their
outputs, not their calls) and goes on from there; killed mid-run it becomes `interrupted`, and one whose
dependency fails becomes `failed` with OPS_AGENT_DEPENDENCY_FAILURE. At most `max_running` run at once: beyond
that a run or resume is refused (AtCapacity, a 503 with Retry-After) rather than queued, so a burst costs the
server nothing it has to hold."""

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime

from server.clock import Clock
from server.errors import Conflict, DependencyFailure, NotFound
from server.services.agent import findings
from server.services.agent.planner import CONCLUDE, REASON, Decision, decide
from server.services.agent.tools import Tools
from server.services.reasoning import Fact, Reasoner, ReasoningFailed, ReasoningRequest
from server.storage.agent_investigations import AlreadyRunning, InvestigationRepository, Outcome
from server.storage.agent_transactions import TransactionRepository
from shared.agent import (
    InvestigationError,
    InvestigationStatus,
    InvestigationSummary,
    Mode,
    PlannerStep,
    ReasoningStep,
    Step,
    ToolName,
    ToolStep,
)

log = logging.getLogger(__name__)

DEPENDENCY_FAILURE = "OPS_AGENT_DEPENDENCY_FAILURE"
INTERNAL_ERROR = "OPS_AGENT_INTERNAL_ERROR"
INSTRUCTIONS = (
    "You are a payments risk analyst at a retail trading venue. Given the findings about one card deposit into a "
    "client's trading account, say in at most four sentences how likely it is fraudulent and why. Cite findings; "
    "do not invent facts."
)

RETRY_AFTER_SECONDS = 2
"""What a run refused at capacity is told to wait: a quick investigation takes tens of milliseconds, a deep one with
a remote reasoner seconds."""


class AtCapacity(DependencyFailure):
    """As many investigations run as the server allows (`OPS_AGENT_MAX_CONCURRENT`): try again shortly. A 503 with
    Retry-After: the limit is the server's, not the caller's (429 would blame the caller's rate)."""

    code = "investigations_at_capacity"

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"{limit} investigation(s) are running, as many as this server runs at once: try again in "
            f"{RETRY_AFTER_SECONDS} s",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            extra={"limit": limit, "retry_after_seconds": RETRY_AFTER_SECONDS},
        )


# Called on every change of an investigation's status: (mode, old status or None, new status, duration or None).
StatusListener = Callable[[Mode, InvestigationStatus | None, InvestigationStatus, float | None], None]


class InvestigationEngine:
    def __init__(
        self,
        transactions: TransactionRepository,
        investigations: InvestigationRepository,
        tools: Tools,
        reasoner: Reasoner,
        clock: Clock,
        *,
        on_status: StatusListener | None = None,
        max_running: int = 16,
    ) -> None:
        self._transactions = transactions
        self._investigations = investigations
        self.tools = tools
        self.reasoner = reasoner
        self._clock = clock
        self._on_status = on_status or (lambda *_: None)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.max_running = max_running
        self._starting = 0  # runs and resumes between their capacity check and their task's launch

    @contextlib.contextmanager
    def _slot(self) -> Iterator[None]:
        """Hold one of the `max_running` places while an investigation is being started. Checked and taken with no
        await in between, so of a burst of concurrent requests exactly the places left are granted."""
        if len(self._tasks) + self._starting >= self.max_running:
            raise AtCapacity(self.max_running)
        self._starting += 1
        try:
            yield
        finally:
            self._starting -= 1

    async def interrupt_left_running(self) -> int:
        """At start-up: investigations a previous process left running are interrupted."""
        return await self._investigations.interrupt_running(at=self._clock.now())

    async def run(self, mode: Mode, transaction_id: str, *, requested_by: str) -> InvestigationSummary:
        with self._slot():
            return await self._start(mode, transaction_id, requested_by=requested_by)

    async def _start(self, mode: Mode, transaction_id: str, *, requested_by: str) -> InvestigationSummary:
        if await self._transactions.get(transaction_id) is None:
            raise NotFound(f"no transaction {transaction_id}", code="transaction_not_found")
        summary = InvestigationSummary(
            investigation_id=str(uuid.uuid4()),
            transaction_id=transaction_id,
            mode=mode,
            status="running",
            requested_by=requested_by,
            reasoner=self.reasoner.name,
            model=self.reasoner.model,
            started_at=self._clock.now(),
        )
        try:
            await self._investigations.create(summary)
        except AlreadyRunning:
            raise Conflict(
                f"an investigation of transaction {transaction_id} is running already", code="investigation_running"
            ) from None
        self._on_status(mode, None, "running", None)
        self._launch(summary)
        return summary

    async def resume(self, investigation_id: str) -> InvestigationSummary:
        with self._slot():
            return await self._restart(investigation_id)

    async def _restart(self, investigation_id: str) -> InvestigationSummary:
        summary = await self._investigations.get(investigation_id)
        if summary is None:
            raise NotFound(f"no investigation {investigation_id}", code="investigation_not_found")
        if summary.status not in ("interrupted", "failed"):
            raise Conflict(
                f"investigation {investigation_id} is {summary.status}: only an interrupted or failed one resumes",
                code=f"investigation_{summary.status}",
            )
        try:
            reopened = await self._investigations.reopen(
                investigation_id, reasoner=self.reasoner.name, model=self.reasoner.model
            )
        except AlreadyRunning:
            running = f"another investigation of transaction {summary.transaction_id} is running"
            raise Conflict(running, code="investigation_running") from None
        if not reopened:  # resumed by a concurrent request in between
            raise Conflict(f"investigation {investigation_id} was resumed already", code="investigation_running")
        self._on_status(summary.mode, summary.status, "running", None)
        current = await self._investigations.get(investigation_id)
        assert current is not None
        self._launch(current)
        return current

    def task_of(self, investigation_id: str) -> asyncio.Task[None] | None:
        """The running investigation's task (tests kill it to interrupt the investigation)."""
        return self._tasks.get(investigation_id)

    async def close(self) -> None:
        """Interrupt what is running (resume continues it in the next process)."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _launch(self, summary: InvestigationSummary) -> None:
        task = asyncio.create_task(self._drive(summary), name=f"investigation-{summary.investigation_id}")
        self._tasks[summary.investigation_id] = task
        task.add_done_callback(lambda done: self._forget(summary.investigation_id, done))

    def _forget(self, investigation_id: str, task: asyncio.Task[None]) -> None:
        # Only this task: a resume may have started the investigation's next one before this callback ran.
        if self._tasks.get(investigation_id) is task:
            del self._tasks[investigation_id]

    async def _drive(self, summary: InvestigationSummary) -> None:
        started = time.perf_counter()

        def elapsed() -> float:
            return (summary.duration_ms or 0.0) + (time.perf_counter() - started) * 1000

        try:
            await self._work(summary, elapsed)
        except asyncio.CancelledError:
            await asyncio.shield(self._stop(summary, "interrupted", elapsed(), None))
            raise
        except DependencyFailure as exc:
            error = InvestigationError(code=DEPENDENCY_FAILURE, message=exc.detail or "a dependency failed")
            await self._stop(summary, "failed", elapsed(), error)
        except Exception as exc:
            log.exception("investigation %s failed", summary.investigation_id)
            await self._stop(summary, "failed", elapsed(), InvestigationError(code=INTERNAL_ERROR, message=str(exc)))

    async def _stop(
        self, summary: InvestigationSummary, status: InvestigationStatus, duration_ms: float,
        error: InvestigationError | None,
    ) -> None:  # fmt: skip
        await self._investigations.stop(
            summary.investigation_id, status, at=self._clock.now(), duration_ms=duration_ms, error=error
        )
        self._on_status(summary.mode, "running", status, duration_ms)

    async def _work(self, summary: InvestigationSummary, elapsed: Callable[[], float]) -> None:
        investigation_id = summary.investigation_id
        steps = await self._investigations.steps(investigation_id)
        results: findings.Results = {}
        narrative: str | None = None
        for step in steps:  # replay what is done: outputs only, no call is made again
            if step.status == "ok" and isinstance(step, ToolStep) and step.output is not None:
                results[step.name] = (step.step_no, step.output)
            elif step.status == "ok" and isinstance(step, ReasoningStep):
                narrative = step.response
        next_no = steps[-1].step_no + 1 if steps else 1
        while True:
            decision = decide(summary.mode, summary.transaction_id, results, reasoned=narrative is not None)
            last = steps[-1] if steps else None
            # A decision recorded before an interruption, whose action never finished, is not planned again.
            if not (isinstance(last, PlannerStep) and last.decision == decision.action):
                step = await self._record(investigation_id, self._planned(next_no, decision))
                steps.append(step)
                next_no += 1
            if decision.action == CONCLUDE:
                await self._conclude(summary, results, narrative or "", elapsed())
                return
            if decision.action == REASON:
                step = await self._reason(next_no, summary, results)
            else:
                step = await self._call(next_no, decision)
            steps.append(await self._record(investigation_id, step))
            next_no += 1
            if isinstance(step, ToolStep):
                if step.error is not None:
                    raise RuntimeError(f"tool {step.name} failed: {step.error}")
                assert step.output is not None
                results[step.name] = (step.step_no, step.output)
            elif isinstance(step, ReasoningStep):
                if step.error is not None:
                    raise ReasoningFailed(step.error, attempts=step.attempts)
                narrative = step.response

    async def _record(self, investigation_id: str, step: Step) -> Step:
        await self._investigations.add_step(investigation_id, step)
        return step

    def _planned(self, step_no: int, decision: Decision) -> PlannerStep:
        return PlannerStep(
            step_no=step_no,
            name="plan",
            status="ok",
            started_at=self._clock.now(),
            duration_ms=0.0,
            decision=decision.action,
            why=decision.why,
            alternatives=list(decision.alternatives),
        )

    async def _call(self, step_no: int, decision: Decision) -> ToolStep:
        tool: ToolName = decision.action  # type: ignore[assignment]  # the planner names only tools besides these
        at, started = self._clock.now(), time.perf_counter()
        output, error = None, None
        try:
            output = await self.tools.registry[tool](decision.tool_input)
        except Exception as exc:  # recorded in the trace; the investigation fails on it
            error = f"{type(exc).__name__}: {exc}"
        return ToolStep(
            step_no=step_no,
            name=tool,
            status="ok" if error is None else "error",
            started_at=at,
            duration_ms=(time.perf_counter() - started) * 1000,
            input=decision.tool_input,
            output=output,
            error=error,
        )

    async def _reason(self, step_no: int, summary: InvestigationSummary, results: findings.Results) -> ReasoningStep:
        request = _request(summary, results)
        at, started = self._clock.now(), time.perf_counter()
        prompt = f"[system]\n{request.instructions}\n\n[user]\n{request.prompt}"
        step = ReasoningStep(
            step_no=step_no,
            name="assess",
            status="error",
            started_at=at,
            duration_ms=0.0,
            reasoner=self.reasoner.name,
            model=self.reasoner.model,
            prompt=prompt,
        )
        try:
            result = await self.reasoner.reason(request)
        except ReasoningFailed as exc:
            duration = (time.perf_counter() - started) * 1000
            return step.model_copy(update={"duration_ms": duration, "error": exc.detail, "attempts": exc.attempts})
        return step.model_copy(
            update={
                "status": "ok",
                "duration_ms": (time.perf_counter() - started) * 1000,
                "model": result.model,
                "response": result.text,
                "prompt_tokens": result.prompt_tokens,
                "completion_tokens": result.completion_tokens,
                "latency_ms": result.latency_ms,
                "attempts": result.attempts,
            }
        )

    async def _conclude(
        self, summary: InvestigationSummary, results: findings.Results, narrative: str, duration_ms: float
    ) -> None:
        found = findings.signals(results)
        score, verdict = findings.risk_of(found)
        now: datetime = self._clock.now()
        outcome = Outcome(
            transaction_id=summary.transaction_id,
            risk_score=score,
            verdict=verdict,
            summary=narrative,
            insights=findings.insights_of(found),
            recommendations=findings.recommendations_of(
                found, verdict, investigation_id=summary.investigation_id, transaction_id=summary.transaction_id, at=now
            ),
            rule_draft=await findings.rule_draft_of(
                found, results, self._transactions, investigation_id=summary.investigation_id
            ),
        )
        await self._investigations.complete(summary.investigation_id, at=now, duration_ms=duration_ms, outcome=outcome)
        self._on_status(summary.mode, "running", "completed", duration_ms)


def _request(summary: InvestigationSummary, results: findings.Results) -> ReasoningRequest:
    found = findings.signals(results)
    facts = [Fact(f"{s.title} (step {s.evidence[0].step_no})", s.weight) for s in found]
    if not found:
        facts.append(Fact(f"no tool found a concern across {len(results)} checks", 0.0))
    txn = results.get("transaction_lookup", (0, {}))[1]
    lines = [
        f"Deposit {summary.transaction_id}: {txn.get('amount')} {txn.get('currency')} via {txn.get('channel')} "
        f"by customer {txn.get('customer_id')} on device {txn.get('device_id')}, IP country {txn.get('ip_country')}, "
        f"card country {txn.get('card_country')}.",
        "Findings:",
        *(f"- {fact.statement} [weight {fact.weight:.2f}]" for fact in facts),
    ]
    return ReasoningRequest(instructions=INSTRUCTIONS, prompt="\n".join(lines), facts=tuple(facts))
