"""Hand-written hostile requests to the ops agent family (contract 3): bodies past the size limit, nested 100,000
deep or not UTF-8; huge, negative and overflowing query values; path traversal and SQL metacharacters in every id
and filter; forged page cursors (a tampered signature, base64 garbage, the other list's cursor, a cursor of other
filters); hostile X-Request-IDs. Each is a 4xx in `{"error": {"code": "OPS_AGENT_...", ...}}`, never a 500 or a
traceback, and a refused deposit, run, resume or acknowledgement writes nothing."""

import asyncio
import base64
import json
from urllib.parse import quote

from agent_support import BASE, deposit
from hostile_support import (
    BAD_NUMBERS,
    SQL_META,
    TRAVERSALS,
    Hostile,
    Server,
    body_cases,
    bodyless_cases,
    hostile_settings,
    problems_of,
    request_id_problems,
    serve,
)

from server.keys import CLOCK, DB

FAMILY = "agent"
INVALID = frozenset({400})
INVALID_OR_MISSING = frozenset({400, 404})
TRANSACTIONS = f"{BASE}/transactions"
WORKLIST = f"{BASE}/worklist/recommendations"
INVESTIGATIONS = f"{BASE}/investigations"


def _json(value: object) -> bytes:
    return json.dumps(value).encode()


def _table(transaction_id: str, investigation_id: str, recommendation_id: str) -> list[Hostile]:
    acknowledge = f"{WORKLIST}/{recommendation_id}/acknowledge"
    table = body_cases([("POST", TRANSACTIONS), ("POST", f"{INVESTIGATIONS}/run"), ("POST", acknowledge)])
    table += bodyless_cases([("POST", f"{INVESTIGATIONS}/{investigation_id}/resume")])
    # Deposits: numbers past any amount, ids with traversal and SQL in them.
    table += [
        Hostile(
            f"deposit {field}={value!r}",
            "POST",
            TRANSACTIONS,
            _json(deposit(**{field: value})),
            statuses=INVALID,
            writes=True,
        )
        for field, value in [
            ("amount", "-1"),
            ("amount", str(10**30)),
            ("amount", "1e400"),
            ("amount", "NaN"),
            ("amount", "Infinity"),
            ("amount", "0.001"),
            ("amount", 10**30),
            ("amount", -1),
            ("amount", "1e-400"),
            *[("customer_id", value) for value in (*TRAVERSALS, *SQL_META)],
            *[("device_id", value) for value in ("../../etc/passwd", "' OR 1=1 --", "%")],
            *[("merchant", value) for value in ("a\u0000b", "x" * 65, "bell\u0007")],
            ("currency", "EU'"),
            ("ip_country", "%_"),
            ("channel", "../x"),
            ("occurred_at", "9999-99-99T99:99:99"),
            ("occurred_at", "1e400"),
        ]
    ]
    table += [
        Hostile(
            f"run transaction_id={value!r}",
            "POST",
            f"{INVESTIGATIONS}/run",
            _json({"mode": "quick", "transaction_id": value}),
            statuses=INVALID,
            writes=True,
        )
        for value in (*TRAVERSALS, *SQL_META, "x" * 65, 10**30)
    ]
    table += [
        Hostile(
            f"run mode={value!r}",
            "POST",
            f"{INVESTIGATIONS}/run",
            _json({"mode": value, "transaction_id": transaction_id}),
            statuses=INVALID,
            writes=True,
        )
        for value in ("' OR 1=1 --", "../deep", "QUICK")
    ]
    table += [
        Hostile(f"acknowledge {name}", "POST", acknowledge, _json(body), statuses=INVALID, writes=True)
        for name, body in [
            ("action in SQL", {"action": "ACKNOWLEDGED' OR 1=1 --", "comment": "c"}),
            ("comment with NUL", {"action": "ACKNOWLEDGED", "comment": "a\u0000b"}),
            ("comment 1001 chars", {"action": "ACKNOWLEDGED", "comment": "c" * 1001}),
            ("empty comment", {"action": "ACKNOWLEDGED", "comment": ""}),
        ]
    ]
    # Ids in paths: traversal, encoded traversal, SQL metacharacters, too long.
    hostile_ids = (*TRAVERSALS, "%2e%2e", "x'%20OR%201=1%20--", "%25", "_", "%22", "%3B", "a" * 65, "%00", "%C2%B2")
    # Writes are fewer (each waits for its audit entry to commit): one of each kind of id.
    write_ids = ("../../etc/passwd", "%2e%2e%2f%2e%2e%2fetc%2fpasswd", "x'%20OR%201=1%20--", "%25", "a" * 65)
    for template, method in [
        (f"{INVESTIGATIONS}/{{}}", "GET"),
        (f"{INVESTIGATIONS}/{{}}/trace", "GET"),
        (f"{INVESTIGATIONS}/{{}}/rule-draft", "GET"),
        (f"{INVESTIGATIONS}/{{}}/resume", "POST"),
        (f"{TRANSACTIONS}/{{}}/insights", "GET"),
        (f"{WORKLIST}/{{}}/acknowledge", "POST"),
    ]:
        table += [
            Hostile(
                f"id {value!r}",
                method,
                template.format(value),
                _json({"action": "ACKNOWLEDGED", "comment": "c"}) if "acknowledge" in template else None,
                statuses=INVALID_OR_MISSING,
                writes=method == "POST",
            )
            for value in (hostile_ids if method == "GET" else write_ids)
        ]
    # Query values: 100 KB (the parser's), 8 KB, negative, overflowing, not numbers.
    table += [
        Hostile(f"100 KB {name}", "GET", f"{path}=" + "9" * 100_000, by_parser=True)
        for name, path in [
            ("transactions cursor", f"{TRANSACTIONS}?cursor"),
            ("worklist cursor", f"{WORKLIST}?cursor"),
            ("investigations offset", f"{INVESTIGATIONS}?offset"),
        ]
    ]
    table += [
        Hostile(f"8 KB {name}", "GET", f"{path}=" + "9" * 8000, statuses=INVALID)
        for name, path in [
            ("transactions cursor", f"{TRANSACTIONS}?cursor"),
            ("worklist cursor", f"{WORKLIST}?cursor"),
            ("investigations offset", f"{INVESTIGATIONS}?offset"),
            ("investigations transaction_id", f"{INVESTIGATIONS}?transaction_id"),
        ]
    ]
    table += [
        Hostile(f"{name}={value!r}", "GET", f"{path}={quote(value)}", statuses=INVALID)
        for name, path in [
            ("transactions limit", f"{TRANSACTIONS}?limit"),
            ("worklist limit", f"{WORKLIST}?limit"),
            ("investigations limit", f"{INVESTIGATIONS}?limit"),
            ("investigations offset", f"{INVESTIGATIONS}?offset"),
        ]
        for value in (*BAD_NUMBERS, "-" + "9" * 30, "10000001" if "offset" in path else "201")
    ]
    table += [
        Hostile(f"{name}={value!r}", "GET", f"{path}={quote(value)}", statuses=INVALID)
        for name, path in [
            ("suspicious", f"{TRANSACTIONS}?suspicious"),
            ("severity", f"{WORKLIST}?severity"),
            ("status", f"{INVESTIGATIONS}?status"),
            ("transaction_id", f"{INVESTIGATIONS}?transaction_id"),
        ]
        for value in (*SQL_META, *TRAVERSALS)
    ]
    return table


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _forged(real: str, other: str) -> dict[str, str]:
    """Cursors this server never gave out for the list `real` came from; `other` is the other list's."""
    body, _, mac = real.partition(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    moved = json.dumps({**payload, "p": {key: 1 for key in payload["p"]}}, separators=(",", ":"), sort_keys=True)
    flipped = ("A" if mac[0] != "A" else "B") + mac[1:]  # the first character: the last may be padding bits
    return {
        "the signature tampered": f"{body}.{flipped}",
        "the position edited, signature kept": f"{_b64(moved.encode())}.{mac}",
        "no signature": body,
        "an empty signature": f"{body}.",
        "base64 garbage": "!!!.???",
        "not base64 at all": "ÿþ.ÿþ",
        "the other list's cursor": other,
        "SQL in the cursor": f"{body}' OR 1=1 --.{mac}",
        "just a dot": ".",
        "JSON, unsigned": _b64(b'{"p":{"seq":1},"s":{}}'),
    }


async def _ids(server: Server, path: str) -> list[str]:
    page = await server.ok("GET", path)
    return [item.get("transaction_id") or item.get("recommendation_id") for item in page["items"]]


async def _seed(server: Server) -> tuple[str, str, str]:
    """A deposit, a finished investigation of it and a worklist recommendation: ids for the table."""
    added = await server.ok("POST", TRANSACTIONS, deposit(customer_id="cust-hostile"), status=201)
    started = await server.ok("POST", f"{INVESTIGATIONS}/run", {"transaction_id": added["transaction_id"]}, 202)
    for _ in range(1000):  # ten seconds at most: a running investigation would write under the table's cases
        found = await server.ok("GET", f"{INVESTIGATIONS}/{started['investigation_id']}")
        if found["status"] != "running":
            break
        await asyncio.sleep(0.01)
    assert found["status"] == "completed", found
    return added["transaction_id"], started["investigation_id"], found["status"]


async def _recommendations(server: Server, count: int) -> list[str]:
    db, now = server.app[DB], server.app[CLOCK].now().isoformat()
    ids = []
    for n in range(count):
        rid = f"rec-hostile-{n}"
        await db.execute(
            "INSERT INTO agent_recommendations (recommendation_id, investigation_id, transaction_id, severity, "
            "severity_rank, action, rationale, created_at) VALUES (?, 'inv-x', ?, 'high', 3, 'review', 'why', ?)",
            (rid, f"txn-{rid}", now),
        )
        ids.append(rid)
    return ids


async def test_hostile_requests_are_refused_in_the_agent_envelope_and_write_nothing(make_settings, clock):
    async with serve(hostile_settings(make_settings), clock) as server:
        transaction_id, investigation_id, _ = await _seed(server)
        recommendation_id = (await _recommendations(server, 1))[0]

        failures = await server.check(FAMILY, _table(transaction_id, investigation_id, recommendation_id))

        assert failures == [], "\n".join(failures)


async def test_cursors_and_filters_take_nothing_but_what_this_server_gave(make_settings, clock):
    async with serve(hostile_settings(make_settings), clock) as server:
        transaction_id, investigation_id, _ = await _seed(server)
        await _recommendations(server, 3)
        transactions = await server.ok("GET", f"{TRANSACTIONS}?limit=2")
        worklist = await server.ok("GET", f"{WORKLIST}?limit=1")
        assert transactions["next_cursor"] and worklist["next_cursor"]
        failures = []
        forged = {
            TRANSACTIONS: _forged(transactions["next_cursor"], worklist["next_cursor"]),
            WORKLIST: _forged(worklist["next_cursor"], transactions["next_cursor"]),
        }
        # A cursor made for other filters is refused on them too.
        forged[f"{TRANSACTIONS}?suspicious=true&"] = {"another filter's cursor": transactions["next_cursor"]}
        forged[f"{WORKLIST}?severity=low&"] = {"another filter's cursor": worklist["next_cursor"]}
        for path, cursors in forged.items():
            joiner = "" if path.endswith("&") else "?"
            for name, cursor in cursors.items():
                answer = await server.send("GET", f"{path}{joiner}cursor={quote(cursor)}")
                failures += [f"{path} cursor {name}: {p}" for p in problems_of(answer, FAMILY, INVALID)]
        # An id with SQL wildcards or quotes in it matches no row, where one built into SQL would match them all.
        near = transaction_id[:-1] + "_"
        for value in (near, f"{transaction_id[:4]}%", f"{transaction_id}' OR '1'='1"):
            answer = await server.send("GET", f"{INVESTIGATIONS}?transaction_id={quote(value)}")
            if answer.status == 200 and answer.json()["items"]:
                failures.append(f"investigations transaction_id={value!r} found {answer.json()['total']} rows")
            elif answer.status not in (200, 400):
                failures.append(f"investigations transaction_id={value!r}: {answer.status} {answer.text[:200]}")
        only = await server.ok("GET", f"{INVESTIGATIONS}?transaction_id={transaction_id}")
        if [item["investigation_id"] for item in only["items"]] != [investigation_id]:
            failures.append(f"the real transaction_id: {only['items']}")
        assert failures == [], "\n".join(failures)


async def test_hostile_request_ids_are_never_echoed(make_settings, clock):
    async with serve(hostile_settings(make_settings), clock) as server:
        failures = await request_id_problems(server, FAMILY, f"{TRANSACTIONS}?limit=1")
        failures += await request_id_problems(server, FAMILY, f"{TRANSACTIONS}?limit=-1", ok_status=400)

        assert failures == [], "\n".join(failures)
