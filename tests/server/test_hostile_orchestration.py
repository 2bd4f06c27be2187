"""Hand-written hostile requests to the orchestration family (contract 4): the ask pipeline, the asset registry,
the trace inspector and regression analysis, and the webhooks. Bodies past the size limit, nested 100,000 deep or
not UTF-8; huge, negative and overflowing query values; path traversal in asset types, asset ids, versions, trace,
analysis, webhook and delivery ids; SQL metacharacters in every filter (the inspector's free-text `q` and `feature`
must find them literally, never widen); hostile X-Request-IDs. Each is a 4xx in `{"code", "message", "error",
"details"}`, never a 500 or a traceback, and a refused write changes nothing."""

import json
from urllib.parse import quote

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
from webhooks_support import LOOPBACK

from server.storage.traces import plan_tools
from shared.orchestration import Trace

FAMILY = "orchestration"
INVALID = frozenset({422})
MISSING = frozenset({404})
INVALID_OR_MISSING = frozenset({404, 422})
QUESTIONS = ("which prod databases are down?", "how busy is the feed?", "what runbooks ran today?")


def _json(value: object) -> bytes:
    return json.dumps(value).encode()


def _table(trace_id: str, webhook_id: str, asset: tuple[str, str, str]) -> list[Hostile]:
    asset_type, asset_id, version = asset
    version_path = f"/assets/{asset_type}/{asset_id}/{version}"
    table = body_cases(
        [
            ("POST", "/ops/ci/ask"),
            ("POST", f"/assets/{asset_type}"),
            ("PUT", version_path),
            ("POST", f"/inspector/traces/{trace_id}/ui-render"),
            ("POST", "/inspector/regression/analyze"),
            ("POST", "/inspector/regression/stage-compare"),
            ("POST", "/webhooks"),
        ]
    )
    table += bodyless_cases(
        [
            ("POST", f"/webhooks/{webhook_id}/rotate-secret"),
            ("DELETE", f"/webhooks/{webhook_id}"),
            ("POST", f"{version_path}/publish"),
            ("POST", f"/webhooks/{webhook_id}/deliveries/dl_x/redeliver"),
        ]
    )
    # Path traversal and SQL in every name a path carries.
    hostile_names = (*TRAVERSALS, "%2e%2e", "x'%20OR%201=1%20--", "%25", "_", "%22%3B", "%00", "a" * 300)
    # Writes are fewer (each waits for its audit entry to commit): one of each kind of name.
    write_names = ("../../etc/passwd", "%2e%2e%2f%2e%2e%2fetc%2fpasswd", "x'%20OR%201=1%20--", "%25", "a" * 300)

    def names(method: str) -> tuple[str, ...]:
        return hostile_names if method == "GET" else write_names

    table += [
        Hostile(
            f"asset type {name!r}", method, f"/assets/{name}{rest}", body, statuses=MISSING, writes=body is not None
        )
        for method, rest, body in [
            ("GET", "", None),
            ("POST", "", _json({"asset_id": "x", "version": "9.9.9", "name": "x", "content": {}})),
            ("GET", f"/{asset_id}/{version}", None),
            ("POST", f"/{asset_id}/{version}/publish", b""),
        ]
        for name in names(method)
    ]
    table += [
        Hostile(f"asset {where} {name!r}", method, path, body, statuses=INVALID_OR_MISSING, writes=method != "GET")
        for where, method, template, body in [
            ("id", "GET", f"/assets/{asset_type}/{{}}/{version}", None),
            ("id", "PUT", f"/assets/{asset_type}/{{}}/{version}", _json({"name": "renamed"})),
            ("id", "POST", f"/assets/{asset_type}/{{}}/{version}/publish", None),
            ("version", "GET", f"/assets/{asset_type}/{asset_id}/{{}}", None),
            ("version", "POST", f"/assets/{asset_type}/{asset_id}/{{}}/publish", None),
        ]
        for name in names(method)
        for path in [template.format(name)]
    ]
    table += [
        Hostile(
            f"new asset {field}={value!r}",
            "POST",
            f"/assets/{asset_type}",
            _json({"asset_id": "hostile", "version": "1.0.9", "name": "n", "content": {}, field: value}),
            statuses=INVALID,
            writes=True,
        )
        for field, value in [
            *[("asset_id", v) for v in (*TRAVERSALS, *SQL_META, "A" * 65)],
            *[("version", v) for v in ("../1.0.0", "1.0.0' OR 1=1 --", "99999.0.0", "1.0", "-1.0.0", "1e400")],
            ("name", ""),
            ("name", "n" * 201),
            ("description", "d" * 2001),
            ("content", "x"),
            ("metadata", []),
        ]
    ]
    table += [
        Hostile(f"asset list {name}={value!r}", "GET", f"/assets/{asset_type}?{name}={quote(value)}", statuses=INVALID)
        for name in ("version", "status", "asset_id", "type")
        for value in (*SQL_META, *TRAVERSALS)
    ]
    table += [
        Hostile(
            f"{kind} id {name!r}", method, path.format(name), body, statuses=INVALID_OR_MISSING, writes=method != "GET"
        )
        for kind, method, path, body in [
            ("trace", "GET", "/inspector/traces/{}", None),
            ("trace", "POST", "/inspector/traces/{}/ui-render", _json({"blocks": []})),
            ("analysis", "GET", "/inspector/regression/{}", None),
            ("webhook", "GET", "/webhooks/{}", None),
            ("webhook", "DELETE", "/webhooks/{}", None),
            ("webhook", "POST", "/webhooks/{}/rotate-secret", None),
            ("webhook", "GET", "/webhooks/{}/deliveries", None),
            ("delivery", "POST", f"/webhooks/{webhook_id}/deliveries/{{}}/redeliver", None),
        ]
        for name in names(method)
    ]
    table += [
        Hostile(
            f"regression {field}={value!r}",
            "POST",
            "/inspector/regression/analyze",
            _json({"baseline_trace_id": trace_id, "comparison_trace_id": trace_id, field: value}),
            statuses=INVALID_OR_MISSING,
            writes=True,
        )
        for field, value in [
            *[("baseline_trace_id", v) for v in (*TRAVERSALS, *SQL_META, "t" * 65)],
            ("comparison_trace_id", "' OR 1=1 --"),
            ("parameters", "x"),
            ("stages", ["../execute"]),
        ]
    ]
    table += [
        Hostile(f"new webhook {name}", "POST", "/webhooks", _json(body), statuses=INVALID, writes=True)
        for name, body in [
            ("file URL", {"url": "file:///etc/passwd", "events": ["trace.completed"]}),
            ("traversal event", {"url": "http://127.0.0.1:9/hook", "events": ["../../etc/passwd"]}),
            ("SQL event", {"url": "http://127.0.0.1:9/hook", "events": ["trace.completed' OR 1=1 --"]}),
            ("URL too long", {"url": "http://127.0.0.1:9/" + "a" * 2048, "events": ["trace.completed"]}),
            ("no events", {"url": "http://127.0.0.1:9/hook", "events": []}),
        ]
    ]
    # Query values: 100 KB (the parser's), 8 KB, negative and overflowing numbers, bad times and enums.
    table += [
        Hostile(f"100 KB {name}", "GET", f"{path}=" + "9" * 100_000, by_parser=True)
        for name, path in [
            ("trace q", "/inspector/traces?q"),
            ("webhook offset", "/webhooks?offset"),
            ("asset version", f"/assets/{asset_type}?version"),
        ]
    ]
    table += [
        Hostile(f"8 KB {name}", "GET", f"{path}=" + "9" * 8000, statuses=INVALID)
        for name, path in [
            ("trace q", "/inspector/traces?q"),
            ("trace feature", "/inspector/traces?feature"),
            ("webhook offset", "/webhooks?offset"),
            ("trace from", "/inspector/traces?from"),
            ("asset version", f"/assets/{asset_type}?version"),
        ]
    ]
    paged = [
        ("trace", "/inspector/traces?"),
        ("webhook", "/webhooks?"),
        ("delivery", f"/webhooks/{webhook_id}/deliveries?"),
    ]
    table += [
        Hostile(f"{kind} {name}={value!r}", "GET", f"{path}{name}={quote(value)}", statuses=INVALID)
        for kind, path in paged
        for name in ("limit", "offset")
        for value in (*BAD_NUMBERS, "-" + "9" * 30, str(2**63))
        if not (name == "offset" and value == "")
    ]
    table += [
        Hostile(f"trace {name}={value!r}", "GET", f"/inspector/traces?{name}={quote(value)}", statuses=INVALID)
        for name in ("from", "to")
        for value in ("1e400", "9999-99-99", "' OR 1=1 --", "../../etc/passwd", "%", str(10**30), "NaN", "")
    ]
    table += [
        Hostile(f"{kind} {name}={value!r}", "GET", f"{path}{name}={quote(value)}", statuses=INVALID)
        for kind, path, name in [
            ("trace", "/inspector/traces?", "status"),
            ("trace", "/inspector/traces?", "route"),
            ("delivery", f"/webhooks/{webhook_id}/deliveries?", "status"),
        ]
        for value in SQL_META
    ]
    table += [
        Hostile(
            f"ui-render {name}", "POST", f"/inspector/traces/{trace_id}/ui-render", body, statuses=INVALID, writes=True
        )
        for name, body in [
            ("blocks not a list", b'{"blocks": "x"}'),
            ("10,000 blocks", _json({"blocks": [{}] * 10_000})),
        ]
    ]
    return table


async def _seed(server: Server) -> tuple[list[str], str, tuple[str, str, str]]:
    traces = []
    for question in QUESTIONS:
        answer = await server.ok("POST", "/ops/ci/ask", {"question": question})
        traces.append(answer["data"]["meta"]["trace_id"])
    created = await server.ok(
        "POST", "/webhooks", {"url": "http://127.0.0.1:9/hook", "events": ["trace.completed"]}, status=201
    )
    assets = (await server.ok("GET", "/assets/query"))["data"]["assets"]
    return traces, created["data"]["webhook_id"], ("query", assets[0]["asset_id"], assets[0]["version"])


async def test_hostile_requests_are_refused_in_the_orchestration_envelope_and_write_nothing(make_settings, clock):
    async with serve(hostile_settings(make_settings, webhook_allowed_networks=LOOPBACK), clock) as server:
        traces, webhook_id, asset = await _seed(server)

        failures = await server.check(FAMILY, _table(traces[0], webhook_id, asset))

        assert failures == [], "\n".join(failures)


def _literally(traces: list[dict], name: str, value: str) -> set[str]:
    """The traces a filter finds when it takes `value` as text: `feature` equal to it; for `q`, every word part of
    the question, the feature or a tool the plan called, in any case (TraceListQuery's documentation)."""
    if name == "feature":
        return {t["trace_id"] for t in traces if t["feature"] == value}
    words = value.lower().split()
    return {
        t["trace_id"]
        for t in traces
        if all(any(w in field.lower() for field in (t["question"], t["feature"], *t["used_tools"])) for w in words)
    }


async def test_trace_filters_take_metacharacters_as_literal_text(make_settings, clock):
    async with serve(hostile_settings(make_settings, webhook_allowed_networks=LOOPBACK), clock) as server:
        await _seed(server)
        for question in ("where is 100% of the load_balancer_x traffic?", 'a "quoted"; question', "plain one"):
            await server.ok("POST", "/ops/ci/ask", {"question": question})
        listed = (await server.ok("GET", "/inspector/traces?limit=200"))["data"]["traces"]
        found_traces = [(await server.ok("GET", f"/inspector/traces/{t['trace_id']}"))["data"]["trace"] for t in listed]
        traces = [
            {
                "trace_id": t["trace_id"],
                "question": t["question"],
                "feature": t["feature"],
                "used_tools": plan_tools(Trace.model_validate(t)),
            }
            for t in found_traces
        ]
        assert len(traces) == len(QUESTIONS) + 3
        failures = []
        values = (
            *SQL_META,
            "%%",
            "__",
            "%a%",
            "d_t",
            "*",
            "NEAR(prod feed)",
            "question:prod",
            "prod OR feed",
            "100%",
            "load_balancer",
            "load%balancer",
            '"quoted";',
            "databases ' OR 1=1 --",
        )
        for value in values:
            for name in ("q", "feature"):
                answer = await server.send("GET", f"/inspector/traces?limit=200&{name}={quote(value)}")
                if answer.status != 200:
                    failures += [f"{name}={value!r}: {p}" for p in problems_of(answer, FAMILY, INVALID)]
                    continue
                found = {t["trace_id"] for t in answer.json()["data"]["traces"]}
                expected = _literally(traces, name, value)
                if found != expected:
                    failures.append(f"{name}={value!r} found {len(found)} traces, taken literally {len(expected)}")
        assert _literally(traces, "q", "100%") and not _literally(traces, "q", "load%balancer")  # the oracle bites
        assert failures == [], "\n".join(failures)


async def test_hostile_request_ids_are_never_echoed(make_settings, clock):
    async with serve(hostile_settings(make_settings), clock) as server:
        failures = await request_id_problems(server, FAMILY, "/ops/control-loop/stats")
        failures += await request_id_problems(server, FAMILY, "/inspector/traces?limit=-1", ok_status=422)
        failures += await request_id_problems(server, FAMILY, "/webhooks?offset=-1", ok_status=422)

        assert failures == [], "\n".join(failures)
