"""Hand-written hostile requests to the runbooks + metrics family (contract 2): bodies past the size limit, nested
100,000 deep or not UTF-8; huge, negative and overflowing query values; path traversal in commands and run ids;
SQL metacharacters in every filter and id; forged history cursors; hostile X-Request-IDs; malformed request ids
(the family's idempotency key). Each is a 4xx in the family's `{"detail": ...}` envelope (422 with FastAPI's list
for invalid fields), never a 500 or a traceback, and a refused execute runs nothing and writes nothing."""

from urllib.parse import quote

from hostile_support import (
    BAD_NUMBERS,
    SQL_META,
    TRAVERSALS,
    Hostile,
    body_cases,
    bodyless_cases,
    hostile_settings,
    request_id_problems,
    serve,
)
from runbooks_support import EXECUTE, write_runbooks

FAMILY = "runbooks"
INVALID = frozenset({422})
INVALID_OR_MISSING = frozenset({404, 422})
QUICK = """
    print("INFO ran")
"""


def _table(run_id: str) -> list[Hostile]:
    table = body_cases([("POST", EXECUTE)])
    table += bodyless_cases([("POST", f"/api/ops/runbooks/{run_id}/abort"), ("GET", "/api/ops/runbook-commands")])
    # The request id is the execute's idempotency key; the command names a script.
    table += [
        Hostile(
            f"execute {field}={value!r}",
            "POST",
            EXECUTE,
            f'{{"command": {command}, "request_id": {value}}}'.encode(),
            statuses=INVALID,
            writes=True,
        )
        for field, command, value in [
            *[("command", f'"{t}"', '"hostile-1"') for t in (*TRAVERSALS, "start; rm -rf /", "start' OR 1=1 --")],
            *[
                ("request_id", '"start"', f'"{v}"')
                for v in (
                    "../../etc/passwd",
                    "a/../b",
                    "x" * 65,
                    "",
                    " lead",
                    "id with space",
                    "ид",
                    "a\\u0000b",
                    "a%2fb",
                )
            ],
            ("request_id", '"start"', "12345"),
            ("request_id", '"start"', "1e400"),
            ("request_id", '"start"', '["a"]'),
        ]
    ]
    table += [
        Hostile(
            f"execute {field} {value!r}",
            "POST",
            EXECUTE,
            f'{{"command": "start", "{field}": "{value}"}}'.encode(),
            statuses=INVALID,
            writes=True,
        )
        for field in ("window", "profile", "config")
        for value in ("../../etc/passwd", "%2e%2e%2f", "a' OR 1=1 --", "a;b", "a b")
    ]
    table += [
        Hostile(
            "execute reason with a newline",
            "POST",
            EXECUTE,
            b'{"command": "start", "reason": "ok\\nINJECTED=1"}',
            statuses=INVALID,
            writes=True,
        ),
        Hostile(
            "execute enforce as a string",
            "POST",
            EXECUTE,
            b'{"command": "start", "enforce": "yes please"}',
            statuses=INVALID,
            writes=True,
        ),
    ]
    # 100 KB in a query: past aiohttp's request-line limit, refused by the parser.
    table += [
        Hostile(f"100 KB {name}", "GET", f"{path}=" + "9" * 100_000, by_parser=True)
        for name, path in [
            ("history cursor", "/api/ops/runbooks?cursor"),
            ("history limit", "/api/ops/runbooks?limit"),
            ("log offset", f"/api/ops/runbooks/{run_id}?offset"),
            ("timeseries metric", "/api/ops/metrics/timeseries?metric"),
        ]
    ]
    table += [
        Hostile(f"8 KB {name}", "GET", f"{path}=" + "9" * 8000, statuses=INVALID)
        for name, path in [
            ("history cursor", "/api/ops/runbooks?cursor"),
            ("history limit", "/api/ops/runbooks?limit"),
            ("log offset", f"/api/ops/runbooks/{run_id}?offset"),
            ("timeseries minutes", "/api/ops/metrics/timeseries?metric=md_throughput_mps&minutes"),
        ]
    ]
    numbers = (*BAD_NUMBERS, "0", "-" + "9" * 30)
    table += [
        Hostile(f"{name}={value!r}", "GET", f"{path}={quote(value)}", statuses=INVALID)
        for name, path in [
            ("history limit", "/api/ops/runbooks?limit"),
            ("timeseries minutes", "/api/ops/metrics/timeseries?metric=md_throughput_mps&minutes"),
            ("timeseries step_seconds", "/api/ops/metrics/timeseries?metric=md_throughput_mps&step_seconds"),
        ]
        for value in numbers
    ]
    table += [
        Hostile(f"log offset={value!r}", "GET", f"/api/ops/runbooks/{run_id}?offset={quote(value)}", statuses=INVALID)
        for value in ("-1", str(10**30), "1e400", "NaN", "1.5", "", str(2**63))
    ]
    # Forged history cursors: anything but a cursor this server gave out is refused, never a page.
    table += [
        Hostile(f"history cursor {value!r}", "GET", f"/api/ops/runbooks?cursor={quote(value)}", statuses=INVALID)
        for value in (
            "1' OR 1=1 --",
            "-1",
            "0x10",
            "YWJj",
            "eyJwIjp7InNlcSI6MX19.AAAA",
            "²",
            "١٢٣",
            "9" * 30,
            str(2**63),
            "1 ",
            "%",
            "_",
        )
    ]
    table += [
        Hostile(
            f"run id {value!r}",
            method,
            f"/api/ops/runbooks/{value}{suffix}",
            statuses=INVALID_OR_MISSING,
            writes=method == "POST",
        )
        for value in (*TRAVERSALS, "%2e%2e", "x'%20OR%201=1%20--", "%25", "_", "%22", "%3B", "a" * 65, "%00")
        for method, suffix in (("GET", ""), ("POST", "/abort"))
    ]
    table += [
        Hostile(f"history command {value!r}", "GET", f"/api/ops/runbooks?command={quote(value)}", statuses=INVALID)
        for value in (*SQL_META, "../start", "START")
    ]
    table += [
        Hostile(
            f"timeseries metric {value!r}",
            "GET",
            f"/api/ops/metrics/timeseries?metric={quote(value)}",
            statuses=INVALID,
        )
        for value in (*SQL_META, *TRAVERSALS, "md_throughput_mps%")
    ]
    # The feed operations are a running runbook's own: the admin's token is refused, and nothing moves.
    table += [
        Hostile(
            f"feed {op} with a body",
            "POST",
            f"/api/ops/feed/{op}",
            b"[" * 100_000,
            statuses=frozenset({403}),
            writes=True,
        )
        for op in ("failover", "failback")
    ]
    return table


async def test_hostile_requests_are_refused_in_the_runbooks_envelope_and_run_nothing(make_settings, clock, tmp_path):
    runbooks = write_runbooks(tmp_path / "runbooks", {"start": (QUICK, 10), "stop": (QUICK, 10)})
    async with serve(hostile_settings(make_settings, runbooks_dir=runbooks), clock) as server:
        run = await server.ok("POST", EXECUTE, {"command": "start", "request_id": "hostile-base"})
        runs_before = (await server.ok("GET", "/api/ops/runbooks?limit=200"))["items"]

        failures = await server.check(FAMILY, _table("hostile-base"))

        assert (await server.ok("GET", "/api/ops/runbooks?limit=200"))["items"] == runs_before
        assert run["runbook"]["status"] == "success", run
        assert failures == [], "\n".join(failures)


async def test_filters_and_cursors_take_metacharacters_as_literal_text(make_settings, clock, tmp_path):
    runbooks = write_runbooks(tmp_path / "runbooks", {"start": (QUICK, 10), "stop": (QUICK, 10)})
    async with serve(hostile_settings(make_settings, runbooks_dir=runbooks), clock) as server:
        for n, command in enumerate(["start", "stop", "start"]):
            await server.ok("POST", EXECUTE, {"command": command, "request_id": f"run-{n}"})
        page = await server.ok("GET", "/api/ops/runbooks?limit=1&command=start")
        assert [run["request_id"] for run in page["items"]] == ["run-2"]
        failures = []
        # The cursor is the only free-form filter: a real one pages on, an edited one is refused.
        rest = await server.ok("GET", f"/api/ops/runbooks?limit=200&command=start&cursor={page['next_cursor']}")
        if [run["request_id"] for run in rest["items"]] != ["run-0"]:
            failures.append(f"the real cursor's next page: {rest['items']}")
        for edited in (f"{page['next_cursor']}' OR 1=1 --", f"{page['next_cursor']}%", f"{page['next_cursor']};"):
            answer = await server.send("GET", f"/api/ops/runbooks?command=start&cursor={quote(edited)}")
            if answer.status != 422:
                failures.append(f"cursor {edited!r}: {answer.status} {answer.text[:200]}")
        # Another endpoint's cursor (the audit log's) is not a history cursor.
        audit = await server.ok("GET", "/ops/audit?limit=1")
        answer = await server.send("GET", f"/api/ops/runbooks?cursor={audit['next_cursor']}")
        if answer.status != 422:
            failures.append(f"the audit's cursor: {answer.status} {answer.text[:200]}")
        # A run id with SQL in it finds no run, where a run id built into SQL would find them all.
        for value in ("run-0' OR '1'='1", "run-%", "run-_"):
            answer = await server.send("GET", f"/api/ops/runbooks/{quote(value)}")
            if answer.status not in INVALID_OR_MISSING:
                failures.append(f"run id {value!r}: {answer.status} {answer.text[:200]}")
        assert failures == [], "\n".join(failures)


async def test_hostile_request_ids_are_never_echoed(make_settings, clock, tmp_path):
    runbooks = write_runbooks(tmp_path / "runbooks", {"start": (QUICK, 10)})
    async with serve(hostile_settings(make_settings, runbooks_dir=runbooks), clock) as server:
        failures = await request_id_problems(server, FAMILY, "/api/ops/runbook-commands")
        failures += await request_id_problems(server, FAMILY, "/api/ops/runbooks?limit=-1", ok_status=422)

        assert failures == [], "\n".join(failures)
