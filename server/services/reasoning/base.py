"""The Reasoner interface: a request (instructions, a prompt, and the facts the prompt states, so a reasoner that
cannot read prose still has them), a result with what a trace records (model, tokens, latency, attempts), and the
one error a failing reasoner raises."""

from dataclasses import dataclass, field
from typing import Protocol

from server.errors import DependencyFailure


@dataclass(frozen=True, slots=True)
class Fact:
    """One finding put to the reasoner: a statement and how much it weighs toward concern (0 none .. 1 strong)."""

    statement: str
    weight: float = 0.0


@dataclass(frozen=True, slots=True)
class ReasoningRequest:
    instructions: str  # the system message
    prompt: str  # the user message, facts included in words
    facts: tuple[Fact, ...] = ()
    max_tokens: int = 400


@dataclass(frozen=True, slots=True)
class ReasoningResult:
    text: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float
    attempts: int = 1
    raw: dict[str, object] = field(default_factory=dict)


class ReasoningFailed(DependencyFailure):
    """The reasoner did not answer usably (unreachable, timed out, an error status, a malformed answer), after its
    retries. `attempts` says how many calls were made."""

    code = "reasoner_failed"

    def __init__(self, detail: str, *, attempts: int = 1) -> None:
        super().__init__(detail, extra={"attempts": attempts})
        self.attempts = attempts


class Reasoner(Protocol):
    name: str  # shown in every trace: "built-in deterministic reasoner", "openai-compatible"
    model: str

    async def reason(self, request: ReasoningRequest) -> ReasoningResult:
        """The reasoner's answer; ReasoningFailed when there is none to use."""
        ...

    def health(self) -> tuple[bool, str]:
        """Whether the last call (if any) worked, and a sentence saying so. Never calls the model."""
        ...

    async def aclose(self) -> None: ...
