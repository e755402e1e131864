"""The report's inputs read from a run's objects: history, metrics, predictions paired with labels."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest

from report import collect as collect_module
from report.collect import ReportInputError, collect
from tests.conftest import BUCKET_NAME
from tests.report.conftest import PREFIX, history, lines

LABELS = [10.0, 12.0, 8.0, 20.0]
PREDICTIONS = [11.0, 12.0, 6.0, 21.0]
# errors 1, 0, -2, 1: RMSE sqrt(6/4), MAE 4/4; label mean 12.5, sum of squares 83 -> R2 1 - 6/83
RMSE, MAE, R2 = math.sqrt(1.5), 1.0, 1 - 6 / 83


def test_single_file_layout_pairs_the_labels_with_their_predictions_and_computes_metrics(
    put: Callable[[str, Any], None], s3_client: Any
) -> None:
    put("tuning/training-jobs.json", history())
    put("data/test-labels/test.csv", lines(LABELS))
    put("predictions/test.csv.out", lines(PREDICTIONS))

    data = collect(s3_client, BUCKET_NAME, PREFIX)

    assert data.problems == []
    assert data.run_name == "nightly-1-0123456789ab"
    assert data.history is not None and len(data.history["trainingJobs"]) == 4
    assert data.metrics is None  # computed instead
    assert data.test is not None
    assert data.test.files == [(PREFIX + "data/test-labels/test.csv", PREFIX + "predictions/test.csv.out")]
    assert data.test.rows == 4
    assert data.test.rmse == pytest.approx(RMSE)
    assert data.test.mae == pytest.approx(MAE)
    assert data.test.r2 == pytest.approx(R2)
    assert sorted(data.test.points) == sorted(zip(LABELS, PREDICTIONS, strict=True))


def test_sharded_layout_pairs_each_labels_file_with_its_predictions_by_name(
    put: Callable[[str, Any], None], s3_client: Any
) -> None:
    put("data/test-labels/part-00000.csv", lines(LABELS[:2]))
    put("data/test-labels/part-00001.csv", lines(LABELS[2:]))
    # Predictions of a transform joined with its input: the prediction is the last field.
    put("predictions/part-00001.csv.out", "".join(f"0.1,0.2,{p}\n" for p in PREDICTIONS[2:]))
    put("predictions/part-00000.csv.out", lines(PREDICTIONS[:2]))

    data = collect(s3_client, BUCKET_NAME, PREFIX)

    assert data.test is not None
    assert [(a.rsplit("/", 1)[-1], b.rsplit("/", 1)[-1]) for a, b in data.test.files] == [
        ("part-00000.csv", "part-00000.csv.out"),
        ("part-00001.csv", "part-00001.csv.out"),
    ]
    assert data.test.rows == 4
    assert data.test.rmse == pytest.approx(RMSE)


def test_metrics_are_evaluate_models_own(put: Callable[[str, Any], None], s3_client: Any) -> None:
    """The report computes nothing itself: Evaluate Model's code on the same objects gives its figures."""
    import evaluation

    put("data/test-labels/test.csv", lines(LABELS))
    put("predictions/test.csv.out", lines(PREDICTIONS))

    data = collect(s3_client, BUCKET_NAME, PREFIX)

    metrics = evaluation.evaluate(
        s3_client, f"s3://{BUCKET_NAME}/{PREFIX}predictions/", f"s3://{BUCKET_NAME}/{PREFIX}data/test-labels/"
    )
    assert data.test is not None
    assert (data.test.rows, data.test.rmse, data.test.mae, data.test.r2) == (
        metrics.rows,
        metrics.rmse,
        metrics.mae,
        metrics.r2,
    )
    # Only the missing history is a problem.
    assert len(data.problems) == 1 and "training job history" in data.problems[0]


def test_evaluation_metrics_file_is_read_when_the_run_has_one(
    put: Callable[[str, Any], None], s3_client: Any
) -> None:
    metrics = {"rows": 4, "rmse": 1.23, "mae": 1.0, "r2": 0.9, "labelMean": 12.5, "metricsUri": "s3://x/y"}
    put("evaluation/metrics.json", metrics)
    put("data/test-labels/test.csv", lines(LABELS))
    put("predictions/test.csv.out", lines(PREDICTIONS))

    assert collect(s3_client, BUCKET_NAME, PREFIX).metrics == metrics


def test_points_are_a_sample_of_at_most_max_points_while_metrics_cover_every_row(
    put: Callable[[str, Any], None], s3_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(collect_module, "MAX_POINTS", 50)
    labels = [float(i) for i in range(400)]
    predictions = [v + (1.0 if i % 2 else -1.0) for i, v in enumerate(labels)]
    put("data/test-labels/test.csv", lines(labels))
    put("predictions/test.csv.out", lines(predictions))

    test = collect(s3_client, BUCKET_NAME, PREFIX).test

    assert test is not None
    assert test.rows == 400
    assert test.rmse == pytest.approx(1.0)
    assert len(test.points) == 50
    assert len(set(test.points)) == 50
    assert all(abs(p - a) == 1.0 for a, p in test.points)
    # A uniform sample, not the first rows.
    assert max(a for a, _ in test.points) > 200


# --- bad input: problems the report shows, not crashes ---------------------------------------------------


def test_nothing_under_the_prefix_is_an_error_naming_the_location(s3_client: Any, bucket: str) -> None:
    with pytest.raises(ReportInputError, match=f"s3://{BUCKET_NAME}/runs/missing/"):
        collect(s3_client, BUCKET_NAME, "runs/missing/")


def test_missing_predictions_are_a_problem_and_no_test_set(
    put: Callable[[str, Any], None], s3_client: Any
) -> None:
    put("tuning/training-jobs.json", history())
    put("data/test-labels/test.csv", lines(LABELS))

    data = collect(s3_client, BUCKET_NAME, PREFIX)

    assert data.test is None
    assert data.history is not None
    assert any("no prediction file (*.out)" in problem for problem in data.problems)


def test_missing_labels_are_a_problem(put: Callable[[str, Any], None], s3_client: Any) -> None:
    put("predictions/test.csv.out", lines(PREDICTIONS))

    data = collect(s3_client, BUCKET_NAME, PREFIX)

    assert data.test is None
    assert any("no labels file" in problem for problem in data.problems)


def test_empty_predictions_are_a_problem(put: Callable[[str, Any], None], s3_client: Any) -> None:
    put("data/test-labels/test.csv", lines(LABELS))
    put("predictions/test.csv.out", "")

    data = collect(s3_client, BUCKET_NAME, PREFIX)

    assert data.test is None
    assert any("4 labels but 0 predictions" in problem for problem in data.problems)


def test_row_count_mismatch_is_a_problem_naming_both_counts(
    put: Callable[[str, Any], None], s3_client: Any
) -> None:
    put("data/test-labels/test.csv", lines(LABELS))
    put("predictions/test.csv.out", lines(PREDICTIONS[:3]))

    data = collect(s3_client, BUCKET_NAME, PREFIX)

    assert data.test is None
    (problem,) = [p for p in data.problems if "one row per test record" in p]
    assert "4 labels but 3 predictions" in problem


def test_a_value_that_is_not_a_number_is_a_problem_with_its_line(
    put: Callable[[str, Any], None], s3_client: Any
) -> None:
    put("data/test-labels/test.csv", lines(LABELS))
    put("predictions/test.csv.out", "1.0\n2.0\nnot-a-number\n4.0\n")

    data = collect(s3_client, BUCKET_NAME, PREFIX)

    assert data.test is None
    assert any("line 3 is not a number" in problem for problem in data.problems)


@pytest.mark.parametrize("body", ["{not json", "[1, 2]", '{"tuningJobName": "x"}'])
def test_unreadable_history_is_a_problem(body: str, put: Callable[[str, Any], None], s3_client: Any) -> None:
    put("tuning/training-jobs.json", body)

    data = collect(s3_client, BUCKET_NAME, PREFIX)

    assert data.history is None
    assert any("history" in problem for problem in data.problems)


@pytest.mark.parametrize(
    ("labels", "predictions", "named"),
    [
        (
            ["part-00000.csv", "part-00001.csv"],
            ["part-00000.csv.out", "part-00002.csv.out"],
            "part-00002.csv.out",
        ),
        (["test_labels.csv"], ["test.csv.out"], "test.csv.out"),
    ],
)
def test_files_that_do_not_pair_are_a_problem_naming_them(
    put: Callable[[str, Any], None], s3_client: Any, labels: list[str], predictions: list[str], named: str
) -> None:
    for name in labels:
        put(f"data/test-labels/{name}", lines(LABELS))
    for name in predictions:
        put(f"predictions/{name}", lines(PREDICTIONS))

    data = collect(s3_client, BUCKET_NAME, PREFIX)

    assert data.test is None
    (problem,) = [p for p in data.problems if "has no labels file" in p]
    assert named in problem
