"""The route_plan stage's router: how asset words are found in a question, and the optional Reasoner (an
OpenAI-compatible endpoint at OPS_LLM_URL) routing what no intent's words match — used only when it names an
intent, and said so in the trace either way."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web
from orchestration_support import ask

from server.http.orchestration import ORCHESTRATION
from server.services.orchestration.router import NO_REASONER, KeywordRouter
from server.services.orchestration.words import contains, found, normalize
from server.services.reasoning import ReasoningFailed, ReasoningRequest, ReasoningResult
from shared.orchestration import OrchPlanOutput, RejectPlanOutput

if TYPE_CHECKING:
    from server_support import Ops


def test_english_words_match_whole_and_korean_ones_inside_words() -> None:
    text = normalize("Show the  UPSTREAM of srv-erp-01, 서버를 보여줘")
    assert contains(text, "upstream") and not contains(text, "up")
    assert contains(text, "srv-erp-01") and not contains(text, "srv-erp-0")
    assert contains(text, "서버") and found(text, ["show", "서버", "db"]) == ["show", "서버"]


class FakeReasoner:
    name = "fake reasoner"
    model = "fake-1"

    def __init__(self, answer: str | None) -> None:
        self.answer = answer
        self.requests: list[ReasoningRequest] = []

    async def reason(self, request: ReasoningRequest) -> ReasoningResult:
        self.requests.append(request)
        if self.answer is None:
            raise ReasoningFailed("unreachable")
        return ReasoningResult(self.answer, self.model, 10, 2, 5.0)

    def health(self) -> tuple[bool, str]:
        return True, "fake"

    async def aclose(self) -> None:
        return None


async def test_without_a_reasoner_the_keyword_router_answers_and_says_so(ops: Ops) -> None:
    data = await ask(ops, "who touched anything lately?")
    assert data["trace"]["router"] == "keyword"
    assert data["trace"]["stage_outputs"][0]["diagnostics"]["warnings"] == [NO_REASONER]


async def test_a_reasoner_routes_a_question_no_intent_matches(ops: Ops) -> None:
    orchestration = ops.app[ORCHESTRATION]
    reasoner = FakeReasoner("audit_search")
    router = KeywordRouter(orchestration.cmdb, reasoner)
    routed = await router.route("who touched anything lately?", await orchestration.assets.resolve({}))
    assert routed.router == "reasoner" and isinstance(routed.output, OrchPlanOutput)
    assert routed.output.plan.steps[0].tool == "audit_search"
    assert "audit_search" in reasoner.requests[0].prompt and "who touched" in reasoner.requests[0].prompt
    # A question the keywords match never reaches it.
    await router.route("서버 상태를 확인해주세요", await orchestration.assets.resolve({}))
    assert len(reasoner.requests) == 1


async def test_a_reasoner_that_fails_or_names_no_intent_leaves_the_reject(ops: Ops) -> None:
    orchestration = ops.app[ORCHESTRATION]
    assets = await orchestration.assets.resolve({})
    for reasoner in (FakeReasoner(None), FakeReasoner("none"), FakeReasoner("drop_tables")):
        routed = await KeywordRouter(orchestration.cmdb, reasoner).route("who touched anything lately?", assets)
        assert isinstance(routed.output, RejectPlanOutput) and routed.output.reject_policy == "out_of_scope"
        assert routed.router == "keyword" and routed.notes and "reasoner" in routed.notes[0]


async def test_ops_llm_url_puts_an_openai_compatible_endpoint_behind_the_router(
    ops_with: Any, aiohttp_server: Any
) -> None:
    seen: list[dict[str, Any]] = []

    async def completions(request: web.Request) -> web.Response:
        seen.append(await request.json())
        return web.json_response({"model": "tiny", "choices": [{"message": {"content": "runbook_history"}}]})

    llm = web.Application()
    llm.router.add_post("/v1/chat/completions", completions)
    server = await aiohttp_server(llm)
    ops = await ops_with(llm_url=str(server.make_url("/v1")))
    data = await ask(ops, "what ran on the venue overnight?")
    assert data["trace"]["router"] == "reasoner" and data["meta"]["used_tools"] == ["runbook_history"]
    assert "the reasoner" in data["trace"]["stage_outputs"][0]["diagnostics"]["warnings"][0]
    assert len(seen) == 1 and seen[0]["messages"][1]["content"].endswith("what ran on the venue overnight?")
