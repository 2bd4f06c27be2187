"""A fake Prometheus HTTP API on a loopback port: answers /api/v1/query and /api/v1/query_range the way Prometheus
does (string sample values, `errorType` errors, its 11,000-points limit), from what a test sets."""

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

MAX_POINTS = 11_000


@dataclass
class FakePrometheus:
    # What /api/v1/query answers: the series of the matrix, or a whole (status, body) to send instead.
    series: list[dict[str, Any]] = field(default_factory=list)
    answer: tuple[int, Any] | None = None
    range_series: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/v1/query", self._query)
        app.router.add_get("/api/v1/query_range", self._query_range)
        return app

    def _answer(self) -> web.Response | None:
        if self.answer is None:
            return None
        status, body = self.answer
        if isinstance(body, str):
            return web.Response(status=status, text=body, content_type="text/html")
        return web.json_response(body, status=status)

    async def _query(self, request: web.Request) -> web.Response:
        self.requests.append((request.path, dict(request.query)))
        return self._answer() or _success(self.series)

    async def _query_range(self, request: web.Request) -> web.Response:
        self.requests.append((request.path, dict(request.query)))
        start, end, step = (float(request.query[k]) for k in ("start", "end", "step"))
        if (end - start) / step > MAX_POINTS:
            return web.json_response(
                {
                    "status": "error",
                    "errorType": "bad_data",
                    "error": "exceeded maximum resolution of 11,000 points per timeseries. "
                    "Try decreasing the query resolution (?step=XX)",
                },
                status=400,
            )
        return self._answer() or _success(self.range_series)


def _success(series: list[dict[str, Any]]) -> web.Response:
    return web.json_response({"status": "success", "data": {"resultType": "matrix", "result": series}})


def series(name: str, samples: list[tuple[float, str]], **labels: str) -> dict[str, Any]:
    """One series of a matrix as Prometheus sends it: values are strings."""
    return {"metric": {"__name__": name, "job": "ops", **labels}, "values": [[t, v] for t, v in samples]}
