"""The LLM path: an OpenAI-compatible chat-completions server on loopback, started by the test, standing in for
`OPS_LLM_URL`. Its answers land in the trace; its timeout, error statuses and malformed answers fail the
investigation with OPS_AGENT_DEPENDENCY_FAILURE after bounded retries, and resume goes on from there."""

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest
from agent_support import BASE, Agent
from aiohttp import web
from aiohttp.test_utils import TestServer

from server.services.reasoning import OpenAICompatibleReasoner, ReasoningFailed, ReasoningRequest
from server.services.reasoning.openai_compatible import OPENAI_NAME, completions_url

ANSWER = {
    "id": "chatcmpl-1",
    "model": "fake-llm-1",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Likely a mule device."}}],
    "usage": {"prompt_tokens": 120, "completion_tokens": 7},
}


@dataclass
class FakeLLM:
    """Answers each call with the next of `answers` (the last one repeats): a JSON body, a status, or a delay."""

    answers: list[tuple[int, Any, float]] = field(default_factory=lambda: [(200, ANSWER, 0.0)])
    seen: list[dict[str, Any]] = field(default_factory=list)
    headers: list[str] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(await request.json())
        self.headers.append(request.headers.get("Authorization", ""))
        status, body, delay = self.answers[min(len(self.seen), len(self.answers)) - 1]
        if delay:
            await asyncio.sleep(delay)
        if isinstance(body, str):
            return web.Response(status=status, text=body)
        return web.json_response(body, status=status)


@pytest.fixture
async def llm(aiohttp_server: Any) -> tuple[FakeLLM, TestServer]:
    fake = FakeLLM()
    app = web.Application()
    app.router.add_post("/v1/chat/completions", fake.handle)
    return fake, await aiohttp_server(app)


@pytest.fixture
async def agent(llm: tuple[FakeLLM, TestServer], start_app: Any, make_settings: Any) -> Agent:
    _, server = llm
    settings = make_settings(
        llm_url=str(server.make_url("/v1")),
        llm_api_key="sk-test",
        llm_model="fake-llm",
        llm_timeout_seconds=0.3,
        llm_retries=1,
    )
    return Agent(await start_app(settings))


async def test_the_reasoning_step_records_the_endpoints_answer(agent: Agent, llm: tuple[FakeLLM, TestServer]) -> None:
    fake, _ = llm
    txn = await agent.add(ip_country="NG")

    done = await agent.investigate(txn["transaction_id"])

    step = next(s for s in done["steps"] if s["kind"] == "reasoning")
    assert done["status"] == "completed" and done["reasoner"] == OPENAI_NAME and done["model"] == "fake-llm"
    assert step["reasoner"] == OPENAI_NAME and step["model"] == "fake-llm-1"
    assert step["response"] == "Likely a mule device." and done["summary"] == "Likely a mule device."
    assert step["prompt_tokens"] == 120 and step["completion_tokens"] == 7 and step["attempts"] == 1
    assert len(fake.seen) == 1 and fake.headers == ["Bearer sk-test"]
    sent = fake.seen[0]
    assert sent["model"] == "fake-llm" and [m["role"] for m in sent["messages"]] == ["system", "user"]
    assert "card from DE used from NG" in sent["messages"][1]["content"]
    assert sent["messages"][1]["content"] in step["prompt"]


async def test_a_timeout_is_retried_then_fails_and_resume_does_not_repeat_tools(
    agent: Agent, llm: tuple[FakeLLM, TestServer]
) -> None:
    fake, _ = llm
    fake.answers = [(200, ANSWER, 1.0)]  # slower than the 0.3 s timeout, every time
    txn = await agent.add()

    failed = await agent.investigate(txn["transaction_id"])

    step = failed["steps"][-1]
    assert failed["status"] == "failed" and failed["error"]["code"] == "OPS_AGENT_DEPENDENCY_FAILURE"
    assert "timed out" in failed["error"]["message"]
    assert step["kind"] == "reasoning" and step["status"] == "error" and step["attempts"] == 2
    assert len(fake.seen) == 2  # one call and one retry (llm_retries=1), no more

    fake.answers, fake.seen = [(200, ANSWER, 0.0)], []
    calls = agent.count_tool_calls()
    await agent.ok("POST", f"{BASE}/investigations/{failed['investigation_id']}/resume", 202)
    done = await agent.wait(failed["investigation_id"])

    assert done["status"] == "completed" and done["error"] is None and not calls
    reasoning = [s for s in done["steps"] if s["kind"] == "reasoning"]
    assert [s["status"] for s in reasoning] == ["error", "ok"]  # the failed attempt stays in the trace


async def test_a_malformed_answer_fails_at_once(agent: Agent, llm: tuple[FakeLLM, TestServer]) -> None:
    fake, _ = llm
    fake.answers = [(200, {"choices": []}, 0.0)]
    txn = await agent.add()

    failed = await agent.investigate(txn["transaction_id"])
    health = await agent.call("GET", "/api/v1/health", token=None)

    assert failed["status"] == "failed" and failed["error"]["code"] == "OPS_AGENT_DEPENDENCY_FAILURE"
    assert "malformed" in failed["error"]["message"] and len(fake.seen) == 1  # asking again would get the same
    report = await health.json()
    reasoner = next(c for c in report["checks"] if c["name"] == "reasoner")
    assert health.status == 503 and reasoner["status"] == "failing" and "malformed" in reasoner["detail"]


async def test_an_unavailable_endpoint_is_retried_once_and_then_answers(
    agent: Agent, llm: tuple[FakeLLM, TestServer]
) -> None:
    fake, _ = llm
    fake.answers = [(503, {"error": "overloaded"}, 0.0), (200, ANSWER, 0.0)]
    txn = await agent.add()

    done = await agent.investigate(txn["transaction_id"])

    step = next(s for s in done["steps"] if s["kind"] == "reasoning")
    assert done["status"] == "completed" and step["attempts"] == 2 and len(fake.seen) == 2


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        ((200, "not json", 0.0), "malformed"),
        ((200, {"choices": [{"message": {"content": ""}}]}, 0.0), "empty"),
        ((200, {"choices": [{"message": {"content": 42}}]}, 0.0), "malformed"),
        ((401, {"error": "bad key"}, 0.0), "refused"),
    ],
)
async def test_reasoner_refuses_unusable_answers_without_retrying(
    llm: tuple[FakeLLM, TestServer], answer: tuple[int, Any, float], why: str
) -> None:
    fake, server = llm
    fake.answers = [answer]
    reasoner = OpenAICompatibleReasoner(str(server.make_url("/v1")), model="m", timeout_seconds=1, retries=3)
    try:
        with pytest.raises(ReasoningFailed) as failed:
            await reasoner.reason(ReasoningRequest(instructions="i", prompt="p"))
    finally:
        await reasoner.aclose()

    assert why in (failed.value.detail or "") and len(fake.seen) == 1


async def test_an_unreachable_endpoint_fails_after_its_retries(unused_tcp_port: int) -> None:
    reasoner = OpenAICompatibleReasoner(
        f"http://127.0.0.1:{unused_tcp_port}/v1", model="m", timeout_seconds=1, retries=2, backoff_seconds=0.01
    )
    try:
        with pytest.raises(ReasoningFailed) as failed:
            await reasoner.reason(ReasoningRequest(instructions="i", prompt="p"))
    finally:
        await reasoner.aclose()

    assert failed.value.attempts == 3 and "cannot reach" in (failed.value.detail or "")


def test_completions_url_accepts_a_base_or_the_endpoint() -> None:
    assert completions_url("http://h/v1/") == "http://h/v1/chat/completions"
    assert completions_url("http://h/v1/chat/completions") == "http://h/v1/chat/completions"
