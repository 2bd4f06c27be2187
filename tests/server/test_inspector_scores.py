"""The regression score's formula (server/services/orchestration/regression_score.py), penalty by penalty: what
scores, what is noise, the caps, and how the overall score weighs the stages."""

import pytest

from server.services.orchestration import regression_score as scoring
from server.services.orchestration.regression_text import assessment, cause, stage_findings
from shared.inspector import StageMetrics


def _metrics(**values: object) -> StageMetrics:
    return StageMetrics.model_validate({"stage_name": "execute", "status": "ok", "duration_ms": 100, **values})


@pytest.mark.parametrize(
    ("before", "after", "score"),
    [
        (100, 100, 0),
        (100, 60, 0),  # faster is no regression
        (100, 200, 25),  # 2x
        (100, 310, 41),  # 3.1x: 25 x log2(3.1) = 40.8
        (100, 400, 50),  # 4x
        (100, 5000, 50),  # capped
        (10, 40, 0),  # 4x, but 30 ms: noise
        (1000, 1200, 0),  # 200 ms, but 1.2x: noise
        (0, 60, 50),  # from nothing to 60 ms
    ],
)
def test_the_duration_penalty(before: int, after: int, score: int) -> None:
    assert scoring.stage_score(_metrics(duration_ms=before), _metrics(duration_ms=after)) == score


@pytest.mark.parametrize(
    ("before", "after", "score"),
    [
        ("ok", "ok", 0),
        ("ok", "warning", 15),
        ("warning", "error", 25),
        ("ok", "error", 40),
        ("error", "ok", 0),
        ("ok", "missing", 40),
        ("missing", "ok", 0),
    ],
)
def test_the_status_penalty(before: str, after: str, score: int) -> None:
    assert scoring.stage_score(_metrics(status=before), _metrics(status=after)) == score


def test_errors_warnings_references_and_empty_results() -> None:
    base = _metrics(reference_count=10, warnings=["w0"], empty_flags={"ci_lookup": False})
    assert (
        scoring.stage_score(base, _metrics(reference_count=8, warnings=["w0"], empty_flags={"ci_lookup": False})) == 4
    )
    assert scoring.stage_score(base, _metrics(reference_count=10, warnings=["w0", "w1", "w2"])) == 10
    assert scoring.stage_score(base, _metrics(reference_count=10, warnings=["w0"] + ["w"] * 9)) == 15  # capped
    assert scoring.stage_score(base, _metrics(reference_count=10, warnings=["w0"], errors=["e1", "e2"])) == 20
    assert scoring.stage_score(base, _metrics(reference_count=10, warnings=["w0"], errors=["e"] * 5)) == 30
    empty = _metrics(reference_count=0, warnings=["w0"], empty_flags={"ci_lookup": True, "audit_search": True})
    assert scoring.stage_score(base, empty) == 20 + 30
    worst = _metrics(
        status="error", duration_ms=5000, errors=["e"] * 5, warnings=["w"] * 9, empty_flags=empty.empty_flags
    )
    assert scoring.stage_score(base, worst) == 100


def test_the_overall_score_is_the_worst_stage_and_a_quarter_of_the_rest() -> None:
    assert scoring.overall_score([0, 0, 0, 0, 0]) == 0
    assert scoring.overall_score([41, 0, 0, 0, 0]) == 41
    assert scoring.overall_score([40, 20, 0, 0, 0]) == 45
    assert scoring.overall_score([10, 10], answer_score=30) == 43
    assert scoring.overall_score([100, 100, 100]) == 100


def test_a_stage_compared_with_itself_is_no_change() -> None:
    metrics = _metrics(reference_count=3, warnings=["w"], errors=["e"], empty_flags={"t": True}, counts={"t": 2})
    diff = scoring.differences(metrics, metrics)
    assert scoring.stage_score(metrics, metrics) == 0
    assert diff.model_dump(exclude_defaults=True) == {"duration_ratio": 1.0}
    assert stage_findings(metrics, metrics, diff, ["ci_lookup"]) == ([], [])


def test_the_findings_say_what_changed() -> None:
    before = _metrics(duration_ms=120, applied_assets={"query": "ci-queries:1.0.0", "policy": "ops-policy:1.0.0"})
    after = _metrics(duration_ms=372, applied_assets={"query": "ci-queries:1.2.0", "policy": "ops-policy:1.0.0"})
    diff = scoring.differences(before, after)
    assert cause(diff) == " after query asset ci-queries 1.2.0 (was 1.0.0)"
    issues, recommendations = stage_findings(before, after, diff, ["ci_lookup"])
    assert issues == ["execute took 3.1x longer (120 ms -> 372 ms)"]
    assert recommendations[0].startswith(
        "execute took 3.1x longer (120 ms -> 372 ms) after query asset ci-queries 1.2.0"
    )
    same_assets = scoring.differences(_metrics(duration_ms=120), _metrics(duration_ms=372))
    _, looked = stage_findings(_metrics(duration_ms=120), _metrics(duration_ms=372), same_assets, ["ci_lookup"])
    assert looked == [
        "execute took 3.1x longer (120 ms -> 372 ms): the assets are the same: look at what it called (ci_lookup)"
    ]


@pytest.mark.parametrize(
    ("overall", "stages", "text"),
    [
        (0, 0, "No regression detected"),
        (12, 1, "Minor regression detected in 1 stage"),
        (41, 2, "Moderate regression detected in 2 stages"),
        (70, 1, "Severe regression detected in 1 stage"),
    ],
)
def test_the_overall_assessment(overall: int, stages: int, text: str) -> None:
    assert assessment(overall, stages) == text
