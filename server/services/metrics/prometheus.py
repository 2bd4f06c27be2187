"""PrometheusSource: the summary and timeseries from a Prometheus server's HTTP API (`OPS_PROMETHEUS_URL`), which
scrapes this server's `/api/v1/metrics` (or the site's own exporters of the same metrics).

Prometheus' ways, each handled: sample values are strings ("5400", "NaN", "+Inf"); a metric nobody exports is an
empty `result`, not an error; errors are `{"status": "error", "errorType", "error"}`; a range query of more than
11,000 points per series is its 400 (the window planner raises the step first; should one come all the same it
is answered as our 422 on `step_seconds`, never forwarded); and a Prometheus that cannot be reached, or answers
something else, makes the values stale with a note saying why, never a 500."""

import asyncio
import math
from collections.abc import Mapping
from typing import Any

import httpx

from server.clock import Clock
from server.errors import FieldError, ValidationFailed
from server.services.metrics.definitions import (
    COVERAGE,
    METRICS,
    SUBSCRIPTION_STATES,
    SUBSCRIPTIONS,
    THROUGHPUT,
    THROUGHPUT_MAX_WINDOW_SECONDS,
    MetricDefinition,
)
from server.services.metrics.source import Window, iso_text
from shared.clients.transport import describe_transport_error
from shared.metrics import MetricsSummary, MetricValue, TimeseriesResponse

# How far back the summary looks for each metric's newest sample: Prometheus' own lookback for instant queries.
LOOKBACK = "5m"
_NAMES = "|".join([*(m.name for m in METRICS), SUBSCRIPTIONS])
_SUMMARY_SELECTOR = f'{{__name__=~"{_NAMES}"}}[{LOOKBACK}]'

Samples = list[tuple[float, float]]  # (epoch seconds, value), oldest first


class PrometheusUnavailable(Exception):
    """Prometheus could not answer: unreachable, timed out, not its API, or an error it reported."""


class PrometheusSource:
    def __init__(
        self,
        base_url: str,
        clock: Clock,
        *,
        sample_seconds: float,
        timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._clock = clock
        self._sample_seconds = sample_seconds
        self._timeout = timeout
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout, transport=transport)

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- summary ---

    async def summary(self) -> MetricsSummary:
        now = self._clock.timestamp()
        try:
            data = await self._api("/api/v1/query", {"query": _SUMMARY_SELECTOR, "time": f"{now:.3f}"})
            series = _matrix(data)
        except PrometheusUnavailable as exc:
            note = str(exc)
            return MetricsSummary.model_validate(
                {m.summary_key: _missing(m, note) for m in METRICS},
            )
        newest = _newest_by_metric(series)
        values = {m.summary_key: self._value(m, newest, now) for m in METRICS}
        return MetricsSummary.model_validate(values)

    def _value(
        self, metric: MetricDefinition, newest: Mapping[str, tuple[dict[str, str], Samples]], now: float
    ) -> MetricValue:
        found = newest.get(metric.name)
        if found is None:
            return _missing(metric, f"no sample of {metric.name} in Prometheus in the last {LOOKBACK}")
        _, samples = found
        at, value = samples[-1]
        context: dict[str, Any] = {"sampled_at": iso_text(at)}
        if metric is THROUGHPUT:
            recent = [v for t, v in samples if t >= at - THROUGHPUT_MAX_WINDOW_SECONDS and math.isfinite(v)]
            context["window"] = "last"
            context["max_over_time[1m]"] = metric.shown(max(recent)) if recent else None
        elif metric is COVERAGE:
            for state in SUBSCRIPTION_STATES:
                total = newest.get(f"{SUBSCRIPTIONS}:{state}")
                if total is not None and math.isfinite(total[1][-1][1]):
                    context[f"{state}_total"] = round(total[1][-1][1])
        # The interval Prometheus scrapes at, seen in the samples themselves; the setting when there is one sample.
        interval = samples[-1][0] - samples[-2][0] if len(samples) > 1 else self._sample_seconds
        age = now - at
        stale = age > 2 * interval
        if stale:
            context["note"] = f"newest sample is {age:.0f} s old (scraped every {interval:g} s)"
        if not math.isfinite(value):
            shown = "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
            context["note"] = f"Prometheus holds {shown} for {metric.name}"
            return MetricValue(metric=metric.name, value=None, unit=metric.unit, stale=stale, context=context)
        return MetricValue(
            metric=metric.name, value=metric.shown(value), unit=metric.unit, stale=stale, context=context
        )

    # --- timeseries ---

    async def timeseries(self, metric: MetricDefinition, window: Window) -> TimeseriesResponse:
        # Prometheus evaluates at each step's end over the step before it; the points are labelled by where their
        # step starts, as the embedded source labels them.
        params = {
            "query": f"avg(avg_over_time({metric.name}[{window.step}s]))",
            "start": str(window.start + window.step),
            "end": str(window.end),
            "step": str(window.step),
        }
        try:
            data = await self._api("/api/v1/query_range", params)
            series = _matrix(data)
        except PrometheusUnavailable as exc:
            return TimeseriesResponse(
                metric=metric.name, unit=metric.unit, points=[], step_seconds=window.step, stale=True, note=str(exc)
            )
        points = [
            {"timestamp": t - window.step, "value": metric.shown(v)}
            for _, samples in series[:1]
            for t, v in samples
            if math.isfinite(v)
        ]
        return TimeseriesResponse.model_validate(
            {"metric": metric.name, "unit": metric.unit, "points": points, "step_seconds": window.step}
        )

    async def timeseries_json(self, metric: MetricDefinition, window: Window) -> bytes:
        return (await self.timeseries(metric, window)).model_dump_json().encode()

    # --- the HTTP API ---

    async def _api(self, path: str, params: dict[str, str]) -> Any:
        """The `data` of a successful answer; PrometheusUnavailable (or our 422 for its points limit) otherwise."""
        try:
            # httpx's timeout bounds each read, not the answer: one that trickles in would be waited on forever.
            async with asyncio.timeout(self._timeout):
                response = await self._http.get(path, params=params)
        except TimeoutError:
            raise PrometheusUnavailable(
                f"Prometheus at {self.base_url} did not answer within {self._timeout:g} s"
            ) from None
        except httpx.TransportError as exc:
            raise PrometheusUnavailable(
                f"Prometheus at {self.base_url} cannot be reached: {describe_transport_error(exc)}"
            ) from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or body.get("status") not in ("success", "error"):
            raise PrometheusUnavailable(
                f"Prometheus at {self.base_url} answered HTTP {response.status_code} without its API's JSON"
            )
        if body["status"] == "error":
            error_type, error = str(body.get("errorType", "unknown")), str(body.get("error", ""))
            if error_type == "bad_data" and "maximum resolution" in error:
                raise ValidationFailed(
                    [FieldError("query", ("step_seconds",), f"too many points for Prometheus: {error}", "too_many")]
                )
            raise PrometheusUnavailable(f"Prometheus answered {error_type}: {error}")
        return body.get("data")


def _missing(metric: MetricDefinition, note: str) -> MetricValue:
    return MetricValue(metric=metric.name, value=None, unit=metric.unit, stale=True, context={"note": note})


def _matrix(data: Any) -> list[tuple[dict[str, str], Samples]]:
    """The series of a `matrix` answer: labels and (time, value) samples, values parsed from their strings."""
    if not isinstance(data, dict) or data.get("resultType") != "matrix" or not isinstance(data.get("result"), list):
        raise PrometheusUnavailable("Prometheus answered with something other than a matrix")
    series = []
    for item in data["result"]:
        try:
            labels = dict(item.get("metric") or {})
            samples = [(float(t), float(v)) for t, v in item["values"]]
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise PrometheusUnavailable(f"Prometheus answered a series this server cannot read: {exc}") from exc
        if samples:
            series.append((labels, samples))
    return series


def _newest_by_metric(series: list[tuple[dict[str, str], Samples]]) -> dict[str, tuple[dict[str, str], Samples]]:
    """Per metric (per `state` for the subscription totals), the series with the newest sample: with several
    targets exporting one metric, the one scraped last speaks."""
    newest: dict[str, tuple[dict[str, str], Samples]] = {}
    for labels, samples in series:
        name = labels.get("__name__", "")
        key = f"{name}:{labels.get('state', '')}" if name == SUBSCRIPTIONS else name
        held = newest.get(key)
        if held is None or samples[-1][0] > held[1][-1][0]:
            newest[key] = (labels, samples)
    return newest
