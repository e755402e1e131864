"""Channels, computed metrics, k-fold and batch output bytes, as the XGBoost container has them."""

from __future__ import annotations

import gzip
import io
import tarfile

import numpy as np
import pytest
from sklearn import metrics as skm

from offline import channels, xgboost_algorithm

pytestmark = pytest.mark.filterwarnings("ignore:.*Text file input has been deprecated")

TRAIN = {"ChannelName": "train", "ContentType": "text/csv", "InputMode": "File"}


def regression_rows(rows: int = 200, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 3))
    y = 2 * x[:, 0] - x[:, 1] + rng.normal(scale=0.1, size=rows)
    return "".join(f"{a:.5f},{b:.5f},{c:.5f},{d:.5f}\n" for a, (b, c, d) in zip(y, x, strict=True)).encode()


def classification_rows(rows: int = 200, seed: int = 1) -> bytes:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 3))
    y = (x[:, 0] + rng.normal(scale=0.5, size=rows) > 0).astype(int)
    return "".join(f"{a},{b:.5f},{c:.5f},{d:.5f}\n" for a, (b, c, d) in zip(y, x, strict=True)).encode()


def read(body: bytes, channel: dict[str, str] | None = None) -> channels.ChannelData:
    data = channels.read_channel([("s3://b/train/part.csv", body)], channel or TRAIN)
    assert data is not None
    return data


# --- channels -------------------------------------------------------------------------------------------


def config(*channels_: dict[str, object]) -> list[dict[str, object]]:
    return [
        {"DataSource": {"S3DataSource": {"S3DataDistributionType": "FullyReplicated"}}, **c}
        for c in channels_
    ]


def test_a_channel_without_content_type_is_read_as_libsvm() -> None:
    data = read(b"1 1:0.5 3:2\n0 2:1.5\n", {"ChannelName": "train"})
    assert data.labels.tolist() == [1.0, 0.0]
    assert data.features[0, 1] == 0.5 and np.isnan(data.features[0, 2]) and data.features[0, 3] == 2.0


def test_csv_with_label_size_1_is_refused_by_the_channel_check() -> None:
    with pytest.raises(xgboost_algorithm.AlgorithmFailure) as refused:
        channels.check_channels(config({"ChannelName": "train", "ContentType": "text/csv; label_size=1"}))
    assert refused.value.reason.startswith(
        "ClientError: Channel configuration for 'train' channel is not supported: "
        "{'ContentType': 'text/csv; label_size=1', 'TrainingInputMode': 'File'"
    )
    # The container's content-type parser on its own accepts label_size=1 and refuses any other size.
    assert channels.content_format("text/csv; label_size=1") == "csv"
    with pytest.raises(xgboost_algorithm.AlgorithmFailure, match="label_size must be equal to 1"):
        channels.content_format("text/csv; label_size=2")


@pytest.mark.parametrize(
    ("channels_", "reason"),
    [
        ([{"ChannelName": "train", "ContentType": "text/csv"}], None),
        (
            [
                {"ChannelName": "train", "ContentType": "csv"},
                {"ChannelName": "validation", "ContentType": "text/csv"},
            ],
            None,
        ),
        (
            [{"ChannelName": "validation", "ContentType": "text/csv"}],
            "ClientError: Missing required channel: train",
        ),
        (
            [
                {"ChannelName": "train", "ContentType": "text/csv"},
                {"ChannelName": "test", "ContentType": "text/csv"},
            ],
            "ClientError: Extraneous channel found: test",
        ),
        (
            [{"ChannelName": "train", "ContentType": "application/json"}],
            "ClientError: Channel configuration for 'train' channel is not supported",
        ),
        (
            [{"ChannelName": "train", "ContentType": "text/libsvm", "InputMode": "Pipe"}],
            "ClientError: Channel configuration for 'train' channel is not supported",
        ),
    ],
)
def test_channel_names_and_configurations(channels_: list[dict[str, object]], reason: str | None) -> None:
    if reason is None:
        channels.check_channels(config(*channels_))
        return
    with pytest.raises(xgboost_algorithm.AlgorithmFailure) as refused:
        channels.check_channels(config(*channels_))
    assert refused.value.reason.startswith(reason)


def test_a_dotfile_in_a_channel_fails_the_job() -> None:
    with pytest.raises(xgboost_algorithm.AlgorithmFailure) as failed:
        channels.read_channel([("s3://b/train/a.csv", b"1,2\n"), ("s3://b/train/.hidden", b"x")], TRAIN)
    assert (
        failed.value.reason == "ClientError: Hidden file found in the data path! Remove that before training."
    )


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_the_delimiter_is_detected_from_the_first_line(delimiter: str) -> None:
    body = regression_rows(20).replace(b",", delimiter.encode())
    data = read(body)
    assert data.rows == 20 and data.features.shape == (20, 3)
    assert channels.csv_delimiter(body.split(b"\n")[0].decode() + "\n") == delimiter


def test_files_of_a_channel_are_read_with_the_first_files_delimiter() -> None:
    comma, semicolon = regression_rows(10), regression_rows(10, seed=5).replace(b",", b";")
    with pytest.raises(xgboost_algorithm.AlgorithmFailure, match=r"part-2\.csv line 1: no ',' delimiter"):
        channels.read_channel([("s3://b/t/part-1.csv", comma), ("s3://b/t/part-2.csv", semicolon)], TRAIN)


def test_a_gzip_object_in_file_mode_is_read_as_the_bytes_it_holds() -> None:
    # File mode copies objects as they are: compressed CSV is not CSV to the container.
    with pytest.raises(xgboost_algorithm.AlgorithmFailure) as failed:
        read(gzip.compress(regression_rows(50)))
    assert failed.value.reason.startswith("ClientError: ")


def test_files_of_a_channel_are_read_together_with_the_widest_row_setting_the_width() -> None:
    data = channels.read_channel([("s3://b/t/a.csv", b"1,2,3\n"), ("s3://b/t/b.csv", b"4,5\n")], TRAIN)
    assert data is not None and data.features.shape == (2, 2)
    assert np.isnan(data.features[1, 1])


# --- metrics the container computes ---------------------------------------------------------------------


def test_classification_metrics_are_computed_and_reported_as_the_container_computes_them() -> None:
    data = read(classification_rows())
    names = "accuracy,f1,precision_macro,recall_micro,balanced_accuracy"
    config_ = xgboost_algorithm.parse_hyperparameters(
        {"num_round": "5", "objective": "multi:softprob", "num_class": "2", "eval_metric": names}
    )
    outcome = xgboost_algorithm.train(config_, data, data)
    final = outcome.final_metrics()
    booster = xgboost_algorithm.load_model(xgboost_algorithm.model_tarball(outcome.model)).boosters[0]
    predicted = np.argmax(booster.predict(data.dmatrix(1)), axis=-1)
    expected = {
        "accuracy": skm.accuracy_score(data.labels, predicted),
        "f1": skm.f1_score(data.labels, predicted, average="macro"),
        "precision_macro": skm.precision_score(data.labels, predicted, average="macro"),
        "recall_micro": skm.recall_score(data.labels, predicted, average="micro"),
        "balanced_accuracy": skm.balanced_accuracy_score(data.labels, predicted),
    }
    for name, value in expected.items():
        assert final[f"validation:{name}"] == pytest.approx(value, abs=1e-5), name
    assert 0.5 < final["validation:accuracy"] <= 1.0


def test_regression_metrics_are_computed_and_reported_as_the_container_computes_them() -> None:
    data = read(regression_rows())
    config_ = xgboost_algorithm.parse_hyperparameters(
        {"num_round": "8", "objective": "reg:squarederror", "eval_metric": "mse,r2,mae"}
    )
    outcome = xgboost_algorithm.train(config_, data, data)
    final = outcome.final_metrics()
    booster = xgboost_algorithm.load_model(xgboost_algorithm.model_tarball(outcome.model)).boosters[0]
    predicted = booster.predict(data.dmatrix(1))
    assert final["validation:mse"] == pytest.approx(skm.mean_squared_error(data.labels, predicted), abs=1e-5)
    assert final["validation:r2"] == pytest.approx(skm.r2_score(data.labels, predicted), abs=1e-5)
    assert final["validation:mae"] == pytest.approx(skm.mean_absolute_error(data.labels, predicted), abs=1e-5)


def test_f1_binary_on_multiclass_labels_is_the_users_error() -> None:
    body = b"".join(f"{i % 3},{i},{i % 5}\n".encode() for i in range(60))
    config_ = xgboost_algorithm.parse_hyperparameters(
        {"num_round": "2", "objective": "multi:softmax", "num_class": "3", "eval_metric": "f1_binary"}
    )
    with pytest.raises(xgboost_algorithm.AlgorithmFailure) as failed:
        xgboost_algorithm.train(config_, read(body), None)
    assert failed.value.reason.startswith("ClientError: ") and "average='binary'" in failed.value.reason


def test_the_tuning_objective_is_the_last_value_of_a_container_metric() -> None:
    data = read(regression_rows())
    config_ = xgboost_algorithm.parse_hyperparameters(
        {"num_round": "6", "objective": "reg:squarederror", "_tuning_objective_metric": "validation:r2"}
    )
    outcome = xgboost_algorithm.train(config_, data, data)
    assert outcome.objective == outcome.history["validation"]["r2"][-1]
    assert len(outcome.history["validation"]["r2"]) == 6


# --- k-fold ---------------------------------------------------------------------------------------------


def test_kfold_trains_a_model_a_fold_and_reports_the_mean_with_five_decimals() -> None:
    train, validation = read(regression_rows(150)), read(regression_rows(60, seed=3))
    config_ = xgboost_algorithm.parse_hyperparameters(
        {
            "num_round": "4",
            "objective": "reg:squarederror",
            "_kfold": "3",
            "_num_cv_round": "2",
            "_tuning_objective_metric": "validation:rmse",
        }
    )
    outcome = xgboost_algorithm.train(config_, train, validation)
    assert isinstance(outcome.model, dict)
    assert sorted(outcome.model) == [f"xgboost-model-{i}" for i in range(6)]
    assert outcome.objective == outcome.final_metrics()["validation:rmse"]
    assert outcome.objective == round(outcome.objective, 5)

    tarball = xgboost_algorithm.model_tarball(outcome.model)
    with tarfile.open(fileobj=io.BytesIO(tarball)) as tar:
        assert sorted(tar.getnames()) == sorted(outcome.model)
    model = xgboost_algorithm.load_model(tarball)
    assert len(model.boosters) == 6
    records = [["0.1", "0.2", "0.3"]]
    ensemble = xgboost_algorithm.predict_csv(model, records)
    each = [
        b.predict(xgboost_algorithm.xgb.DMatrix(np.array([[0.1, 0.2, 0.3]], dtype=np.float32)))
        for b in model.boosters
    ]
    assert ensemble[0] == pytest.approx(float(np.mean(each)), rel=1e-6)


def test_kfold_without_an_objective_fails_as_the_container_does() -> None:
    config_ = xgboost_algorithm.parse_hyperparameters({"num_round": "2", "_kfold": "2"})
    with pytest.raises(xgboost_algorithm.AlgorithmFailure) as failed:
        xgboost_algorithm.train(config_, read(regression_rows(40)), None)
    assert failed.value.reason == (
        "AlgorithmError: XGB train call failed with exception:\n "
        "'NoneType' object has no attribute 'startswith'"
    )


def test_kfold_is_stratified_for_classification() -> None:
    config_ = xgboost_algorithm.parse_hyperparameters(
        {"num_round": "2", "objective": "binary:logistic", "_kfold": "4"}
    )
    outcome = xgboost_algorithm.train(config_, read(classification_rows(80)), None)
    assert len(outcome.model) == 4 and "train:logloss" in outcome.final_metrics()


# --- batch output ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (np.float32(0.3), "0.30000001192092896"),
        (np.float32(1.0), "1.0"),
        (np.array([0.25, 0.75], dtype=np.float32), "[0.25, 0.75]"),
    ],
)
def test_batch_predictions_are_written_as_the_container_writes_them(value: object, text: str) -> None:
    assert xgboost_algorithm.format_prediction(value) == text
    if isinstance(value, np.float32):
        assert xgboost_algorithm.format_prediction(value) == str(np.array([value]).tolist()[0])


def test_an_empty_file_beside_data_fails_the_containers_delimiter_check() -> None:
    with pytest.raises(xgboost_algorithm.AlgorithmFailure) as failed:
        channels.read_channel([("s3://b/t/a.csv", b"1,2,3\n"), ("s3://b/t/b.csv", b"")], TRAIN)
    assert failed.value.reason.startswith("ClientError: Could not determine delimiter on line :")
    # A channel whose files are all empty holds no data (the container says so for the channel).
    assert channels.read_channel([("s3://b/t/b.csv", b"")], TRAIN) is None
