"""Request ids: echo the caller's `X-Request-ID` (when it is a sane token) or make one."""

import os
import random
import re

from aiohttp import web
from multidict import istr

from server.http.context import CONTEXT, RequestContext, context_of

HEADER = "X-Request-ID"
_HEADER = istr(HEADER)  # an istr finds the header without folding the name's case on every request
_SAFE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Ids need to be unique, not unguessable: 128 bits from a generator seeded from the OS once (and again in a forked
# child, so two workers never share a sequence) rather than a system call for randomness on every request. Not a
# counter either, which would tell callers how busy the server is.
_IDS = random.Random()
os.register_at_fork(after_in_child=_IDS.seed)


def new_request_id() -> str:
    # 32 hex digits through bytes: formatting a 128-bit int with a format spec costs several times as much.
    return _IDS.getrandbits(128).to_bytes(16, "big").hex()


def request_id_of(request: web.Request) -> str:
    return context_of(request).request_id


def begin_request(request: web.Request) -> RequestContext:
    """The first stage: the request's context, under the caller's id or a new one."""
    incoming = request.headers.get(_HEADER, "")
    # Never echo arbitrary caller text into logs and headers: only a plain token is taken as given.
    context = request[CONTEXT] = RequestContext(incoming if incoming and _SAFE.match(incoming) else new_request_id())
    return context
