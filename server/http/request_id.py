"""Request ids: echo the caller's `X-Request-ID` (when it is a sane token) or make one."""

import itertools
import re
import secrets

from aiohttp import web
from aiohttp.typedefs import Handler

from server.http.context import begin_context, context_of

HEADER = "X-Request-ID"
_SAFE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Ids need to be unique, not unguessable: a random per-process prefix and a counter, 32 hex digits like a uuid,
# without a system call for randomness on every request.
_PREFIX = secrets.token_hex(8)
_SEQUENCE = itertools.count(1)


def new_request_id() -> str:
    return f"{_PREFIX}{next(_SEQUENCE):016x}"


def request_id_of(request: web.Request) -> str:
    return context_of(request).request_id


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    incoming = request.headers.get(HEADER, "")
    # Never echo arbitrary caller text into logs and headers: only a plain token is taken as given.
    begin_context(request, incoming if incoming and _SAFE.match(incoming) else new_request_id())
    return await handler(request)
