"""What the hostile-input tests (tests/server/test_hostile_<family>.py) share: a server run as `ops-server serve`
runs it (OpsAppRunner on a real port, so even requests aiohttp's parser refuses get our answer), a table of
hand-written hostile requests, and the check every answer to one must pass: a 4xx status (never a 500), the
family's error envelope, no traceback, a safe X-Request-ID, and, for a write, nothing written.

The cases of a table are all sent, and every failure is collected with the case's name, so one run names all the
cases that fail rather than the first."""

import asyncio
import contextlib
import json
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from ops_constants import ADMIN_TOKEN
from yarl import URL

from server.app import create_app
from server.clock import ManualClock
from server.http.malformed_requests import OpsAppRunner
from server.keys import AUDIT
from server.settings import Settings

ADMIN = ADMIN_TOKEN
SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# Tables that change without a client writing: the audit trail and its search index (refusals are on record, as
# they must be), the metrics sampler's rows and the tokens' last-used stamps.
UNWRITTEN_EXCLUDED = ("audit_log", "audit_checkpoints", "metric_samples", "metric_rollups", "api_tokens")

# The limit the hostile servers run with: the deep-nesting bodies (100,000 `[`) fit under it, the oversized don't.
MAX_BODY = 200_000
OVERSIZED = MAX_BODY + 50_000

# Hostile values shared by the families' tables.
DEEP_ARRAY = b"[" * 100_000
DEEP_OBJECT = b'{"a":' * 5_000 + b"1" + b"}" * 5_000
NOT_UTF8 = b'{"name": "\xff\xfe\xc3\x28 \xed\xa0\x80"}'
TRAVERSALS = ("../../etc/passwd", "..%2f..%2fetc%2fpasswd", "%2e%2e%2f%2e%2e%2fetc%2fpasswd", "..%5c..%5cwindows")
SQL_META = ("' OR 1=1 --", "%", "_", '"', ";", "x'; DROP TABLE audit_log; --", "%%", "\\")
TOO_LONG = "a request line or header is longer than the server accepts"  # server/http/malformed_requests.py
BAD_NUMBERS = ("-1", str(10**30), "1e400", "NaN", "inf", "1.5", "0x10", "")


@dataclass(frozen=True)
class Hostile:
    """One hostile request: `path` is sent exactly as written (already percent-encoded where it is meant to be),
    `body` as raw bytes. `statuses`: the 4xx answers the case may get (any 4xx when empty)."""

    name: str
    method: str
    path: str
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    statuses: frozenset[int] = frozenset()
    chunked: bool = False  # sent without a Content-Length, in chunks: the limit must hold on what arrives
    writes: bool = False  # a refused write: the database must be as it was
    # Refused by aiohttp's parser before any route (a request line past 8190 bytes): the malformed-request answer,
    # a 400 in the envelope of the family the line's path names (server/http/malformed_requests.py), saying so in
    # a sentence of ours, without a request id (the pipeline never ran).
    by_parser: bool = False

    def __str__(self) -> str:
        return f"{self.name} ({self.method} {self.path[:80]})"


# --- the families' error envelopes (server/http/envelopes.py) ---


def _control(status: int, body: Any) -> str | None:
    if not (isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"]):
        return "no `error` code"
    if not (isinstance(body.get("detail"), str) and body["detail"]):
        return "no `detail` sentence"
    return None


def _detail(status: int, body: Any) -> str | None:
    if not isinstance(body, dict) or "detail" not in body:
        return "no `detail`"
    detail = body["detail"]
    if isinstance(detail, str):
        return None if detail else "an empty `detail`"
    if (
        isinstance(detail, list)
        and detail
        and all(isinstance(d, dict) and isinstance(d.get("loc"), list) and {"msg", "type"} <= d.keys() for d in detail)
    ):
        return None
    return f"`detail` is neither a sentence nor a FastAPI error list: {detail!r:.200}"


def _agent(status: int, body: Any) -> str | None:
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or set(body) != {"error"}:
        return "not {error: {...}}"
    if not (isinstance(error.get("code"), str) and error["code"].startswith("OPS_AGENT_")):
        return "no OPS_AGENT_ code"
    if not (isinstance(error.get("message"), str) and error["message"] and isinstance(error.get("details"), dict)):
        return "no message or details"
    return None


def _orchestration(status: int, body: Any) -> str | None:
    if not isinstance(body, dict) or set(body) != {"code", "message", "error", "details"}:
        return "not {code, message, error, details}"
    if body["code"] != status:
        return f"code {body['code']} is not the status {status}"
    if not (isinstance(body["error"], str) and body["error"] and isinstance(body["details"], dict)):
        return "no error sentence or details"
    return None


ENVELOPES: dict[str, Callable[[int, Any], str | None]] = {
    "control": _control,
    "runbooks": _detail,
    "agent": _agent,
    "orchestration": _orchestration,
    "live": _detail,
}


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


def problems_of(
    answer: Answer, family: str, statuses: frozenset[int] = frozenset(), *, request_id: bool = True
) -> list[str]:
    """What is wrong with `answer` as the answer to a hostile request of `family`: [] when nothing. `request_id`:
    the answer must carry an X-Request-ID (the pipeline's answers do; the parser's refusals have none)."""
    found = []
    if statuses and answer.status not in statuses:
        found.append(f"status {answer.status}, expected one of {sorted(statuses)}")
    elif not 400 <= answer.status < 500:
        found.append(f"status {answer.status}, not a 4xx")
    if "Traceback" in answer.text or 'File "' in answer.text:
        found.append("a traceback in the body")
    if not answer.headers.get("Content-Type", "").startswith("application/json"):
        found.append(f"Content-Type {answer.headers.get('Content-Type')!r}")
    else:
        try:
            why = ENVELOPES[family](answer.status, answer.json())
        except ValueError:
            why = "the body is not JSON"
        if why:
            found.append(f"not the {family} envelope: {why}: {answer.text[:300]!r}")
    request_id = answer.headers.get("X-Request-ID", "" if request_id else None)
    if request_id is not None and not SAFE_REQUEST_ID.fullmatch(request_id):
        found.append(f"unsafe X-Request-ID {request_id[:200]!r}")
    return found


# --- the server ---


@dataclass
class Server:
    app: web.Application
    port: int
    session: aiohttp.ClientSession
    reader: sqlite3.Connection  # a connection of its own: it reads what is committed, as another process would

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def send(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        token: str | None = ADMIN,
        chunked: bool = False,
    ) -> Answer:
        """`path` sent exactly as written: no normalisation of `..`, no re-encoding."""
        sent = {**({"Authorization": f"Bearer {token}"} if token else {}), **(headers or {})}
        if body is not None:
            sent.setdefault("Content-Type", "application/json")
        data: Any = body
        if chunked and body is not None:

            async def pieces() -> AsyncIterator[bytes]:
                for start in range(0, len(body), 65536):
                    yield body[start : start + 65536]

            data = pieces()
        url = URL(self.base + path, encoded=True)
        async with self.session.request(method, url, data=data, headers=sent) as response:
            return Answer(response.status, dict(response.headers), await response.text(errors="replace"))

    async def ok(self, method: str, path: str, body: Any = None, status: int = 200, **kwargs: Any) -> Any:
        raw = json.dumps(body).encode() if body is not None else None
        answer = await self.send(method, path, body=raw, **kwargs)
        assert answer.status == status, f"{method} {path}: {answer.status} {answer.text[:500]}"
        return answer.json()

    async def raw(self, request: bytes) -> bytes:
        """`request` sent over a socket as it is; the answer read until the server closes the connection."""
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            writer.write(request)
            await writer.drain()
            return await asyncio.wait_for(reader.read(), 10)
        finally:
            writer.close()

    def tables(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every table a client can write, read by a connection of its own: the state a refused write must leave."""
        names = [
            row[0]
            for row in self.reader.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            if not row[0].startswith(("sqlite_", "_", "audit_search")) and row[0] not in UNWRITTEN_EXCLUDED
        ]
        return {name: self.reader.execute(f'SELECT * FROM "{name}"').fetchall() for name in names}

    async def flush_audit(self) -> None:
        await self.app[AUDIT].flush()

    async def check(self, family: str, table: Iterable[Hostile], **kwargs: Any) -> list[str]:
        """Send every case of `table`; the problems found, each naming its case."""
        failures = []
        state = None  # the tables as the last write case left them: a refused write leaves them so
        for case in table:
            if case.writes and state is None:
                state = self.tables()
            try:
                answer = await self.send(
                    case.method, case.path, body=case.body, headers=case.headers, chunked=case.chunked, **kwargs
                )
            except (TimeoutError, aiohttp.ClientError) as exc:
                failures.append(f"{case}: no answer: {type(exc).__name__}: {exc}")
                continue
            if case.by_parser:
                problems = problems_of(answer, family, frozenset({400}), request_id=False)
                echoed = case.path.partition("=")[2][:16] in answer.text  # the refused line, quoted back
                if TOO_LONG not in answer.text or echoed:
                    problems.append(f"not the malformed-request answer: {answer.text[:200]!r}")
            else:
                problems = problems_of(answer, family, case.statuses)
            failures += [f"{case}: {problem}" for problem in problems]
            if case.writes and state is not None:
                after = self.tables()
                changed = [name for name in state if state[name] != after.get(name)]
                if changed:
                    failures.append(f"{case}: wrote to {changed}")
                state = after
        return failures


@contextlib.asynccontextmanager
async def serve(settings: Settings, clock: ManualClock) -> AsyncIterator[Server]:
    """The app on a free port, run as `ops-server serve` runs it, and a client session on it."""
    app = create_app(settings, clock=clock)
    runner = OpsAppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        with contextlib.closing(sqlite3.connect(settings.database_path)) as reader:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
                yield Server(app, runner.addresses[0][1], session, reader)
    finally:
        await runner.cleanup()


def hostile_settings(make_settings: Callable[..., Settings], **overrides: Any) -> Settings:
    return make_settings(max_body_bytes=MAX_BODY, **overrides)


# --- hostile requests every family gets ---


def body_cases(routes: Iterable[tuple[str, str]]) -> list[Hostile]:
    """For each route that reads a JSON body: too large (declared and chunked), nested 100,000 deep, not UTF-8."""
    table = []
    for method, path in routes:
        big = b'{"x": "' + b"a" * OVERSIZED + b'"}'
        table += [
            Hostile(f"oversized body @ {path}", method, path, big, statuses=frozenset({413}), writes=True),
            Hostile(
                f"oversized chunked body @ {path}",
                method,
                path,
                big,
                statuses=frozenset({413}),
                chunked=True,
                writes=True,
            ),
            Hostile(f"100,000 nested [ @ {path}", method, path, DEEP_ARRAY, writes=True),
            Hostile(f"5,000 nested objects @ {path}", method, path, DEEP_OBJECT, writes=True),
            Hostile(f"invalid UTF-8 @ {path}", method, path, NOT_UTF8, writes=True),
            Hostile(f"lone surrogate escape @ {path}", method, path, b'{"x": "\\ud800"}', writes=True),
            Hostile(f"1e400 @ {path}", method, path, b'{"x": 1e400}', writes=True),
        ]
    return table


def bodyless_cases(routes: Iterable[tuple[str, str]]) -> list[Hostile]:
    """For each route that reads no body: a body declared past the limit is refused all the same (413), before
    the route acts (rotates a secret, deletes, aborts)."""
    big = b"[" * OVERSIZED
    return [
        Hostile(
            f"oversized body on a route that reads none @ {path}",
            method,
            path,
            big,
            statuses=frozenset({413}),
            writes=True,
        )
        for method, path in routes
    ]


def request_id_headers() -> dict[str, str]:
    """X-Request-ID values an HTTP client can send (no CR/LF: those go over a raw socket), none of them echoed."""
    return {
        "very long": "a" * 8000,
        "129 characters": "a" * 129,
        "non-ASCII": "réq-☃-ид",
        "spaces and quotes": 'req "1" <script>',
        "empty": "",
        "tab inside": "req\tid",
        "header-like": "x; Set-Cookie: evil=1",
    }


def raw_request_id_requests(path: str, token: str = ADMIN) -> dict[str, bytes]:
    """Requests whose X-Request-ID carries CR/LF, a NUL or raw non-ASCII bytes, byte for byte."""
    head = f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n".encode()
    return {
        "CRLF then a header": head + b"X-Request-ID: abc\r\nSet-Cookie: evil=1\r\n\r\n",
        "bare CR": head + b"X-Request-ID: abc\rSet-Cookie: evil=1\r\n\r\n",
        "bare LF": head + b"X-Request-ID: abc\nSet-Cookie: evil=1\r\n\r\n",
        "obs-fold": head + b"X-Request-ID: abc\r\n Set-Cookie: evil=1\r\n\r\n",
        "NUL": head + b"X-Request-ID: abc\x00def\r\n\r\n",
        "latin-1 bytes": head + b"X-Request-ID: r\xe9q\xff\r\n\r\n",
        "UTF-8 bytes": head + "X-Request-ID: réq☃\r\n\r\n".encode(),
    }


def split_raw(raw: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = [(name.strip(), value.strip()) for name, _, value in (line.partition(":") for line in lines)]
    return int(status_line.split()[1]), headers, body


async def request_id_problems(server: Server, family: str, path: str, ok_status: int = 200) -> list[str]:
    """Send hostile X-Request-IDs on `path` (a read that answers `ok_status` to the admin); the response's
    X-Request-ID must be a safe token, never the caller's text, and no header may be injected."""
    failures = []
    for name, value in request_id_headers().items():
        answer = await server.send("GET", path, headers={"X-Request-ID": value})
        echoed = answer.headers.get("X-Request-ID", "")
        if answer.status != ok_status:
            failures.append(f"X-Request-ID {name}: status {answer.status} {answer.text[:200]}")
        if not SAFE_REQUEST_ID.fullmatch(echoed) or (value and echoed == value):
            failures.append(f"X-Request-ID {name}: answered with {echoed[:200]!r}")
    for name, request in raw_request_id_requests(path).items():
        status, headers, body = split_raw(await server.raw(request))
        ids = [value for header, value in headers if header.lower() == "x-request-id"]
        parser_refused = b"malformed_request" in body  # refused before the pipeline: no request id at all
        if any(header.lower() == "set-cookie" for header, _ in headers):
            failures.append(f"raw X-Request-ID {name}: a Set-Cookie was injected")
        if len(ids) != (0 if parser_refused else 1) or not all(SAFE_REQUEST_ID.fullmatch(i) for i in ids):
            failures.append(f"raw X-Request-ID {name}: answered with {ids!r}")
        if status != ok_status:
            answer = Answer(status, dict(headers), body.decode("utf-8", "replace"))
            # The parser's refusal is the malformed-request answer, in the control envelope on every path.
            problems = problems_of(answer, "control" if parser_refused else family, request_id=not parser_refused)
            failures += [f"raw X-Request-ID {name}: {p}" for p in problems]
    return failures
