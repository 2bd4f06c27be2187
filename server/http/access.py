"""What a route lets in, declared with the route (server/http/routes.py): anyone (`Public`), a bearer token with a
scope or any valid token (`Bearer`), or the metrics token (`MetricsToken`, contract 3's /api/v1/metrics: in
`X-Metrics-Token`, or as `Authorization: Bearer <metrics token>`, the one header Prometheus before 2.55 can
send). Each says whether its reads are audited: health probes, metrics scrapes and public feeds are counted
instead (server/http/request_metrics.py), so a scraper polling every few seconds does not fill the hash-chained
log. Requests that change something, and refusals by auth, are audited whatever the route."""

import hashlib
import hmac
from dataclasses import dataclass

from aiohttp import web
from multidict import istr

from server.errors import Forbidden, Unauthorized
from server.keys import SETTINGS
from server.services.tokens import Principal


@dataclass(frozen=True, slots=True)
class Public:
    audit_reads: bool = False


@dataclass(frozen=True, slots=True)
class Bearer:
    """A bearer token with `scope`; with no scope, any valid token."""

    scope: str | None = None
    audit_reads: bool = True


@dataclass(frozen=True, slots=True)
class MetricsToken:
    audit_reads: bool = False


Access = Public | Bearer | MetricsToken

PUBLIC = Public()
AUTHENTICATED = Bearer()
METRICS_TOKEN = MetricsToken()

_AUTHORIZATION = istr("Authorization")
_METRICS_TOKEN = istr("X-Metrics-Token")
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="ops"'}


def authorize(app: web.Application, request: web.Request, access: Access | None, principal: Principal | None) -> None:
    """The auth stage: let the request through to its handler, or raise 401/403 (or the router's 404/405 when no
    route matched, `access` None)."""
    if access is None:
        exception = request.match_info.http_exception
        if exception is not None:
            # No route matched: let the router answer 404/405 without revealing more to anonymous callers.
            raise exception
        raise RuntimeError(f"{request.method} {request.path} has no access declaration")  # refused at start-up
    if isinstance(access, Bearer):
        if principal is None:
            if _AUTHORIZATION in request.headers:
                raise Unauthorized("invalid or revoked bearer token", code="invalid_token", headers=_CHALLENGE)
            raise Unauthorized("missing bearer token: send 'Authorization: Bearer <token>'", headers=_CHALLENGE)
        scope = access.scope
        if scope is not None and scope not in principal.scopes:
            raise Forbidden(f"token '{principal.name}' lacks the scope '{scope}'", code="insufficient_scope")
    elif isinstance(access, MetricsToken):
        _check_metrics_token(app, request)


def _digest(value: str) -> bytes:
    # surrogatepass: a header that is not UTF-8 reaches us with surrogates in it; any string hashes, none raises.
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()


def _metrics_token_of(request: web.Request) -> str | None:
    """The metrics token the caller sent: `X-Metrics-Token` (contract 3) when present, else the credentials of
    `Authorization: Bearer` (Prometheus' `authorization:` scrape setting). None when it sent neither."""
    given = request.headers.get(_METRICS_TOKEN)
    if given is not None:
        return given
    scheme, _, credentials = request.headers.get(_AUTHORIZATION, "").partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" else None  # the scheme is case-insensitive (RFC 9110)


def _check_metrics_token(app: web.Application, request: web.Request) -> None:
    given = _metrics_token_of(request)
    if given is None:
        raise Unauthorized(
            "missing metrics token: send 'X-Metrics-Token: <token>' or 'Authorization: Bearer <token>'",
            code="missing_metrics_token",
        )
    expected = app[SETTINGS].metrics_token
    # Digests compared in constant time: neither the token's bytes nor its length show in the timing.
    if expected is None or not hmac.compare_digest(_digest(given), _digest(expected.get_secret_value())):
        # With no OPS_METRICS_TOKEN configured no value is right, but say only that this one is not.
        raise Unauthorized("invalid metrics token", code="invalid_metrics_token")
