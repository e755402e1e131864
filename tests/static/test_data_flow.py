"""The data the states hand each other: every path resolves, each run keeps to its own prefix."""

from __future__ import annotations

from typing import Any

from tests.static.support import GENERATE_STATE, TRANSFORM_STATE, TUNING_STATE, Run


def _columns(body: bytes) -> set[int]:
    return {len(line.split(b",")) for line in body.splitlines()}


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return [value] if isinstance(value, str) else []


def test_final_output_summarises_the_run(console_run: Run) -> None:
    assert console_run.status == "SUCCEEDED", (console_run.error, console_run.cause)
    output = console_run.output
    assert {"input", "config", "dataset", "tuning", "model", "transform", "evaluation"} <= set(output)
    tuning = output["tuning"]
    for key in ("tuningJobName", "bestTrainingJobName", "objectiveValue", "hyperparameters", "modelDataUrl"):
        assert tuning.get(key) not in (None, "", {}), key
    assert tuning["modelDataUrl"].endswith(f"/{tuning['bestTrainingJobName']}/output/model.tar.gz")
    assert output["model"]["modelName"] == tuning["bestTrainingJobName"]
    assert output["transform"]["outputUri"] == output["dataset"]["transformOutputUri"]
    assert output["transform"]["status"] == "Completed"
    evaluation = output["evaluation"]
    assert evaluation["rows"] == output["input"]["testRows"]
    assert (
        evaluation["metricsUri"]
        == f"s3://{console_run.bucket}/{output['dataset']['prefix']}evaluation/metrics.json"
    )
    assert (
        evaluation["qualityGate"]["enabled"] is True
        and evaluation["rmse"] <= evaluation["qualityGate"]["threshold"]
    )


def test_every_location_of_a_run_lies_under_its_own_prefix(console_run: Run) -> None:
    dataset = console_run.output["dataset"]
    bucket = console_run.bucket
    run_prefix = f"s3://{bucket}/runs/{dataset['runName']}/"
    assert dataset["bucket"] == bucket and f"s3://{bucket}/{dataset['prefix']}" == run_prefix
    uris = [
        value
        for _, params in console_run.calls.values()
        for value in _strings(params)
        if value.startswith("s3://")
    ]
    assert len(uris) >= 5  # train, validation, model output, transform input and output
    assert all(uri.startswith(run_prefix) for uri in uris), uris
    # Everything the run wrote (data, models, predictions) is under that prefix.
    assert {GENERATE_STATE, TUNING_STATE, TRANSFORM_STATE} <= set(console_run.written_by)
    assert all(key.startswith(f"runs/{dataset['runName']}/") for key in console_run.objects)


def test_training_channels_read_labelled_data_and_the_transform_reads_features_only(console_run: Run) -> None:
    tuning = console_run.sagemaker_requests[TUNING_STATE][1]["TrainingJobDefinition"]
    channels = {
        channel["ChannelName"]: channel["DataSource"]["S3DataSource"]["S3Uri"]
        for channel in tuning["InputDataConfig"]
    }
    assert set(channels) == {"train", "validation"}
    features = console_run.output["dataset"]["features"]
    for name, uri in channels.items():
        objects = console_run.objects_under(uri)
        assert len(objects) == 1, f"the {name} channel reads {sorted(objects)}"
        # Built-in XGBoost CSV: label first, then the features; no header.
        assert _columns(next(iter(objects.values()))) == {features + 1}, name
    transform = console_run.sagemaker_requests[TRANSFORM_STATE][1]
    objects = console_run.objects_under(transform["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"])
    assert len(objects) == 1, f"the transform reads {sorted(objects)}"
    body = next(iter(objects.values()))
    assert _columns(body) == {features}, "the inference input must not hold the label"
    assert len(body.splitlines()) == console_run.output["input"]["testRows"]
