"""The loop that runs the governed agents: each tick takes the plant's new refund requests into the ledger, lets
the guardian and signal agents look at the plant, and lets the refund worker process one pending entry. A tick
that fails is counted and the next one runs."""

import asyncio
import logging
from collections import Counter

from server.plant.plant import Plant
from server.plant.refund_requests import RefundRequestSource
from server.services.live.agents import GuardianAgent, SignalAgent
from server.services.refunds.intake import RefundIntake
from server.services.refunds.worker import RefundWorker
from server.storage.evidence import EvidenceRow
from shared.live import AgentName, AgentState

log = logging.getLogger(__name__)


class LiveAgents:
    def __init__(
        self,
        plant: Plant,
        source: RefundRequestSource,
        intake: RefundIntake,
        guardian: GuardianAgent,
        signal: SignalAgent,
        worker: RefundWorker,
    ) -> None:
        self.plant = plant
        self.source = source
        self.intake = intake
        self.guardian = guardian
        self.signal = signal
        self.worker = worker
        self.running = False
        self.tick_errors: Counter[AgentName] = Counter()

    async def tick(self) -> None:
        for request in await self.source.tick():
            await self.intake.receive(request)
        snapshot = self.plant.snapshot()
        for agent in (self.guardian, self.signal):
            try:
                await agent.observe(snapshot)
            except Exception:
                log.exception("the %s agent failed this tick", agent.name)
                self.tick_errors[agent.name] += 1
        try:
            await self.worker.process_once()
        except Exception:
            log.exception("the refund worker failed this tick")
            self.tick_errors["refund"] += 1

    async def run(self, interval: float) -> None:
        self.running = True
        try:
            while True:
                await asyncio.sleep(interval)
                try:
                    await self.tick()
                except Exception:  # intake failed (a busy database): the next tick tries again
                    log.exception("live agents' tick failed")
                    self.tick_errors["refund"] += 1
        finally:
            self.running = False

    def state_of(self, last: EvidenceRow | None) -> AgentState:
        """Degraded while the agent's last action failed closed; idle when the loop does not run."""
        if last is not None and last.outcome == "failed_closed":
            return "degraded"
        return "active" if self.running else "idle"
