"""The built-in reasoner: deterministic, offline, and named as such in every trace. It does not read the prompt's
prose; it weighs the request's facts and says what they add up to, so the same facts always give the same words."""

import time

from server.services.reasoning.base import ReasoningRequest, ReasoningResult

BUILTIN_NAME = "built-in deterministic reasoner"
BUILTIN_MODEL = "builtin-rules-v1"


def _tokens(text: str) -> int:
    return len(text.split())


class BuiltinReasoner:
    name = BUILTIN_NAME
    model = BUILTIN_MODEL

    async def reason(self, request: ReasoningRequest) -> ReasoningResult:
        started = time.perf_counter()
        concerns = sorted((f for f in request.facts if f.weight > 0), key=lambda f: -f.weight)
        if not concerns:
            text = "No finding weighs toward concern; the deposit matches the customer's usual behaviour."
        else:
            # Independent signals: the chance that none of them is real is the product of their complements.
            clear = 1.0
            for fact in concerns:
                clear *= 1.0 - min(fact.weight, 0.99)
            strongest = "; ".join(f.statement for f in concerns[:3])
            text = (
                f"{len(concerns)} finding(s) weigh toward concern (combined weight {1 - clear:.2f}). "
                f"Strongest: {strongest}."
            )
        return ReasoningResult(
            text=text,
            model=self.model,
            prompt_tokens=_tokens(request.instructions) + _tokens(request.prompt),
            completion_tokens=_tokens(text),
            latency_ms=(time.perf_counter() - started) * 1000,
        )

    def health(self) -> tuple[bool, str]:
        return True, f"{BUILTIN_NAME} ({BUILTIN_MODEL}): in-process, always available"

    async def aclose(self) -> None:
        return None
