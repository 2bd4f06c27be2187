"""One delivery attempt over HTTP: a POST to the subscriber's URL through a connector whose resolver hands out only
addresses the guard allows; redirects are not followed (a 3xx is a failed attempt), the whole attempt has a timeout
and at most `max_response_bytes` of the answer are read."""

import time
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp
from yarl import URL

from server.services.webhooks.addresses import AddressGuard, AddressRefused, GuardedResolver, literal_address

EXCERPT_CHARS = 512  # of the answer, kept in the delivery log


@dataclass(frozen=True, slots=True)
class Answer:
    status_code: int | None  # None: no HTTP answer
    error: str | None
    retry_after: str | None
    excerpt: str
    duration_ms: int
    refused: bool = False  # the guard refused the address: nothing was sent


class Sender:
    def __init__(self, guard: AddressGuard, *, timeout_seconds: float, max_response_bytes: int) -> None:
        self._guard = guard
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._max_bytes = max_response_bytes
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        # No DNS cache: every connection asks the guarded resolver again. trust_env off: no proxy from the
        # environment can carry a delivery past the guard.
        connector = aiohttp.TCPConnector(resolver=GuardedResolver(self._guard), use_dns_cache=False)
        self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout, trust_env=False)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, url: str, headers: Mapping[str, str], body: bytes) -> Answer:
        if self._session is None:
            raise RuntimeError("the sender is not started")
        started = time.perf_counter()

        def took() -> int:
            return round((time.perf_counter() - started) * 1000)

        host = URL(url).raw_host or ""
        try:
            if (address := literal_address(host)) is not None:
                self._guard.check_address(host, address)  # the connector does not resolve literals
            async with self._session.post(url, data=body, headers=headers, allow_redirects=False) as response:
                excerpt = await self._read_capped(response)
                return Answer(response.status, None, response.headers.get("Retry-After"), excerpt, took())
        except AddressRefused as exc:
            return Answer(None, f"refused: {exc}", None, "", took(), refused=True)
        except aiohttp.ClientConnectorDNSError as exc:
            if isinstance(exc.os_error, AddressRefused):
                return Answer(None, f"refused: {exc.os_error}", None, "", took(), refused=True)
            return Answer(None, f"DNS lookup failed: {exc.os_error}", None, "", took())
        except TimeoutError:
            return Answer(None, f"no answer within {self._timeout.total:g} s", None, "", took())
        except aiohttp.ClientError as exc:
            return Answer(None, f"{type(exc).__name__}: {exc}", None, "", took())

    async def _read_capped(self, response: aiohttp.ClientResponse) -> str:
        """At most the cap of the answer: a receiver cannot make the server read (or hold) more."""
        chunks, remaining = [], self._max_bytes
        while remaining > 0:
            chunk = await response.content.read(remaining)
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)[: EXCERPT_CHARS * 4].decode("utf-8", "replace")[:EXCERPT_CHARS]
