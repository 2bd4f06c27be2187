"""An OpenAI-compatible chat-completions endpoint as a Reasoner (`OPS_LLM_URL`, `OPS_LLM_API_KEY`,
`OPS_LLM_MODEL`), through httpx with a timeout per call and a bounded number of retries for what may pass
(unreachable, timed out, 429, 5xx). A 4xx or an answer without a message's text is not retried: asking again
would get the same."""

import asyncio
import time
from typing import Any

import httpx

from server.services.reasoning.base import Reasoner, ReasoningFailed, ReasoningRequest, ReasoningResult
from server.services.reasoning.builtin import BuiltinReasoner

OPENAI_NAME = "openai-compatible"
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def completions_url(base: str) -> str:
    """`http://host/v1` -> `http://host/v1/chat/completions`; a URL naming the endpoint already stays as it is."""
    base = base.rstrip("/")
    return base if base.endswith("/chat/completions") else f"{base}/chat/completions"


class _Retry(Exception):
    """A failure worth another attempt."""


class OpenAICompatibleReasoner:
    name = OPENAI_NAME

    def __init__(
        self,
        url: str,
        *,
        model: str,
        api_key: str | None = None,
        timeout_seconds: float = 10.0,
        retries: int = 2,
        backoff_seconds: float = 0.2,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.model = model
        self._url = completions_url(url)
        self._retries = retries
        self._backoff = backoff_seconds
        self._timeout = timeout_seconds
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.AsyncClient(timeout=timeout_seconds, headers=headers, transport=transport)
        self._last: tuple[bool, str] | None = None

    async def reason(self, request: ReasoningRequest) -> ReasoningResult:
        body = {
            "model": self.model,
            "messages": [
                {"role": "system", "content": request.instructions},
                {"role": "user", "content": request.prompt},
            ],
            "max_tokens": request.max_tokens,
            "temperature": 0,
        }
        started = time.perf_counter()
        attempt = 0
        while True:
            attempt += 1
            try:
                result = await self._call(body, started, attempt)
            except _Retry as exc:
                if attempt > self._retries:
                    raise self._failed(f"{exc} (after {attempt} attempts)", attempt) from None
                await asyncio.sleep(self._backoff * 2 ** (attempt - 1))
                continue
            except ReasoningFailed as exc:
                self._last = (False, exc.detail or "failed")
                raise
            self._last = (True, f"{OPENAI_NAME} {self.model} at {self._url}: last call answered")
            return result

    async def _call(self, body: dict[str, Any], started: float, attempt: int) -> ReasoningResult:
        try:
            # httpx's timeout bounds each read, not the answer: one that trickles in would be waited on forever.
            async with asyncio.timeout(self._timeout):
                response = await self._http.post(self._url, json=body)
        except (TimeoutError, httpx.TimeoutException):
            raise _Retry(f"the reasoner at {self._url} timed out") from None
        except httpx.TransportError as exc:
            raise _Retry(f"cannot reach the reasoner at {self._url}: {type(exc).__name__}") from None
        if response.status_code in _RETRY_STATUSES:
            raise _Retry(f"the reasoner answered {response.status_code}")
        if response.status_code >= 400:
            raise self._failed(f"the reasoner refused the request: {response.status_code}", attempt)
        try:
            answer = response.json()
            text = answer["choices"][0]["message"]["content"]
            usage = answer.get("usage") or {}
            prompt_tokens = int(usage.get("prompt_tokens", 0))
            completion_tokens = int(usage.get("completion_tokens", 0))
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise self._failed("the reasoner's answer is malformed: no choices[0].message.content", attempt) from None
        if not isinstance(text, str) or not text.strip():
            raise self._failed("the reasoner's answer is malformed: an empty message", attempt)
        return ReasoningResult(
            text=text.strip(),
            model=str(answer.get("model") or self.model),
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            latency_ms=(time.perf_counter() - started) * 1000,
            attempts=attempt,
        )

    def _failed(self, detail: str, attempts: int) -> ReasoningFailed:
        self._last = (False, detail)
        return ReasoningFailed(detail, attempts=attempts)

    def health(self) -> tuple[bool, str]:
        if self._last is None:
            return True, f"{OPENAI_NAME} {self.model} at {self._url}: configured, not called yet"
        return self._last

    async def aclose(self) -> None:
        await self._http.aclose()


def reasoner_for(
    url: str | None,
    *,
    model: str,
    api_key: str | None = None,
    timeout_seconds: float = 10.0,
    retries: int = 2,
) -> Reasoner:
    """The configured reasoner: the endpoint at `url`, else the built-in one."""
    if not url:
        return BuiltinReasoner()
    return OpenAICompatibleReasoner(url, model=model, api_key=api_key, timeout_seconds=timeout_seconds, retries=retries)
