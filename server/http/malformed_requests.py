"""Requests aiohttp's HTTP parser refuses: a control character in a header, a line over 8190 bytes, a request line
that is not HTTP, a broken chunk. They never reach the request pipeline. Left to itself, aiohttp answers each
from `RequestHandler.handle_error` with the parser's message as a text/plain body, and logs that message with a
traceback at ERROR; the message quotes the offending bytes, so a bearer token beside them went to the log and
back to the sender.

Here `handle_error` answers them in the control family's envelope (`malformed_request`, a sentence of ours, no
request bytes) — or, for an over-long request line, in the envelope of the family its path names, the one thing
the parser tells of the request (a client of /api/v1 sending a long cursor gets its contract's error) — and logs
one line without request bytes, a few a minute at most. aiohttp has no setting for either (aio-libs/aiohttp#3287
asks for one), so the runner builds its connections with this handler: `OpsAppRunner`, which `ops-server serve`
and the embedded server use in place of `web.AppRunner`."""

import asyncio
import logging
import re
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import (
    BadHttpMethod,
    BadStatusLine,
    HttpProcessingError,
    InvalidHeader,
    LineTooLong,
    PayloadEncodingError,
)
from aiohttp.web_protocol import RequestHandler

from server.errors import InvalidRequest
from server.http.envelopes import ENVELOPES
from server.http.families import Family, family_of
from server.http.log_throttle import LogThrottle

log = logging.getLogger(__name__)

CODE = "malformed_request"

# What went wrong, in words of our own: the parser's message quotes the request. Most specific first.
_REASONS: tuple[tuple[type[HttpProcessingError], str], ...] = (
    (LineTooLong, "a request line or header is longer than the server accepts"),
    (BadHttpMethod, "the request does not start with an HTTP method"),
    (BadStatusLine, "the request line is not valid HTTP/1.1"),
    (InvalidHeader, "a header name is not valid"),
    (PayloadEncodingError, "the request body's encoding is broken"),
)


# The path at the start of what a LineTooLong quotes of a request line: the URL (llhttp's parser) or the line with
# its method (the pure-Python one). llhttp quotes an over-long header by its value alone, so a value starting with
# "/" is taken for a path too: that answer comes in that path's family's envelope, the same 400 quoting nothing.
_REQUEST_LINE_PATH = re.compile(rb"(?:[A-Z]{1,20} )?(/[^?# ]*)")


def family_of_refused(error: HttpProcessingError) -> Family:
    """The family whose envelope answers `error`: the family of the path of an over-long request line, else the
    control family (nothing of the request is known)."""
    quoted = error.args[0] if isinstance(error, LineTooLong) and error.args else None
    if isinstance(quoted, str):
        quoted = quoted.encode("latin-1", "replace")
    match = _REQUEST_LINE_PATH.match(quoted) if isinstance(quoted, bytes | bytearray) else None
    return family_of(match.group(1).decode("latin-1")) if match else Family.CONTROL


def describe(error: HttpProcessingError) -> str:
    """A sentence saying what is wrong with a request the parser refused, without quoting any of it."""
    return next((text for kind, text in _REASONS if isinstance(error, kind)), "the request is not valid HTTP/1.1")


class MalformedRequestHandler(RequestHandler):
    """aiohttp's connection handler, answering the parser's refusals in an envelope of ours."""

    __slots__ = ("_malformed_log",)

    def __init__(self, manager: web.Server, *, malformed_log: LogThrottle, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._malformed_log = malformed_log

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if not isinstance(exc, HttpProcessingError):  # a handler's failure (500, 504): aiohttp's own answer
            return super().handle_error(request, status, exc, message)
        detail = describe(exc)
        self._malformed_log.warning("refused a malformed request from %s: %s", request.remote, detail)
        if request.writer.output_size > 0:  # as aiohttp's: an answer was under way, the connection is broken
            raise ConnectionError("response already started; cannot send the malformed-request answer")
        response = ENVELOPES[family_of_refused(exc)].error(InvalidRequest(detail, code=CODE))
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.force_close()  # what follows on the connection cannot be framed
        return response


class MalformedRequestServer(web.Server):
    """aiohttp's protocol factory, making MalformedRequestHandler connections."""

    def __init__(self, plain: web.Server, *, malformed_log: LogThrottle, **kwargs: Any) -> None:
        super().__init__(
            plain.request_handler,
            request_factory=plain.request_factory,
            handler_cancellation=plain.handler_cancellation,
            **kwargs,
        )
        self._handler_kwargs = kwargs
        self._handler_loop = asyncio.get_running_loop()
        self._malformed_log = malformed_log

    def __call__(self) -> RequestHandler:
        return MalformedRequestHandler(
            self, loop=self._handler_loop, malformed_log=self._malformed_log, **self._handler_kwargs
        )


class OpsAppRunner(web.AppRunner):
    """`web.AppRunner` whose connections answer malformed requests with MalformedRequestHandler. `kwargs` are
    AppRunner's (`access_log`, `shutdown_timeout`, ...)."""

    def __init__(self, app: web.Application, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        # What aiohttp passes on to each connection handler: all but the runner's own settings.
        self._handler_kwargs = {k: v for k, v in kwargs.items() if k not in ("handle_signals", "shutdown_timeout")}
        self.malformed_log = LogThrottle(log)  # one per server: its connections share the budget

    async def _make_server(self) -> web.Server:
        # BaseRunner's one hook for the server it runs. AppRunner's starts the application and makes a plain
        # Server for it; ours takes that Server's request handler and factory and makes the connections.
        plain = await super()._make_server()
        return MalformedRequestServer(plain, malformed_log=self.malformed_log, **self._handler_kwargs)
