"""Request ids: echo the caller's `X-Request-ID` (when it is a sane token) or make one."""

import re
import secrets

from aiohttp import web
from aiohttp.typedefs import Handler

HEADER = "X-Request-ID"
_SAFE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def request_id_of(request: web.Request) -> str:
    return request.get("request_id") or "-"


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    incoming = request.headers.get(HEADER, "")
    # Never echo arbitrary caller text into logs and headers: only a plain token is taken as given.
    request["request_id"] = incoming if incoming and _SAFE.match(incoming) else secrets.token_hex(16)
    return await handler(request)
