"""Hand-written hostile requests to the live + refunds family (contract 5): bodies past the size limit, nested
100,000 deep or not UTF-8; huge, negative and overflowing numbers (query, path and body); path traversal and SQL
metacharacters in ids and every filter; forged ledger cursors; malformed Idempotency-Keys; hostile X-Request-IDs.
Each is a 4xx in the family's `{"detail": ...}` envelope, never a 500 or a traceback, and a refused process-once
processes nothing: the pending refunds stay pending and nothing is written."""

from urllib.parse import quote

from hostile_support import (
    ADMIN,
    BAD_NUMBERS,
    SQL_META,
    TRAVERSALS,
    Answer,
    Hostile,
    Server,
    body_cases,
    hostile_settings,
    problems_of,
    request_id_problems,
    serve,
    split_raw,
)
from live_support import add_requests

FAMILY = "live"
INVALID = frozenset({400})
INVALID_OR_MISSING = frozenset({400, 404})
PROCESS = "/ops/api/refunds/process-once"
LEDGER = "/ops/api/refunds/ledger"


def _table(entry_id: int) -> list[Hostile]:
    table = body_cases([("POST", PROCESS)])
    table += [
        Hostile(
            f"process entry_id={value}",
            "POST",
            PROCESS,
            f'{{"entry_id": {value}}}'.encode(),
            statuses=INVALID,
            writes=True,
        )
        for value in (
            "-1",
            "0",
            str(10**30),
            str(2**63),
            "1e400",
            "-1e400",
            "1.5",
            '"one"',
            "[1]",
            '{"id": 1}',
            'null, "x": 1',
            '"../../etc/passwd"',
            '"1\' OR 1=1 --"',
        )
    ]
    # The Idempotency-Key: 1 to 255 printable ASCII characters, no spaces.
    table += [
        Hostile(
            f"Idempotency-Key {name}",
            "POST",
            PROCESS,
            b"",
            headers={"Idempotency-Key": key},
            statuses=INVALID,
            writes=True,
        )
        for name, key in [
            ("empty", ""),
            ("a space inside", "key with spaces"),
            ("256 characters", "k" * 256),
            ("8 KB", "k" * 8000),
            ("non-ASCII", "clé-☃"),
            ("a tab", "key\tkey"),
        ]
    ]
    # Query values: 100 KB (the parser's), 8 KB, numbers negative, overflowing and not numbers at all.
    table += [
        Hostile(f"100 KB {name}", "GET", f"{path}=" + "9" * 100_000, by_parser=True)
        for name, path in [("ledger cursor", f"{LEDGER}?cursor"), ("feed limit", "/ops/api/live/feed?limit")]
    ]
    table += [
        Hostile(f"8 KB {name}", "GET", f"{path}=" + "9" * 8000, statuses=INVALID)
        for name, path in [
            ("ledger cursor", f"{LEDGER}?cursor"),
            ("feed limit", "/ops/api/live/feed?limit"),
            ("ledger since", f"{LEDGER}?since"),
            ("ledger status", f"{LEDGER}?status"),
        ]
    ]
    table += [
        Hostile(f"{name}={value!r}", "GET", f"{path}={quote(value)}", statuses=INVALID)
        for name, path in [("ledger limit", f"{LEDGER}?limit"), ("feed limit", "/ops/api/live/feed?limit")]
        for value in (*BAD_NUMBERS, "0", "-" + "9" * 30, "201")
    ]
    table += [
        Hostile(f"{name} {value!r}", "GET", path.format(value), statuses=INVALID_OR_MISSING)
        for name, path in [("ledger entry", f"{LEDGER}/{{}}"), ("evidence", "/ops/api/refunds/evidence/{}")]
        for value in (
            "-1",
            "0",
            str(10**30),
            str(2**63),
            "1e400",
            "NaN",
            "1.5",
            "0x10",
            *TRAVERSALS,
            "%2e%2e",
            "1'%20OR%201=1%20--",
            "%25",
            "_",
            "%C2%B2",
            "a" * 300,
        )
    ]
    table += [
        Hostile(f"ledger {name}={value!r}", "GET", f"{LEDGER}?{name}={quote(value)}", statuses=INVALID)
        for name in ("status", "decision", "since", "until", "masked")
        for value in (*SQL_META, *TRAVERSALS)
    ]
    table += [
        Hostile(f"ledger since={value!r}", "GET", f"{LEDGER}?since={quote(value)}", statuses=INVALID)
        for value in ("1e400", "9999-99-99", str(10**30), "NaN")
    ]
    table += [
        Hostile(f"entry masked={value!r}", "GET", f"{LEDGER}/{entry_id}?masked={quote(value)}", statuses=INVALID)
        for value in ("maybe", "1' OR 1=1 --", "%")
    ]
    # Forged ledger cursors: not a cursor this server gave out.
    table += [
        Hostile(f"ledger cursor {value!r}", "GET", f"{LEDGER}?cursor={quote(value)}", statuses=INVALID)
        for value in (
            "0",
            "-1",
            "01",
            str(2**63),
            "9" * 19,
            "9" * 20,
            "1' OR 1=1 --",
            "YWJj",
            "²",
            "١٢٣",
            "1 ",
            "%",
            "_",
            "eyJwIjp7InNlcSI6MX19.AAAA",
            "",
        )
    ]
    return table


async def _ledger(server: Server) -> list[tuple[int, str]]:
    page = await server.ok("GET", f"{LEDGER}?limit=200")
    return [(item["entry_id"], item["status"]) for item in page["items"]]


async def test_hostile_requests_are_refused_in_the_live_envelope_and_process_nothing(make_settings, clock):
    async with serve(hostile_settings(make_settings), clock) as server:
        entry_ids = await add_requests(server.app, 3)
        before = await _ledger(server)
        assert {status for _, status in before} == {"pending"}

        failures = await server.check(FAMILY, _table(entry_ids[0]))

        assert failures == [], "\n".join(failures)
        assert await _ledger(server) == before


async def test_raw_idempotency_keys_with_control_bytes_process_nothing(make_settings, clock):
    async with serve(hostile_settings(make_settings), clock) as server:
        await add_requests(server.app, 2)
        before = await _ledger(server)
        head = (
            f"POST {PROCESS} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN}\r\nConnection: close\r\n"
            "Content-Length: 0\r\n"
        ).encode()
        failures = []
        for name, key in {
            "CR LF then a header": b"k1\r\nX-Injected: 1",
            "bare CR": b"k1\rk2",
            "bare LF": b"k1\nk2",
            "NUL": b"k1\x00k2",
            "DEL": b"k1\x7fk2",
            "latin-1 bytes": b"cl\xe9",
            "UTF-8 bytes": "clé☃".encode(),
            "obs-fold": b"k1\r\n k2",
        }.items():
            tables = server.tables()
            status, headers, body = split_raw(await server.raw(head + b"Idempotency-Key: " + key + b"\r\n\r\n"))
            parser_refused = b"malformed_request" in body
            answer_headers = dict(headers)
            answer = Answer(status, answer_headers, body.decode("utf-8", "replace"))
            if name == "CR LF then a header":
                # Two headers on the wire: the key `k1` is well formed and the request is processed once.
                if status != 200:
                    failures.append(f"{name}: {status} {body[:200]!r}")
                continue
            problems = problems_of(
                answer, "control" if parser_refused else FAMILY, INVALID, request_id=not parser_refused
            )
            failures += [f"Idempotency-Key {name}: {p}" for p in problems]
            changed = [table for table, rows in server.tables().items() if rows != tables[table]]
            if changed:
                failures.append(f"Idempotency-Key {name}: wrote to {changed}")
        processed = [entry for entry in await _ledger(server) if entry not in before]
        assert len(processed) == 1, processed  # only the well-formed `k1`
        assert failures == [], "\n".join(failures)


async def test_ledger_cursors_and_filters_take_nothing_but_what_this_server_gave(make_settings, clock):
    async with serve(hostile_settings(make_settings), clock) as server:
        await add_requests(server.app, 3)
        first = await server.ok("GET", f"{LEDGER}?limit=1")
        rest = await server.ok("GET", f"{LEDGER}?limit=200&cursor={first['next_cursor']}")
        assert len(rest["items"]) == 2
        failures = []
        # Another endpoint's cursors: the audit log's, the agent worklist's and transactions'.
        others = {
            "audit": (await server.ok("GET", "/ops/audit?limit=1"))["next_cursor"],
            "agent transactions": (await server.ok("GET", "/api/v1/ops-agent/transactions?limit=1"))["next_cursor"],
        }
        for name, cursor in others.items():
            answer = await server.send("GET", f"{LEDGER}?cursor={quote(cursor)}")
            failures += [f"the {name} cursor: {p}" for p in problems_of(answer, FAMILY, INVALID)]
        # A ledger cursor is an entry's position: the agent's lists take none of it.
        for path in ("/api/v1/ops-agent/transactions", "/api/v1/ops-agent/worklist/recommendations"):
            answer = await server.send("GET", f"{path}?cursor={first['next_cursor']}")
            failures += [f"the ledger cursor on {path}: {p}" for p in problems_of(answer, "agent", INVALID)]
        assert failures == [], "\n".join(failures)


async def test_hostile_request_ids_are_never_echoed(make_settings, clock):
    async with serve(hostile_settings(make_settings), clock) as server:
        failures = await request_id_problems(server, FAMILY, "/ops/api/live/status")
        failures += await request_id_problems(server, FAMILY, f"{LEDGER}?limit=-1", ok_status=400)

        assert failures == [], "\n".join(failures)
