"""Hand-written hostile requests to the control family (contract 1): bodies past the size limit (declared and
chunked), huge and overflowing query values, path traversal in runbook names, SQL and FTS metacharacters in the
audit search, forged audit cursors, hostile X-Request-IDs. Each is a 4xx in the control envelope (never a 500,
never a traceback), and a refused command leaves the database as it was. test_errors.py has the malformed command
bodies at a 1 KB limit; test_fuzz.py generated ones."""

import base64
from urllib.parse import quote

from hostile_support import (
    BAD_NUMBERS,
    MAX_BODY,
    NOT_UTF8,
    OVERSIZED,
    SQL_META,
    TRAVERSALS,
    Hostile,
    Server,
    hostile_settings,
    problems_of,
    request_id_problems,
    serve,
)

FAMILY = "control"
BAD_REQUEST = frozenset({400})
COMMAND = "/ops/command"


def _table() -> list[Hostile]:
    big_reason = b'{"command": "stop", "component": "connector", "params": {"reason": "' + b"r" * OVERSIZED + b'"}}'
    table = [
        Hostile("oversized command", "POST", COMMAND, big_reason, statuses=frozenset({413}), writes=True),
        Hostile(
            "oversized chunked command",
            "POST",
            COMMAND,
            big_reason,
            statuses=frozenset({413}),
            chunked=True,
            writes=True,
        ),
        Hostile(
            "body one byte past the limit",
            "POST",
            COMMAND,
            b" " * (MAX_BODY + 1),
            statuses=frozenset({413}),
            writes=True,
        ),
        Hostile("oversized body on a read", "GET", "/ops/status", b"x" * OVERSIZED, statuses=frozenset({413})),
        Hostile("invalid UTF-8 in a string", "POST", COMMAND, NOT_UTF8, statuses=BAD_REQUEST, writes=True),
        # 100 KB in a query: past aiohttp's 8190-byte request line, refused by the parser (still this envelope).
        Hostile("100 KB audit search", "GET", by_parser=True, path="/ops/audit?q=" + "a" * 100_000),
        Hostile("100 KB runbook name", "GET", by_parser=True, path="/ops/runbook?name=" + "a" * 100_000),
        Hostile("100 KB audit cursor", "GET", by_parser=True, path="/ops/audit?cursor=" + "A" * 100_000),
        # Long values under the line limit reach the route and its validation.
        Hostile("8 KB audit search", "GET", "/ops/audit?q=" + "a" * 8000, statuses=BAD_REQUEST),
        Hostile("8 KB runbook name", "GET", "/ops/runbook?name=" + "a" * 8000, statuses=BAD_REQUEST),
        Hostile("8 KB audit cursor", "GET", "/ops/audit?cursor=" + "A" * 8000, statuses=BAD_REQUEST),
        Hostile("NUL in the audit search", "GET", "/ops/audit?q=%00%00", statuses=BAD_REQUEST),
    ]
    table += [
        Hostile(f"limit={value!r}", "GET", f"/ops/audit?limit={quote(value)}", statuses=BAD_REQUEST)
        for value in (*BAD_NUMBERS, "0", "501", "-" + "9" * 400)
    ]
    table += [
        Hostile(f"changes_only={v!r}", "GET", f"/ops/audit?changes_only={v}", statuses=BAD_REQUEST)
        for v in ("maybe", "1e400", "%00")
    ]
    table += [
        Hostile(f"runbook name {name!r}", "GET", f"/ops/runbook?name={name}", statuses=frozenset({404}))
        for name in (*TRAVERSALS, "%2Fetc%2Fpasswd", "..", "playbook.md", "%00")
    ]
    table += [
        Hostile(
            f"component {name!r}",
            "POST",
            COMMAND,
            b'{"command": "stop", "component": "' + name + b'"}',
            statuses=BAD_REQUEST,
            writes=True,
        )
        for name in (b"../../etc/passwd", b"connector/../database", b"%2e%2e%2f", b"connector' OR 1=1 --", b"%")
    ]
    table += [
        Hostile(f"forged audit cursor: {name}", "GET", f"/ops/audit?cursor={quote(cursor)}", statuses=BAD_REQUEST)
        for name, cursor in _forged_cursors().items()
    ]
    return table


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _forged_cursors() -> dict[str, str]:
    return {
        "base64 garbage": "!!!not-base64!!!",
        "valid base64, not a cursor": _b64("hello world"),
        "binary": base64.urlsafe_b64encode(b"\xff\xfe\x00\x01").decode(),
        "empty": "",
        "SQL in a cursor": "1' OR 1=1 --",
        "empty padding": "====",
    }


async def _audit_ids(server: Server, **params: str) -> list[int]:
    query = "&".join(f"{k}={quote(v)}" for k, v in params.items())
    page = await server.ok("GET", f"/ops/audit?limit=500&{query}")
    return [entry["entry_id"] for entry in page["results"]]


async def test_hostile_requests_are_refused_in_the_control_envelope_and_write_nothing(make_settings, clock):
    async with serve(hostile_settings(make_settings), clock) as server:
        await server.ok("GET", "/ops/status")  # something in the log to search

        failures = await server.check(FAMILY, _table())

        assert await server.ok("GET", "/ops/status")  # still serving
        assert failures == [], "\n".join(failures)


async def test_audit_search_and_cursor_take_metacharacters_as_literal_text(make_settings, clock):
    async with serve(hostile_settings(make_settings), clock) as server:
        for _ in range(3):
            await server.ok("GET", "/ops/status")
            await server.ok("GET", "/ops/whoami")
        await server.flush_audit()
        everything = await _audit_ids(server)
        with_status = await _audit_ids(server, q="status")
        assert 0 < len(with_status) < len(everything)  # the search narrows: a widened one would show
        failures = []
        for meta in (
            *SQL_META,
            "*",
            "NEAR(status whoami)",
            "principal:admin",
            "-status",
            "^status",
            "status OR whoami",
        ):
            # A word no entry holds, beside the metacharacters: a literal search finds nothing.
            nothing = await server.send("GET", f"/ops/audit?q={quote('zzqx ' + meta)}")
            if nothing.status != 200 or nothing.json()["results"]:
                failures.append(f"q='zzqx {meta}': {nothing.status} {nothing.text[:200]}")
            # Another word can only narrow a search: never more rows than the word alone.
            narrowed = await server.send("GET", f"/ops/audit?limit=500&q={quote('status ' + meta)}")
            if narrowed.status != 200:
                failures.append(f"q='status {meta}': {narrowed.status} {narrowed.text[:200]}")
            elif not {e["entry_id"] for e in narrowed.json()["results"]} <= set(with_status):
                failures.append(f"q='status {meta}': rows beyond q='status'")
        # A cursor past every entry, or at the top, pages within the log: never more than it holds, no error.
        first = await server.ok("GET", "/ops/audit?limit=1")
        real = first["next_cursor"]
        prefix = base64.urlsafe_b64decode(real + "=" * (-len(real) % 4)).decode().rstrip("0123456789")
        for name, cursor in {
            "entry id 0": _b64(f"{prefix}0"),
            "entry id 2**63": _b64(f"{prefix}{2**63}"),
            "entry id 10**30": _b64(f"{prefix}{10**30}"),
            "negative entry id": _b64(f"{prefix}-5"),
            "unicode digits": _b64(f"{prefix}²³"),
            # Other endpoints' cursors: the agent's signed transactions cursor, a ledger or run-history position.
            "the agent's transactions cursor": (await server.ok("GET", "/api/v1/ops-agent/transactions?limit=1"))[
                "next_cursor"
            ],
            "a ledger or run-history position": "3",
        }.items():
            answer = await server.send("GET", f"/ops/audit?cursor={quote(cursor)}")
            failures += [f"cursor {name}: {p}" for p in problems_of(answer, FAMILY, BAD_REQUEST)]
        # Past the newest entry: the page is what lies below it, nothing invented.
        top = await server.ok("GET", f"/ops/audit?limit=500&cursor={_b64(f'{prefix}{2**62}')}")
        if not {e["entry_id"] for e in top["results"]} <= set(await _audit_ids(server)):
            failures.append("a cursor past the newest entry invented rows")
        assert failures == [], "\n".join(failures)


async def test_hostile_request_ids_are_never_echoed(make_settings, clock):
    async with serve(hostile_settings(make_settings), clock) as server:
        failures = await request_id_problems(server, FAMILY, "/ops/status")
        failures += await request_id_problems(server, FAMILY, "/ops/audit?limit=-1", ok_status=400)

        assert failures == [], "\n".join(failures)
