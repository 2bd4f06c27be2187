"""An over-long request line, refused by aiohttp's parser before any route is found, is answered in the envelope of
the family its path names (server/http/malformed_requests.py), so a client of one contract (the ops agent's, sending
a long cursor) gets that contract's error, not the control family's; other refusals, where the parser tells nothing
of the path, stay in the control envelope. Raw sockets against a server run as `ops-server serve` runs it."""

import asyncio
import json
import secrets
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.http_exceptions import InvalidHeader, LineTooLong

from server.app import create_app
from server.http.families import Family
from server.http.malformed_requests import OpsAppRunner, family_of_refused

TOKEN = "ops_" + secrets.token_urlsafe(32)
LONG = "A" * 8200
SENTENCE = "a request line or header is longer than the server accepts"


@pytest.fixture
async def port(make_settings, clock) -> AsyncIterator[int]:
    runner = OpsAppRunner(create_app(make_settings(api_token=TOKEN), clock=clock), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


async def exchange(port: int, request: str) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request.encode("latin-1"))
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


async def refused(port: int, request: str) -> tuple[int, dict[str, object]]:
    raw = await exchange(port, request)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head.lower()
    assert TOKEN[4:20].encode() not in raw  # the refused line is never echoed, whatever envelope answers
    return int(head.split()[1]), json.loads(body)


async def test_an_over_long_request_line_is_answered_in_its_familys_envelope_and_only_it(port: int) -> None:
    def line(path: str) -> str:
        return f"GET {path}?cursor={TOKEN}{LONG} HTTP/1.1\r\nHost: x\r\n\r\n"

    agent = await refused(port, line("/api/v1/ops-agent/transactions"))
    orchestration = await refused(port, line("/webhooks"))
    runbooks = await refused(port, line("/api/ops/runbooks"))
    live = await refused(port, line("/ops/api/refunds"))
    control = await refused(port, line("/ops/audit"))
    unknown = await refused(port, line("/nowhere"))

    assert agent == (
        400,
        {"error": {"code": "OPS_AGENT_INVALID_REQUEST", "message": SENTENCE, "details": {"code": "malformed_request"}}},
    )
    assert orchestration == (
        400,
        {"code": 400, "message": "Bad Request", "error": SENTENCE, "details": {"code": "malformed_request"}},
    )
    assert runbooks == (400, {"detail": SENTENCE}) and live == (400, {"detail": SENTENCE})
    assert control == unknown == (400, {"error": "malformed_request", "detail": SENTENCE})

    # Refusals where the parser names no path stay in the control envelope.
    long_header = f"GET /api/v1/ops-agent/transactions HTTP/1.1\r\nHost: x\r\nX-Request-ID: {TOKEN}{LONG}\r\n\r\n"
    bad_header = f"GET /api/v1/ops-agent/transactions HTTP/1.1\r\nHost: x\r\nX-{TOKEN}@: 1\r\n\r\n"

    for request in (long_header, bad_header):
        status, body = await refused(port, request)
        assert status == 400 and body["error"] == "malformed_request" and "detail" in body, body


def test_the_family_is_read_from_either_parsers_quote_of_the_line() -> None:
    # llhttp's parser quotes the URL (a bytearray), the pure-Python one the line with its method: 100 bytes at most.
    url = bytearray(b"/api/v1/ops-agent/worklist/recommendations?cursor=AAAA...")
    assert family_of_refused(LineTooLong(url, 8190)) is Family.AGENT
    assert family_of_refused(LineTooLong(b"POST /webhooks/abc/deliveries?x=1...", 8190)) is Family.ORCHESTRATION
    assert family_of_refused(LineTooLong("GET /api/ops/runbooks...", 8190)) is Family.RUNBOOKS
    assert family_of_refused(LineTooLong(b"X-Request-ID: /api/v1...", 8190)) is Family.CONTROL  # a header
    assert family_of_refused(InvalidHeader(b"/api/v1/ops-agent")) is Family.CONTROL
