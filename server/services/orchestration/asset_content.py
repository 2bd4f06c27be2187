"""What each asset type holds, checked when a version is created or edited (a draft that would break the pipeline
is refused with 422, not found out by the next ask). One asset of each type drives the pipeline:

- prompt  (`ci-router`): the intents, the words that route to each, and the direct answers
- policy  (`ops-policy`): the reject rules, the tools a plan may use, row limits, and the replan policy
- query   (`ci-queries`): each intent's query template (tool and parameters) and each tool's timeout and fallback
- mapping (`ci-words`): words of both languages -> CI types, environments, statuses, owners, CIs, metrics, windows
- screen  (`answer-layouts`): how each tool's result is laid out as blocks"""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.orchestration import AssetType, ReplanPolicy

Words = list[str]


class _Content(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Intent(_Content):
    """An intent is chosen by how many of its words the question holds (ties go to the earlier intent)."""

    intent: str = Field(min_length=1, max_length=64)
    route: Literal["orch", "direct"] = "orch"
    keywords: dict[Literal["en", "ko"], Words]
    query: str | None = None  # the query template an `orch` intent runs
    answer: str | None = None  # the answer of a `direct` intent


class PromptContent(_Content):
    intents: list[Intent] = Field(min_length=1)


class RejectRule(_Content):
    """Fires when the question holds one of `keywords`, or (`when: no_intent`) when no intent matched."""

    policy_id: str = Field(min_length=1, max_length=64)
    reason: str = Field(min_length=1)
    keywords: Words = Field(default_factory=list)
    when: Literal["keywords", "no_intent"] = "keywords"


class PolicyContent(_Content):
    reject_rules: list[RejectRule]
    allowed_tools: list[str]
    max_rows: int = Field(ge=1, le=10_000)
    replan: ReplanPolicy


class QueryTemplate(_Content):
    tool: str
    params: dict[str, Any] = Field(default_factory=dict)


class ToolSettings(_Content):
    timeout_ms: int = Field(ge=1, le=60_000)
    fallback: str | None = None  # the tool a replan switches to after a timeout, an error or an empty answer
    widen_order: list[str] = Field(default_factory=list)  # filters an empty answer drops, first first
    shrink_on_timeout: str | None = None  # a parameter a timeout halves when there is no fallback


class QueryContent(_Content):
    templates: dict[str, QueryTemplate]
    tools: dict[str, ToolSettings]


class WindowWords(_Content):
    words: Words
    minutes: int = Field(ge=1, le=7 * 24 * 60)


class MappingContent(_Content):
    ci_types: dict[str, Words]
    environments: dict[str, Words]
    statuses: dict[str, Words]
    owners: dict[str, Words]
    ci_aliases: dict[str, Words] = Field(default_factory=dict)
    metrics: dict[str, Words] = Field(default_factory=dict)
    windows: list[WindowWords] = Field(default_factory=list)


class Column(_Content):
    header: str
    field: str


class Layout(_Content):
    block: Literal["table", "timeseries", "text", "markdown"] = "table"
    title: str
    columns: list[Column] = Field(default_factory=list)
    empty_text: str = "No results."


class ScreenContent(_Content):
    summary_block: Literal["text", "markdown"] = "markdown"
    summary: dict[str, str]  # per route or "orch": a template over {question}, {intent}, {counts}
    layouts: dict[str, Layout]


CONTENT_MODELS: dict[AssetType, type[_Content]] = {
    "prompt": PromptContent,
    "policy": PolicyContent,
    "query": QueryContent,
    "mapping": MappingContent,
    "screen": ScreenContent,
}
# The asset of each type the pipeline reads.
PIPELINE_ASSETS: dict[AssetType, str] = {
    "prompt": "ci-router",
    "policy": "ops-policy",
    "query": "ci-queries",
    "mapping": "ci-words",
    "screen": "answer-layouts",
}
