"""The offline SageMaker emulator's models and batch transforms, from the best training job of a tuning job.

The requests come from the state machine definition itself (``statemachine/tuning.asl.json``), with the
template's substitutions filled in (``emulator_support.py``); the data is a few hundred rows of Friedman #1.
One moto mock serves each module; every test works in its own bucket with its own emulator.
"""

from __future__ import annotations

import uuid

import numpy as np
import pytest
import xgboost as xgb
from botocore.exceptions import ClientError
from botocore.validate import ParamValidator

from offline.request_validation import constraint_errors, operation_model
from tests.offline.emulator_support import (
    ACCOUNT_ID,
    IMAGE,
    REGION,
    TEST_ROWS,
    Workspace,
    csv_bytes,
    error_of,
    model_request,
    rmse,
    transform_request,
)


def test_create_model_needs_the_model_data_in_s3(workspace: Workspace) -> None:
    url = f"s3://{workspace.bucket}/models/missing/output/model.tar.gz"
    with pytest.raises(ClientError) as excinfo:
        workspace.sagemaker.create_model(**model_request("missing", url))
    assert error_of(excinfo) == ("ValidationException", f"Could not find model data at {url}.")


def test_a_model_arn_carries_the_name_in_lower_case_and_names_are_unique(workspace: Workspace) -> None:
    workspace.put("models/m/output/model.tar.gz", b"not used until a transform")
    url = f"s3://{workspace.bucket}/models/m/output/model.tar.gz"
    response = workspace.sagemaker.create_model(**model_request("Tuned-Model-1", url))
    arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT_ID}:model/tuned-model-1"
    assert response == {"ModelArn": arn}
    assert workspace.sagemaker.describe_model(ModelName="Tuned-Model-1")["ModelArn"] == arn
    with pytest.raises(ClientError) as excinfo:
        workspace.sagemaker.create_model(**model_request("Tuned-Model-1", url))
    assert error_of(excinfo) == ("ValidationException", f'Cannot create already existing model "{arn}".')
    assert [e for e in workspace.events if e[0] == "model_created"] == [
        ("model_created", {"name": "Tuned-Model-1", "arn": arn, "modelDataUrl": url, "image": IMAGE})
    ]


# --- batch transform ---------------------------------------------------------------------------------


def test_the_transform_writes_one_prediction_per_record_from_the_model(
    best_model: tuple[Workspace, str, xgb.Booster],
) -> None:
    space, name, booster = best_model
    request = transform_request(space.dataset, name, "plain-" + uuid.uuid4().hex[:6])
    space.sagemaker.create_transform_job(**request)
    job = space.sagemaker.describe_transform_job(TransformJobName=request["TransformJobName"])
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    assert job["TransformJobArn"].endswith(f":transform-job/{request['TransformJobName']}")
    shape = operation_model("DescribeTransformJob").output_shape
    assert not ParamValidator().validate(job, shape).has_errors()
    assert constraint_errors(job, shape) == []
    lines = space.get(f"{space.dataset['transformOutputUri']}test.csv.out").decode().splitlines()
    assert len(lines) == TEST_ROWS
    expected = booster.predict(xgb.DMatrix(np.array([row[1:] for row in space.test], dtype=np.float32)))
    assert np.allclose([float(v) for v in lines], expected, rtol=1e-6, atol=1e-5)
    assert rmse(np.array([float(v) for v in lines]), [row[0] for row in space.test]) < 3.0


def test_data_processing_drops_the_label_joins_the_input_and_filters_the_output(
    best_model: tuple[Workspace, str, xgb.Booster],
) -> None:
    space, name, booster = best_model
    dataset = {
        **space.dataset,
        "testUri": f"s3://{space.bucket}/data/test-with-labels/",
        "transformOutputUri": f"s3://{space.bucket}/joined/",
    }
    request = transform_request(dataset, name, "joined-" + uuid.uuid4().hex[:6])
    request["DataProcessing"] = {"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-1]"}
    space.sagemaker.create_transform_job(**request)
    job = space.sagemaker.describe_transform_job(TransformJobName=request["TransformJobName"])
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    rows = [
        line.split(",")
        for line in space.get(f"s3://{space.bucket}/joined/test.csv.out").decode().splitlines()
    ]
    assert len(rows) == TEST_ROWS and {len(r) for r in rows} == {2}
    assert [float(r[0]) for r in rows] == pytest.approx([row[0] for row in space.test], abs=1e-6)
    expected = booster.predict(xgb.DMatrix(np.array([row[1:] for row in space.test], dtype=np.float32)))
    assert np.allclose([float(r[1]) for r in rows], expected, rtol=1e-6, atol=1e-5)


def test_a_record_with_too_many_features_fails_the_transform_job(
    best_model: tuple[Workspace, str, xgb.Booster],
) -> None:
    space, name, _ = best_model
    space.put("wide/test.csv", csv_bytes([[*row, 0.5] for row in space.test]))  # label + 10 features + 1
    dataset = {
        **space.dataset,
        "testUri": f"s3://{space.bucket}/wide/",
        "transformOutputUri": f"s3://{space.bucket}/wide-out/",
    }
    request = transform_request(dataset, name, "wide-" + uuid.uuid4().hex[:6])
    space.sagemaker.create_transform_job(**request)
    job = space.sagemaker.describe_transform_job(TransformJobName=request["TransformJobName"])
    assert job["TransformJobStatus"] == "Failed"
    # XGBoost's own check (the container checks the count itself only for pickled models).
    assert "Number of columns does not match number of features in booster" in job["FailureReason"]
    assert f"s3://{space.bucket}/wide/test.csv" in job["FailureReason"]
    assert space.s3.list_objects_v2(Bucket=space.bucket, Prefix="wide-out/")["KeyCount"] == 0


def test_a_record_one_feature_short_is_accepted_as_the_container_does(
    best_model: tuple[Workspace, str, xgb.Booster],
) -> None:
    space, name, _ = best_model
    dataset = {**space.dataset, "transformOutputUri": f"s3://{space.bucket}/short-out/"}
    request = transform_request(dataset, name, "short-" + uuid.uuid4().hex[:6])
    request["DataProcessing"] = {"InputFilter": "$[1:]"}  # the test file has no label: this drops a feature
    space.sagemaker.create_transform_job(**request)
    job = space.sagemaker.describe_transform_job(TransformJobName=request["TransformJobName"])
    assert job["TransformJobStatus"] == "Completed"
    assert len(space.get(f"s3://{space.bucket}/short-out/test.csv.out").decode().splitlines()) == TEST_ROWS


def test_assemble_with_none_concatenates_single_record_responses(
    best_model: tuple[Workspace, str, xgb.Booster],
) -> None:
    space, name, booster = best_model
    dataset = {**space.dataset, "transformOutputUri": f"s3://{space.bucket}/glued/"}
    request = transform_request(dataset, name, "glued-" + uuid.uuid4().hex[:6])
    request["BatchStrategy"] = "SingleRecord"
    request["TransformOutput"]["AssembleWith"] = "None"
    space.sagemaker.create_transform_job(**request)
    body = space.get(f"s3://{space.bucket}/glued/test.csv.out").decode()
    # One response per record, written as it comes: the container ends each with a newline (serve.py line
    # 242, batch mode), str() of the prediction widened to a Python float.
    predictions = booster.predict(xgb.DMatrix(np.array([row[1:] for row in space.test], dtype=np.float32)))
    assert body == "".join(f"{float(p)}\n" for p in predictions)


def test_a_models_selectable_inference_output_is_encoded_by_accept(
    best_model: tuple[Workspace, str, xgb.Booster],
) -> None:
    space, name, booster = best_model
    model = space.sagemaker.describe_model(ModelName=name)
    selected = f"{name}-sel"[:63]
    request = model_request(selected, model["PrimaryContainer"]["ModelDataUrl"])
    request["PrimaryContainer"]["Environment"] = {"SAGEMAKER_INFERENCE_OUTPUT": "predicted_score"}
    space.sagemaker.create_model(**request)
    dataset = {**space.dataset, "transformOutputUri": f"s3://{space.bucket}/selected/"}
    transform = transform_request(dataset, selected, "selected-" + uuid.uuid4().hex[:6])
    transform["TransformOutput"]["Accept"] = "application/jsonlines"
    space.sagemaker.create_transform_job(**transform)
    job = space.sagemaker.describe_transform_job(TransformJobName=transform["TransformJobName"])
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    body = space.get(f"s3://{space.bucket}/selected/test.csv.out").decode()
    predictions = booster.predict(xgb.DMatrix(np.array([row[1:] for row in space.test], dtype=np.float32)))
    assert body == "".join(f'{{"predicted_score": {float(p)}}}\n' for p in predictions)


def test_an_accept_type_the_container_does_not_know_fails_the_transform_job(
    best_model: tuple[Workspace, str, xgb.Booster],
) -> None:
    space, name, _ = best_model
    dataset = {**space.dataset, "transformOutputUri": f"s3://{space.bucket}/plain-text/"}
    request = transform_request(dataset, name, "text-" + uuid.uuid4().hex[:6])
    request["TransformOutput"]["Accept"] = "text/plain"
    space.sagemaker.create_transform_job(**request)
    job = space.sagemaker.describe_transform_job(TransformJobName=request["TransformJobName"])
    assert job["TransformJobStatus"] == "Failed"
    assert job["FailureReason"].startswith("ClientError: Accept type text/plain is not supported.")


def test_a_failed_transform_job_can_be_injected_by_name(
    best_model: tuple[Workspace, str, xgb.Booster],
) -> None:
    space, name, _ = best_model
    doomed = "doomed-" + uuid.uuid4().hex[:6]
    space.sagemaker.fail_transform_job("ClientError: injected transform failure", name=doomed)
    space.sagemaker.create_transform_job(
        **transform_request(
            {**space.dataset, "transformOutputUri": f"s3://{space.bucket}/doomed/"}, name, doomed
        )
    )
    job = space.sagemaker.describe_transform_job(TransformJobName=doomed)
    assert (job["TransformJobStatus"], job["FailureReason"]) == (
        "Failed",
        "ClientError: injected transform failure",
    )
    assert space.s3.list_objects_v2(Bucket=space.bucket, Prefix="doomed/")["KeyCount"] == 0
    spared = "spared-" + uuid.uuid4().hex[:6]
    space.sagemaker.create_transform_job(
        **transform_request(
            {**space.dataset, "transformOutputUri": f"s3://{space.bucket}/spared/"}, name, spared
        )
    )
    assert (
        space.sagemaker.describe_transform_job(TransformJobName=spared)["TransformJobStatus"] == "Completed"
    )
    with pytest.raises(ClientError) as excinfo:
        space.sagemaker.create_transform_job(**transform_request(space.dataset, name, spared))
    assert error_of(excinfo)[0] == "ResourceInUse"
