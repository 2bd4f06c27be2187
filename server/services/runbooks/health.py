"""The market-data feed's health report, as `health_check` returns it and `enforce` judges it: coverage and its
totals, throughput, backlog and the active profile, with each configured threshold it is below."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from server.plant.feed import FeedSnapshot
from shared.runbooks import HealthReport


@dataclass(frozen=True, slots=True)
class Thresholds:
    min_coverage_ratio: float
    min_throughput_mps: float
    max_backlog_messages: float


@dataclass(frozen=True, slots=True)
class FeedReading:
    """What the feed says now, in the report's terms."""

    coverage_ratio: float | None
    expected_total: int | None
    active_total: int | None
    matched_total: int | None
    ignored_total: int | None
    throughput_mps: float | None
    consumer_backlog_messages: float | None
    active_profile: str | None


def reading_of(snapshot: FeedSnapshot) -> FeedReading:
    return FeedReading(
        coverage_ratio=round(snapshot.coverage_ratio, 6),
        expected_total=snapshot.expected_total,
        active_total=snapshot.active_total,
        matched_total=snapshot.matched_total,
        ignored_total=snapshot.ignored_total,
        throughput_mps=snapshot.throughput_mps,
        consumer_backlog_messages=float(snapshot.backlog_messages),
        active_profile=snapshot.profile,
    )


def violations(reading: FeedReading, thresholds: Thresholds) -> list[str]:
    """Each threshold the reading fails, as a sentence; an unknown value fails its threshold."""
    found = []
    if reading.coverage_ratio is None or reading.coverage_ratio < thresholds.min_coverage_ratio:
        found.append(f"coverage_ratio {_shown(reading.coverage_ratio)} is below {thresholds.min_coverage_ratio}")
    if reading.throughput_mps is None or reading.throughput_mps < thresholds.min_throughput_mps:
        found.append(f"throughput_mps {_shown(reading.throughput_mps)} is below {thresholds.min_throughput_mps}")
    backlog = reading.consumer_backlog_messages
    if backlog is not None and backlog > thresholds.max_backlog_messages:
        found.append(f"consumer_backlog_messages {_shown(backlog)} is above {thresholds.max_backlog_messages}")
    return found


def report(reading: FeedReading, thresholds: Thresholds, now: datetime) -> HealthReport:
    problems = violations(reading, thresholds)
    return HealthReport(
        coverage_ratio=reading.coverage_ratio,
        expected_total=reading.expected_total,
        active_total=reading.active_total,
        matched_total=reading.matched_total,
        ignored_total=reading.ignored_total,
        throughput_mps=reading.throughput_mps,
        consumer_backlog_messages=reading.consumer_backlog_messages,
        active_profile=reading.active_profile,
        healthy=not problems,
        violations=problems,
        thresholds={
            "min_coverage_ratio": thresholds.min_coverage_ratio,
            "min_throughput_mps": thresholds.min_throughput_mps,
            "max_backlog_messages": thresholds.max_backlog_messages,
        },
        generated_at=now,
    )


def _shown(value: Any) -> str:
    return "unknown" if value is None else f"{value:g}" if isinstance(value, float) else str(value)
