"""The guardian and signal agents: they watch the plant and take governed actions — `alert.raise` when something
breaks, `comment.create` when it recovers or changes — each through the decision point right at the side effect
(posting to the agent's channel), each with its evidence."""

from collections import deque
from dataclasses import dataclass
from datetime import datetime

from server.clock import Clock
from server.services.policy.context import PolicyContext
from server.services.policy.governor import governed
from server.services.policy.point import DecisionPoint
from server.services.refunds.deposits import SafeRefs
from server.storage.evidence import EvidenceDraft, EvidenceRepository, EvidenceRow
from shared.control import StatusSnapshot
from shared.live import REDACTED, ActionName, AgentName

CHANNEL_SIZE = 100


@dataclass(frozen=True, slots=True)
class Posted:
    """What an agent posted on its channel (operators' eyes only: it names components)."""

    at: datetime
    action: ActionName
    subject: str
    text: str


class NotifyingAgent:
    name: AgentName  # each agent's own

    def __init__(
        self,
        evidence: EvidenceRepository,
        point: DecisionPoint,
        refs: SafeRefs,
        clock: Clock,
        *,
        decision_timeout: float,
    ) -> None:
        self._evidence = evidence
        self.point = point
        self._refs = refs
        self._clock = clock
        self._timeout = decision_timeout
        self.channel: deque[Posted] = deque(maxlen=CHANNEL_SIZE)
        self.reset()

    def reset(self) -> None:
        """Forget what was seen: the next look is a new baseline."""

    async def act(self, action: ActionName, component: str, text: str, *, down: bool) -> EvidenceRow:
        """Post `text` about `component`, if the decision point allows it; record the evidence either way."""
        now = self._clock.now()
        resource = self._refs.component(component)
        context = PolicyContext(
            agent=self.name,
            action=action,
            resource_ref=resource,
            risk_flags=frozenset({"component_down"}) if down else frozenset(),
            at=now,
        )

        async def post() -> None:
            self.channel.append(Posted(now, action, component, text))

        result = await governed(self.point, context, post, timeout=self._timeout)
        return await self._evidence.record(
            EvidenceDraft(
                at=now,
                agent=self.name,
                action=action,
                entry_id=None,
                decision=result.decision.decision if result.decision is not None else None,
                rule=result.rule,
                outcome=result.outcome,
                idempotency_key=None,
                resource_refs=(resource,),
                latency_us=result.latency_us,
                redaction_status=REDACTED,
            )
        )


class GuardianAgent(NotifyingAgent):
    """Raises an alert when a component stops, comments when it runs again."""

    name: AgentName = "guardian"

    def reset(self) -> None:
        self._seen: dict[str, str] = {}

    async def observe(self, snapshot: StatusSnapshot) -> list[EvidenceRow]:
        seen = self._seen
        done = []
        for component in snapshot.components:
            before = seen.get(component.name)
            seen[component.name] = component.state
            if before is None or before == component.state:
                continue  # the first look is the baseline
            if component.state == "stopped":
                done.append(await self.act("alert.raise", component.name, f"{component.name} stopped", down=True))
            elif component.state == "running" and before == "stopped":
                done.append(
                    await self.act("comment.create", component.name, f"{component.name} runs again", down=False)
                )
        return done


class SignalAgent(NotifyingAgent):
    """Comments on the plant's mode changes; raises an alert when the open positions become unknown."""

    name: AgentName = "signal"

    def reset(self) -> None:
        self._mode: str | None = None
        self._positions_known: bool | None = None

    async def observe(self, snapshot: StatusSnapshot) -> list[EvidenceRow]:
        done = []
        if self._mode is not None and snapshot.mode != self._mode:
            done.append(await self.act("comment.create", "orchestrator", f"mode is {snapshot.mode} now", down=False))
        self._mode = snapshot.mode
        known = snapshot.open_positions is not None
        if self._positions_known is True and not known:
            done.append(await self.act("alert.raise", "position_manager", "open positions unknown", down=True))
        self._positions_known = known
        return done
