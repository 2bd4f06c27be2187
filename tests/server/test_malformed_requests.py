"""Requests aiohttp's HTTP parser refuses, sent over raw sockets to a server on a real port, run the way
`ops-server serve` and the embedded server run it (OpsAppRunner): the answer is the control envelope, and no
part of a bearer token reaches the answer or the log, however many such requests come."""

import asyncio
import json
import logging
import secrets
import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong

from server.app import create_app
from server.embedded import EmbeddedServer
from server.http.log_redaction import RedactParserErrors, install_log_redaction
from server.http.log_throttle import LogThrottle
from server.http.malformed_requests import OpsAppRunner

TOKEN = "ops_" + secrets.token_urlsafe(32)
SENTENCES = {
    "a request line or header is longer than the server accepts",
    "the request does not start with an HTTP method",
    "the request line is not valid HTTP/1.1",
    "a header name is not valid",
    "the request body's encoding is broken",
    "the request is not valid HTTP/1.1",
}

MALFORMED = {
    "control character after the token": (
        f"GET /ops/whoami HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\x01\r\n\r\n"
    ),
    "8200 bytes after the token": (
        f"GET /ops/whoami HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}{'A' * 8200}\r\n\r\n"
    ),
    "token in an over-long request line": f"GET /ops/whoami?t={TOKEN}{'A' * 8200} HTTP/1.1\r\nHost: x\r\n\r\n",
    "token in a header name": f"GET /ops/whoami HTTP/1.1\r\nHost: x\r\nX-{TOKEN}@: 1\r\n\r\n",
    "token as the method": f"{TOKEN}\x01 /ops/whoami HTTP/1.1\r\nHost: x\r\n\r\n",
    "token in the version": f"GET /ops/whoami HTTP/1.{TOKEN}\r\nHost: x\r\n\r\n",
    "token as a chunk size": (
        f"POST /ops/command HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Transfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n{TOKEN}\r\n{{}}\r\n0\r\n\r\n"
    ),
}


def token_fragments_in(text: str | bytes) -> list[str]:
    """Every 8-character piece of the token that occurs in `text`."""
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    return sorted({TOKEN[i : i + 8] for i in range(len(TOKEN) - 7) if TOKEN[i : i + 8] in text})


def split_response(raw: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return status_line, headers, body


async def exchange(port: int, request: str) -> bytes:
    """Send `request` as it is and read the answer until the server closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request.encode("latin-1"))
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


@pytest.fixture
async def port(make_settings, clock) -> AsyncIterator[int]:
    """A server on a free port, run as `ops-server serve` runs it."""
    runner = OpsAppRunner(create_app(make_settings(api_token=TOKEN), clock=clock), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


@pytest.fixture
def log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


@pytest.mark.parametrize("request_text", MALFORMED.values(), ids=MALFORMED.keys())
async def test_a_malformed_request_gets_the_envelope_and_no_token_byte_anywhere(port, log, request_text):
    raw = await exchange(port, request_text)

    status_line, headers, body = split_response(raw)
    assert status_line.split()[1] == "400"
    assert headers["content-type"].startswith("application/json")
    assert headers["x-content-type-options"] == "nosniff"
    answer = json.loads(body)
    assert answer.keys() == {"error", "detail"}
    assert answer["error"] == "malformed_request"
    assert answer["detail"] in SENTENCES
    assert token_fragments_in(raw) == []
    assert token_fragments_in(log.text) == []
    assert "Traceback" not in log.text
    assert [r.getMessage() for r in log.records if r.name == "server.http.malformed_requests"] == [
        f"refused a malformed request from 127.0.0.1: {answer['detail']}"
    ]


async def test_a_well_formed_request_after_a_refused_one_is_answered_normally(port):
    await exchange(port, MALFORMED["control character after the token"])

    raw = await exchange(
        port, f"GET /ops/whoami HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
    )

    assert split_response(raw)[0].split()[1] == "200"


async def test_a_flood_of_malformed_requests_logs_a_few_lines(port, log):
    requests = list(MALFORMED.values()) * 15

    answers = await asyncio.gather(*(exchange(port, request) for request in requests))

    assert all(split_response(raw)[0].split()[1] == "400" for raw in answers)
    lines = [r for r in log.records if r.name.startswith(("aiohttp", "server.http"))]
    assert 1 <= len(lines) <= 5
    assert token_fragments_in(log.text) == []


def test_the_embedded_server_answers_malformed_requests_the_same_way(make_settings, caplog):
    caplog.set_level(logging.DEBUG)
    server = EmbeddedServer(make_settings(api_token=TOKEN, port=0))
    server.start()
    try:
        with socket.create_connection(("127.0.0.1", server.settings.port), timeout=10) as sock:
            sock.sendall(MALFORMED["8200 bytes after the token"].encode())
            raw = b""
            while chunk := sock.recv(65536):
                raw += chunk
    finally:
        server.stop()

    status_line, headers, body = split_response(raw)
    assert status_line.split()[1] == "400"
    assert headers["x-content-type-options"] == "nosniff"
    assert json.loads(body)["error"] == "malformed_request"
    assert token_fragments_in(raw) == []
    assert token_fragments_in(caplog.text) == []


class TestLogThrottle:
    def test_a_few_lines_a_window_then_a_count_of_the_rest(self, caplog):
        caplog.set_level(logging.WARNING)
        now = [0.0]
        throttle = LogThrottle(logging.getLogger("test.throttle"), lines=3, window=60, clock=lambda: now[0])

        sent = [throttle.warning("line %d", n) for n in range(100)]
        now[0] = 60.0
        throttle.warning("after the window")

        assert sent == [True] * 3 + [False] * 97
        assert [r.getMessage() for r in caplog.records] == [
            "line 0",
            "line 1",
            "line 2",
            "after the window (97 similar lines suppressed before this one)",
        ]


class TestRedaction:
    @pytest.fixture
    def logged(self) -> tuple[logging.Logger, list[str]]:
        """A logger whose handler has the redaction filter, and the lines it wrote."""
        lines: list[str] = []

        class Collect(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                lines.append(self.format(record))

        logger = logging.getLogger(f"test.redaction.{secrets.token_hex(4)}")
        logger.propagate = False
        logger.addHandler(Collect())
        install_log_redaction(logger)
        install_log_redaction(logger)  # once is enough: a second call adds nothing
        assert sum(isinstance(f, RedactParserErrors) for f in logger.handlers[0].filters) == 1
        return logger, lines

    def test_sql_parameters_stay_out_of_a_debug_log(self):
        root, aiosqlite_log = logging.getLogger(), logging.getLogger("aiosqlite")
        levels = root.level, aiosqlite_log.level
        try:
            root.setLevel(logging.DEBUG)
            aiosqlite_log.setLevel(logging.NOTSET)
            assert aiosqlite_log.isEnabledFor(logging.DEBUG)  # inherits the root's DEBUG, SQL parameters and all
            install_log_redaction(logging.getLogger(f"test.redaction.{secrets.token_hex(4)}"))
            assert not aiosqlite_log.isEnabledFor(logging.DEBUG)
        finally:
            root.setLevel(levels[0])
            aiosqlite_log.setLevel(levels[1])

    def test_a_parser_error_is_logged_without_its_message(self, logged):
        logger, lines = logged
        for error in (BadHttpMessage(f"Invalid header value char: b'Bearer {TOKEN}'"), LineTooLong(TOKEN, 8190)):
            try:
                raise error
            except BadHttpMessage:
                logger.exception("Error handling request from %s", "127.0.0.1")

        assert token_fragments_in("\n".join(lines)) == []
        assert lines == [
            "Error handling request from 127.0.0.1 (the request is not valid HTTP/1.1; the parser's message is"
            " withheld)",
            "Error handling request from 127.0.0.1 (a request line or header is longer than the server accepts;"
            " the parser's message is withheld)",
        ]

    def test_a_parser_error_behind_another_is_found(self, logged):
        logger, lines = logged
        try:
            try:
                raise BadHttpMessage(TOKEN)
            except BadHttpMessage as exc:
                raise RuntimeError("reading the body failed") from exc
        except RuntimeError:
            logger.exception("unhandled error")

        assert token_fragments_in("\n".join(lines)) == []
        assert "withheld" in lines[0]

    def test_other_errors_keep_their_traceback(self, logged):
        logger, lines = logged
        try:
            raise ValueError("an ordinary failure")
        except ValueError:
            logger.exception("unhandled error")

        assert "Traceback" in lines[0]
        assert "an ordinary failure" in lines[0]
