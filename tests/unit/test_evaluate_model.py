"""Evaluate Predictions: metrics from the transform's output and the test labels; mismatches are errors."""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Callable
from types import ModuleType
from typing import Any

import evaluation
import pytest

from tests.conftest import load_event

PREFIX = "runs/run-0123456789ab"


@pytest.fixture
def app(load_handler: Callable[[str], ModuleType]) -> ModuleType:
    return load_handler("evaluate_model")


def _put_lines(s3_client: Any, bucket: str, key: str, values: list[Any]) -> None:
    s3_client.put_object(Bucket=bucket, Key=key, Body="".join(f"{v}\n" for v in values).encode())


def _event(bucket: str) -> dict[str, str]:
    return {
        "predictionsUri": f"s3://{bucket}/{PREFIX}/predictions/",
        "labelsUri": f"s3://{bucket}/{PREFIX}/data/test-labels/",
        "metricsUri": f"s3://{bucket}/{PREFIX}/evaluation/metrics.json",
    }


def _write(s3_client: Any, bucket: str, predictions: list[Any], labels: list[Any]) -> None:
    _put_lines(s3_client, bucket, f"{PREFIX}/predictions/test.csv.out", predictions)
    _put_lines(s3_client, bucket, f"{PREFIX}/data/test-labels/test.csv", labels)


def test_metrics_match_a_direct_computation_and_are_written_to_s3(
    app: ModuleType, s3_client: Any, bucket: str
) -> None:
    rng = random.Random(7)
    labels = [rng.uniform(-5, 25) for _ in range(500)]
    predictions = [y + rng.gauss(0, 1.5) for y in labels]
    _write(s3_client, bucket, [f"{p:.6f}" for p in predictions], [f"{y:.6f}" for y in labels])
    labels = [float(f"{y:.6f}") for y in labels]
    predictions = [float(f"{p:.6f}") for p in predictions]

    result = app.lambda_handler(_event(bucket), None)

    n = len(labels)
    mean = sum(labels) / n
    sse = sum((p - y) ** 2 for p, y in zip(predictions, labels, strict=True))
    assert result["rows"] == n
    assert result["rmse"] == pytest.approx(math.sqrt(sse / n), rel=1e-12)
    assert result["mae"] == pytest.approx(
        sum(abs(p - y) for p, y in zip(predictions, labels, strict=True)) / n
    )
    assert result["r2"] == pytest.approx(1 - sse / sum((y - mean) ** 2 for y in labels), rel=1e-9)
    assert result["labelMean"] == pytest.approx(mean)
    stored = json.loads(
        s3_client.get_object(Bucket=bucket, Key=f"{PREFIX}/evaluation/metrics.json")["Body"].read()
    )
    assert stored == result
    assert json.loads(json.dumps(result)) == result


def test_perfect_predictions_give_zero_error_and_r2_of_one(
    app: ModuleType, s3_client: Any, bucket: str
) -> None:
    _write(s3_client, bucket, [1, 2, 3, 4], [1, 2, 3, 4])

    result = app.lambda_handler(_event(bucket), None)

    assert (result["rmse"], result["mae"], result["r2"]) == (0.0, 0.0, 1.0)


def test_constant_labels_leave_r2_undefined_not_a_division_error(
    app: ModuleType, s3_client: Any, bucket: str
) -> None:
    _write(s3_client, bucket, [2.0, 4.0], [3.0, 3.0])

    result = app.lambda_handler(_event(bucket), None)

    assert result["r2"] is None
    assert result["rmse"] == 1.0


def test_joined_transform_output_uses_the_last_column_as_the_prediction(
    app: ModuleType, s3_client: Any, bucket: str
) -> None:
    """With DataProcessing JoinSource=Input an output line is the input record followed by the prediction."""
    _write(s3_client, bucket, ["0.1,0.2,5.0", "0.3,0.4,7.0"], [5.0, 8.0])

    result = app.lambda_handler(_event(bucket), None)

    assert result["rows"] == 2
    assert result["mae"] == 0.5


def test_several_prediction_files_are_each_paired_with_the_labels_file_of_their_name(
    app: ModuleType, s3_client: Any, bucket: str
) -> None:
    """Shards: part-00001.csv.out is compared with test-labels/part-00001.csv, whatever the listing order."""
    _put_lines(s3_client, bucket, f"{PREFIX}/predictions/part-00001.csv.out", [3.0])
    _put_lines(s3_client, bucket, f"{PREFIX}/predictions/part-00000.csv.out", [1.0, 2.0])
    _put_lines(s3_client, bucket, f"{PREFIX}/predictions/_SUCCESS", ["ignored"])
    _put_lines(s3_client, bucket, f"{PREFIX}/data/test-labels/part-00000.csv", [1.0, 2.0])
    _put_lines(s3_client, bucket, f"{PREFIX}/data/test-labels/part-00001.csv", [5.0])

    result = app.lambda_handler(_event(bucket), None)

    # Only the third row is off (by 2): a pairing by position across files would give another error.
    assert result["rows"] == 3
    assert result["rmse"] == pytest.approx(math.sqrt(4 / 3))
    assert result["mae"] == pytest.approx(2 / 3)


def test_labels_uri_may_name_one_object_instead_of_a_prefix(
    app: ModuleType, s3_client: Any, bucket: str
) -> None:
    """Your own data's test split names its labels object; it pairs with test.csv.out all the same."""
    _write(s3_client, bucket, [1.0, 2.0], [1.0, 4.0])
    event = {**_event(bucket), "labelsUri": f"s3://{bucket}/{PREFIX}/data/test-labels/test.csv"}

    assert app.lambda_handler(event, None)["rmse"] == pytest.approx(math.sqrt(2))


def test_a_prediction_file_without_its_labels_file_is_an_unpaired_file_error(
    app: ModuleType, s3_client: Any, bucket: str
) -> None:
    _put_lines(s3_client, bucket, f"{PREFIX}/predictions/part-00000.csv.out", [1.0])
    _put_lines(s3_client, bucket, f"{PREFIX}/predictions/part-00001.csv.out", [1.0])
    _put_lines(s3_client, bucket, f"{PREFIX}/data/test-labels/part-00000.csv", [1.0])

    with pytest.raises(
        evaluation.UnpairedEvaluationFile, match=r"part-00001\.csv\.out has no labels file .*part-00001\.csv"
    ):
        app.lambda_handler(_event(bucket), None)
    assert "Contents" not in s3_client.list_objects_v2(Bucket=bucket, Prefix=f"{PREFIX}/evaluation/")


def test_an_extra_labels_file_without_predictions_is_an_unpaired_file_error(
    app: ModuleType, s3_client: Any, bucket: str
) -> None:
    """A test file the transform skipped would silently shrink the test set: it is an error instead."""
    _put_lines(s3_client, bucket, f"{PREFIX}/predictions/part-00000.csv.out", [1.0])
    _put_lines(s3_client, bucket, f"{PREFIX}/data/test-labels/part-00000.csv", [1.0])
    _put_lines(s3_client, bucket, f"{PREFIX}/data/test-labels/part-00001.csv", [1.0])

    with pytest.raises(
        evaluation.UnpairedEvaluationFile,
        match=r"part-00001\.csv has no prediction file .*part-00001\.csv\.out",
    ):
        app.lambda_handler(_event(bucket), None)


def test_a_row_mismatch_in_one_shard_names_that_pair(app: ModuleType, s3_client: Any, bucket: str) -> None:
    _put_lines(s3_client, bucket, f"{PREFIX}/predictions/part-00000.csv.out", [1.0, 2.0])
    _put_lines(s3_client, bucket, f"{PREFIX}/predictions/part-00001.csv.out", [1.0, 2.0])
    _put_lines(s3_client, bucket, f"{PREFIX}/data/test-labels/part-00000.csv", [1.0])
    _put_lines(s3_client, bucket, f"{PREFIX}/data/test-labels/part-00001.csv", [1.0, 2.0, 3.0])

    with pytest.raises(
        evaluation.PredictionCountMismatch, match=r"2 predictions but 1 labels: .*part-00000\.csv\.out"
    ):
        app.lambda_handler(_event(bucket), None)


def test_noise_floor_of_a_sharded_data_set_pools_the_shards_squared_noise(app: ModuleType) -> None:
    """sqrt((9 + 31) / (1 + 9)) = 2: shards weigh by their test rows (the mean of their floors is 2.43)."""
    dataset = {
        "noiseFloorRmse": None,
        "shardResults": [
            {"index": 0, "rows": {"test": 1}, "testNoiseSumOfSquares": 9.0, "noiseFloorRmse": 3.0},
            {"index": 1, "rows": {"test": 9}, "testNoiseSumOfSquares": 31.0, "noiseFloorRmse": 1.855921},
        ],
    }

    assert evaluation.noise_floor_rmse(dataset) == 2.0
    assert evaluation.noise_floor_rmse({"noiseFloorRmse": 1.01}) == 1.01
    assert evaluation.noise_floor_rmse(None) is None


@pytest.mark.parametrize(
    "results",
    [
        [],
        "x",
        [{"rows": {"test": 1}}],
        [{"rows": {"test": -1}, "testNoiseSumOfSquares": 1.0}],
        [{"rows": {"test": 0}, "testNoiseSumOfSquares": 0.0}],
    ],
)
def test_malformed_shard_results_are_invalid_evaluation_requests(app: ModuleType, results: Any) -> None:
    with pytest.raises(evaluation.InvalidEvaluationRequest, match="shardResults"):
        evaluation.noise_floor_rmse({"shardResults": results})


@pytest.mark.parametrize(
    ("predictions", "labels", "words"),
    [([1, 2, 3], [1, 2], "3 predictions but 2 labels"), ([1], [1, 2, 3], "3 labels but 1 predictions")],
)
def test_row_count_mismatch_is_an_error_naming_both_counts(
    app: ModuleType, s3_client: Any, bucket: str, predictions: list[int], labels: list[int], words: str
) -> None:
    _write(s3_client, bucket, predictions, labels)

    with pytest.raises(evaluation.PredictionCountMismatch, match=words):
        app.lambda_handler(_event(bucket), None)
    # No metrics are written for a mismatched pair.
    assert "Contents" not in s3_client.list_objects_v2(Bucket=bucket, Prefix=f"{PREFIX}/evaluation/")


@pytest.mark.parametrize(
    ("bad", "words"), [("abc", "not a number"), ("nan", "not finite"), ("inf", "not finite")]
)
def test_a_non_numeric_prediction_names_its_line(
    app: ModuleType, s3_client: Any, bucket: str, bad: str, words: str
) -> None:
    _write(s3_client, bucket, [1.0, bad], [1.0, 2.0])

    with pytest.raises(evaluation.InvalidPredictionData, match=rf"line 2 is {words}"):
        app.lambda_handler(_event(bucket), None)


def test_empty_files_are_an_error(app: ModuleType, s3_client: Any, bucket: str) -> None:
    _write(s3_client, bucket, [], [])

    with pytest.raises(evaluation.InvalidPredictionData, match="no rows"):
        app.lambda_handler(_event(bucket), None)


def test_missing_predictions_and_missing_labels_are_named_errors(
    app: ModuleType, s3_client: Any, bucket: str
) -> None:
    with pytest.raises(evaluation.EvaluationDataNotFound, match=r"no prediction file \(\*\.out\)"):
        app.lambda_handler(_event(bucket), None)

    _put_lines(s3_client, bucket, f"{PREFIX}/predictions/test.csv.out", [1.0])
    with pytest.raises(evaluation.EvaluationDataNotFound, match="no labels file under"):
        app.lambda_handler(_event(bucket), None)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"predictionsUri": None}, "'predictionsUri' must be an s3:// URI string, got NoneType"),
        ({"labelsUri": 7}, "'labelsUri' must be an s3:// URI string, got int"),
        ({"metricsUri": "https://example.com/x"}, "'metricsUri' must look like s3://bucket/key"),
        ({"labelsUri": "s3://UPPER/x"}, "'labelsUri' must look like s3://bucket/key"),
    ],
)
def test_bad_uris_are_invalid_evaluation_requests(
    app: ModuleType, bucket: str, change: dict[str, Any], words: str
) -> None:
    with pytest.raises(evaluation.InvalidEvaluationRequest, match=words):
        app.lambda_handler({**_event(bucket), **change}, None)


@pytest.mark.parametrize("event", [None, [], "s3://b/k", 3])
def test_an_event_that_is_not_an_object_is_rejected(app: ModuleType, event: Any) -> None:
    with pytest.raises(evaluation.InvalidEvaluationRequest, match="must be a JSON object"):
        app.lambda_handler(event, None)


# --- the quality gate's threshold ------------------------------------------------------------------------

GATE_ON = {"enabled": True, "maxRmse": None, "source": None, "noiseFactor": 1.25}


def _gated(bucket: str, gate: Any, dataset: Any) -> dict[str, Any]:
    return {**_event(bucket), "qualityGate": gate, "dataset": dataset}


def test_generated_data_gets_noise_factor_times_the_noise_floor(
    app: ModuleType, s3_client: Any, bucket: str
) -> None:
    _write(s3_client, bucket, [1.5, 2.5], [1.0, 2.0])

    result = app.lambda_handler(_gated(bucket, GATE_ON, {"noiseFloorRmse": 1.002}), None)

    assert result["rmse"] == 0.5
    assert result["qualityGate"] == {
        "enabled": True,
        "threshold": 1.2525,
        "source": "noiseFloor",
        "noiseFloorRmse": 1.002,
        "basis": "1.25 x noise floor 1.002",
        "rmse": 0.5,
    }
    stored = json.loads(
        s3_client.get_object(Bucket=bucket, Key=f"{PREFIX}/evaluation/metrics.json")["Body"].read()
    )
    assert stored["qualityGate"] == result["qualityGate"]


@pytest.mark.parametrize(
    ("source", "basis"),
    [("input", "maxTestRmse of the execution input"), ("template", "MaxTestRmse template parameter")],
)
def test_a_configured_threshold_wins_over_the_noise_floor(
    app: ModuleType, s3_client: Any, bucket: str, source: str, basis: str
) -> None:
    _write(s3_client, bucket, [1.0, 2.0], [1.0, 2.0])
    gate = {**GATE_ON, "maxRmse": 0.75, "source": source}

    result = app.lambda_handler(_gated(bucket, gate, {"noiseFloorRmse": 1.0}), None)

    assert result["qualityGate"]["threshold"] == 0.75
    assert (result["qualityGate"]["source"], result["qualityGate"]["basis"]) == (source, basis)


def test_own_data_without_a_threshold_switches_the_gate_off_and_says_why(
    app: ModuleType, s3_client: Any, bucket: str
) -> None:
    _write(s3_client, bucket, [1.0, 2.0], [1.0, 2.0])

    gate = app.lambda_handler(_gated(bucket, GATE_ON, {"runName": "x"}), None)["qualityGate"]

    assert gate["enabled"] is False and gate["threshold"] is None and gate["noiseFloorRmse"] is None
    assert "no known noise floor" in gate["basis"] and "maxTestRmse" in gate["basis"]


def test_a_switched_off_gate_has_no_threshold(app: ModuleType, s3_client: Any, bucket: str) -> None:
    _write(s3_client, bucket, [1.0, 2.0], [1.0, 2.0])
    gate = {"enabled": False, "maxRmse": 0.5, "source": "input", "noiseFactor": 1.25}

    result = app.lambda_handler(_gated(bucket, gate, {"noiseFloorRmse": 1.0}), None)["qualityGate"]

    assert (result["enabled"], result["threshold"], result["basis"]) == (
        False,
        None,
        "the quality gate is switched off",
    )


@pytest.mark.parametrize(
    ("gate", "dataset", "words"),
    [
        ({"enabled": "yes"}, {}, "'qualityGate' must be an object with a boolean 'enabled'"),
        ([], {}, "'qualityGate' must be an object"),
        ({**GATE_ON, "maxRmse": -1, "source": "input"}, {}, "'qualityGate.maxRmse' must be a number above 0"),
        ({**GATE_ON, "maxRmse": 1.0, "source": "elsewhere"}, {}, "'qualityGate.source' must be input or"),
        ({**GATE_ON, "noiseFactor": 0.5}, {"noiseFloorRmse": 1.0}, "'qualityGate.noiseFactor' must be"),
        (GATE_ON, {"noiseFloorRmse": "1.0"}, "'dataset.noiseFloorRmse' must be a number"),
    ],
)
def test_a_bad_gate_is_an_invalid_request_before_anything_is_read(
    app: ModuleType, bucket: str, gate: Any, dataset: Any, words: str
) -> None:
    # No predictions exist: the request is refused before the data is looked at.
    with pytest.raises(evaluation.InvalidEvaluationRequest, match=re.escape(words)):
        app.lambda_handler(_gated(bucket, gate, dataset), None)


def test_events_file_is_the_request_the_state_machine_sends(app: ModuleType, s3_client: Any) -> None:
    event = load_event("evaluate_model")
    bucket, _, key = event["labelsUri"].removeprefix("s3://").partition("/")
    s3_client.create_bucket(Bucket=bucket)
    s3_client.put_object(Bucket=bucket, Key=key + "test.csv", Body=b"1.0\n2.0\n")
    predictions = event["predictionsUri"].removeprefix(f"s3://{bucket}/") + "test.csv.out"
    s3_client.put_object(Bucket=bucket, Key=predictions, Body=b"1.0\n5.0\n")

    result = app.lambda_handler(event, None)

    assert result["rmse"] == pytest.approx(math.sqrt(4.5))
    gate = result["qualityGate"]
    assert gate["enabled"] is True and gate["source"] == "noiseFloor"
    assert result["rmse"] > gate["threshold"], "this event's predictions fail the gate"


def test_noiseless_generated_data_switches_the_gate_off_instead_of_failing_every_model(
    app: ModuleType, s3_client: Any, bucket: str
) -> None:
    _write(s3_client, bucket, [1.0, 2.0], [1.1, 2.1])

    gate = app.lambda_handler(_gated(bucket, GATE_ON, {"noiseFloorRmse": 0.0}), None)["qualityGate"]

    assert gate["enabled"] is False and gate["threshold"] is None and gate["noiseFloorRmse"] == 0.0
    assert "noise 0" in gate["basis"] and "maxTestRmse" in gate["basis"]


@pytest.mark.parametrize(
    "result",
    [{"rows": 5, "testNoiseSumOfSquares": 1.0}, {"rows": {"test": "7"}, "testNoiseSumOfSquares": 1.0}, 3],
)
def test_a_malformed_shard_result_is_an_invalid_request(app: ModuleType, result: Any) -> None:
    with pytest.raises(evaluation.InvalidEvaluationRequest, match=r"shardResults\[0\]"):
        evaluation.noise_floor_rmse({"shardResults": [result]})
