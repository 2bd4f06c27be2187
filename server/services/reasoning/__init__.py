"""Reasoning behind one interface (`Reasoner`): the deterministic built-in reasoner, or an OpenAI-compatible
chat-completions endpoint. Family-neutral: the agent's investigations use it, and so may any family that needs a
model's words (`reasoner_for(url, ...)`)."""

from server.services.reasoning.base import Fact, Reasoner, ReasoningFailed, ReasoningRequest, ReasoningResult
from server.services.reasoning.builtin import BuiltinReasoner
from server.services.reasoning.openai_compatible import OpenAICompatibleReasoner, reasoner_for

__all__ = [
    "BuiltinReasoner",
    "Fact",
    "OpenAICompatibleReasoner",
    "Reasoner",
    "ReasoningFailed",
    "ReasoningRequest",
    "ReasoningResult",
    "reasoner_for",
]
