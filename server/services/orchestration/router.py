"""The built-in keyword router: the route_plan stage's answer when no Reasoner is configured. Everything it knows
comes from the assets: the reject rules (policy), the intents and their words (prompt), what each intent runs
(query) and the words for CI types, environments, statuses, owners, CIs, metrics and windows (mapping)."""

from dataclasses import dataclass, field
from typing import Any

from server.errors import Conflict
from server.services.orchestration.asset_content import Intent, MappingContent, RejectRule
from server.services.orchestration.assets import AppliedAssets
from server.services.orchestration.cmdb import CmdbService
from server.services.orchestration.words import found, normalize, tokens
from server.services.reasoning import Reasoner, ReasoningFailed, ReasoningRequest
from shared.orchestration import (
    DirectAnswerPayload,
    DirectPlanOutput,
    OrchPlanOutput,
    Plan,
    RejectPlanOutput,
    ToolCall,
)

RoutedOutput = DirectPlanOutput | OrchPlanOutput | RejectPlanOutput
NO_REASONER = "no Reasoner is configured (OPS_LLM_URL): the built-in keyword router answered"


@dataclass
class Routed:
    output: RoutedOutput
    feature: str  # the intent, or the reject policy that fired
    matched: dict[str, Any] = field(default_factory=dict)  # what the router found in the question, for the trace
    router: str = "keyword"  # who chose the intent: the keyword router or the reasoner
    notes: list[str] = field(default_factory=list)  # for the stage's diagnostics


def _reject(rule: RejectRule, why: str) -> Routed:
    output = RejectPlanOutput(reject_reason=rule.reason, reject_policy=rule.policy_id, reasoning=why)
    return Routed(output, "reject", {"reject_policy": rule.policy_id})


def _words(intent: Intent) -> list[str]:
    return [word for words in intent.keywords.values() for word in words]


def _terms(text: str, table: dict[str, list[str]]) -> list[str]:
    """The terms (`prod`, `database`) whose words `text` holds."""
    return [term for term, words in table.items() if found(text, words)]


def _mapping_words(mapping: MappingContent) -> set[str]:
    tables = (mapping.ci_types, mapping.environments, mapping.statuses, mapping.owners, mapping.metrics)
    return {normalize(word) for table in tables for words in table.values() for word in words}


REASONER_INSTRUCTIONS = (
    "You route an operator's question about a trading venue's CMDB to one intent. "
    "Answer with the intent's name only, or 'none' when no intent fits."
)


class KeywordRouter:
    """With a `reasoner` (an OpenAI-compatible endpoint, OPS_LLM_URL), a question no intent's words match is put to
    it, naming the intents; its answer is used only when it names one of them."""

    def __init__(self, cmdb: CmdbService, reasoner: Reasoner | None = None) -> None:
        self._cmdb = cmdb
        self._reasoner = reasoner

    async def _reasoned(self, question: str, intents: list[Intent]) -> tuple[Intent | None, str]:
        assert self._reasoner is not None
        names = ", ".join(intent.intent for intent in intents)
        request = ReasoningRequest(REASONER_INSTRUCTIONS, f"Intents: {names}\nQuestion: {question}", max_tokens=16)
        try:
            answer = await self._reasoner.reason(request)
        except ReasoningFailed as exc:
            return None, f"the reasoner failed ({exc.detail}): the keyword router answered"
        said = set(tokens(normalize(answer.text)))
        chosen = next((intent for intent in intents if intent.intent in said), None)
        return chosen, f"the reasoner ({self._reasoner.name}, {answer.model}) answered {answer.text.strip()[:60]!r}"

    async def route(self, question: str, assets: AppliedAssets) -> Routed:
        text = normalize(question)
        notes = [] if self._reasoner is not None else [NO_REASONER]
        for rule in assets.policy.reject_rules:
            if rule.when == "keywords" and (hits := found(text, rule.keywords)):
                routed = _reject(rule, f"the question holds {', '.join(repr(w) for w in hits)}")
                routed.notes = notes
                return routed
        scored = [
            (len(found(text, _words(intent))), -index, intent) for index, intent in enumerate(assets.prompt.intents)
        ]
        score, _, intent = max(scored, key=lambda item: item[:2])
        routed_by = "keyword"
        if score == 0 and self._reasoner is not None:
            chosen, note = await self._reasoned(question, assets.prompt.intents)
            notes.append(note)
            if chosen is not None:
                score, intent, routed_by = 1, chosen, "reasoner"
        routed = await self._plan(text, intent if score else None, score, assets)
        routed.router, routed.notes = routed_by, notes
        return routed

    async def _plan(self, text: str, intent: Intent | None, score: int, assets: AppliedAssets) -> Routed:
        if intent is None:
            for rule in assets.policy.reject_rules:
                if rule.when == "no_intent":
                    return _reject(rule, "no intent of the prompt asset matched the question")
            return Routed(
                DirectPlanOutput(
                    direct_answer=DirectAnswerPayload(text="I can't answer that question."),
                    confidence=0.0,
                    reasoning="no intent matched and no policy rejects unmatched questions",
                ),
                "unknown",
            )
        confidence = round(min(1.0, 0.5 + 0.2 * score), 2)
        matched_words = found(text, _words(intent))
        reasoning = f"intent '{intent.intent}' by {', '.join(repr(w) for w in matched_words) or 'the reasoner'}"
        if intent.route == "direct" or intent.query is None:
            answer = DirectAnswerPayload(text=intent.answer or "")
            return Routed(
                DirectPlanOutput(direct_answer=answer, confidence=confidence, reasoning=reasoning), intent.intent
            )
        template = assets.query.templates.get(intent.query)
        if template is None:  # a pinned prompt and query that do not fit together
            raise Conflict(
                f"the intent '{intent.intent}' runs the query template '{intent.query}', which the query asset "
                f"{assets.refs['query']} does not have",
                code="asset_mismatch",
            )
        params, matched = await self._params(text, template.tool, dict(template.params), assets.mapping)
        if template.tool == "ci_relations" and "name" not in params:
            text_answer = "Name the configuration item whose relations you want: 'what depends on the connector?'"
            return Routed(
                DirectPlanOutput(
                    direct_answer=DirectAnswerPayload(text=text_answer),
                    confidence=confidence / 2,
                    reasoning=reasoning + ", but no configuration item is named",
                ),
                intent.intent,
                matched,
            )
        plan = Plan(intent=intent.intent, steps=[ToolCall(tool=template.tool, params=params)])
        return Routed(OrchPlanOutput(plan=plan, confidence=confidence, reasoning=reasoning), intent.intent, matched)

    async def _named(self, text: str, mapping: MappingContent) -> list[str]:
        """CIs the question names: by their name (a token that is no mapping word) or by an alias."""
        reserved = _mapping_words(mapping)
        candidates = [t for t in dict.fromkeys(tokens(text)) if t not in reserved]
        known = {ci.name for ci in await self._cmdb.named(candidates)}
        names = [t for t in candidates if t in known]
        names += [name for name, aliases in mapping.ci_aliases.items() if found(text, aliases) and name not in names]
        return names

    async def _params(
        self, text: str, tool: str, params: dict[str, Any], mapping: MappingContent
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        matched: dict[str, Any] = {}
        names = await self._named(text, mapping)
        if names:
            matched["names"] = names
        if tool == "ci_lookup":
            for key, table in (
                ("ci_types", mapping.ci_types),
                ("environments", mapping.environments),
                ("statuses", mapping.statuses),
                ("owners", mapping.owners),
            ):
                terms = _terms(text, table)
                if terms:
                    params[key] = matched[key] = terms
            if names:
                params["names"] = names
        elif tool == "ci_relations" and names:
            params["name"] = names[0]
        elif tool in ("metric_query", "metric_summary"):
            metrics = _terms(text, mapping.metrics)
            if metrics:
                params["metric"] = matched["metric"] = metrics[0]
            windows = [window.minutes for window in mapping.windows if found(text, window.words)]
            if windows and tool == "metric_query":
                params["minutes"] = matched["minutes"] = windows[0]
        elif tool == "audit_search" and names:
            params["words"] = names
        return params, matched
