"""The model registry, offline: each run's model registered in the stack's model package group (moto's
SageMaker) with its metrics and the quality gate's verdict as its approval status."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from offline.engine import Engine
from offline.request_validation import request_errors
from tests.offline.conftest import FEW_JOBS, SMALL_INPUT
from tests.offline.workflow_support import path_to

GROUP = "sagemaker-xgboost-tuning-models"  # samconfig.toml's stack name + "-models"


def registry(engine: Engine) -> Any:
    return boto3.client("sagemaker", region_name=engine.stack.region)


def packages(engine: Engine, **filters: Any) -> list[dict[str, Any]]:
    listed = registry(engine).list_model_packages(ModelPackageGroupName=GROUP, **filters)
    return listed["ModelPackageSummaryList"]


def registration_request(engine: Engine) -> dict[str, Any]:
    requests = [r for r in engine.sagemaker_requests if r.operation == "CreateModelPackage"]
    assert len(requests) == 1
    assert requests[0].resource.endswith(":states:::aws-sdk:sagemaker:createModelPackage")
    return requests[0].parameters


def test_a_model_that_passes_the_gate_is_registered_approved_with_its_metrics(engine: Engine) -> None:
    result = engine.run(SMALL_INPUT)

    assert result.status == "SUCCEEDED", result.cause
    assert result.states_entered() == path_to("Succeeded")
    out = result.output
    arn = out["registry"]["modelPackageArn"]
    assert out["registry"] == {
        "modelPackageArn": arn,
        "approvalStatus": "Approved",
        "registration": "Enabled",
    }
    assert arn.endswith(f":model-package/{GROUP}/1")

    request = registration_request(engine)
    assert request_errors("CreateModelPackage", request) == []
    package = registry(engine).describe_model_package(ModelPackageName=arn)
    assert package["ModelApprovalStatus"] == "Approved"
    assert package["ModelMetrics"]["ModelQuality"]["Statistics"] == {
        "ContentType": "application/json",
        "S3Uri": out["evaluation"]["metricsUri"],
    }
    # The metrics it points at are the evaluation's.
    assert json.loads(engine.read_s3(out["evaluation"]["metricsUri"]))["rmse"] == out["evaluation"]["rmse"]
    container = package["InferenceSpecification"]["Containers"][0]
    create_model = next(r for r in engine.sagemaker_requests if r.operation == "CreateModel").parameters
    assert container["Image"] == create_model["PrimaryContainer"]["Image"]
    assert container["ModelDataUrl"] == out["tuning"]["modelDataUrl"]
    spec = package["InferenceSpecification"]
    assert spec["SupportedContentTypes"] == spec["SupportedResponseMIMETypes"] == ["text/csv"]
    assert spec["SupportedTransformInstanceTypes"] == [out["config"]["transform"]["instanceType"]]
    metadata = package["CustomerMetadataProperties"]
    assert metadata["runName"] == out["dataset"]["runName"]
    assert metadata["tuningJobName"] == out["tuning"]["tuningJobName"]
    assert metadata["bestTrainingJobName"] == out["tuning"]["bestTrainingJobName"]
    assert float(metadata["objectiveValue"]) == pytest.approx(out["tuning"]["objectiveValue"])
    assert float(metadata["testRmse"]) == pytest.approx(out["evaluation"]["rmse"])
    assert float(metadata["noiseFloorRmse"]) == pytest.approx(
        out["evaluation"]["qualityGate"]["noiseFloorRmse"]
    )


def test_gate_off_registers_pending_manual_approval(engine: Engine) -> None:
    result = engine.run({**SMALL_INPUT, "qualityGate": False})

    assert result.status == "SUCCEEDED", result.cause
    assert result.states_entered() == path_to("Succeeded", "Pending Manual Approval")
    assert result.output["registry"]["approvalStatus"] == "PendingManualApproval"
    assert [p["ModelApprovalStatus"] for p in packages(engine)] == ["PendingManualApproval"]


def test_a_model_below_the_bar_is_registered_rejected_and_the_run_still_fails(engine: Engine) -> None:
    result = engine.run({**SMALL_INPUT, "maxTestRmse": 0.01})

    assert (result.status, result.error) == ("FAILED", "QualityGateFailed")
    assert result.states_entered() == [
        *path_to("Quality Gate", "Rejected"),
        "Describe Quality Failure",
        "Model Below Quality Bar",
    ]
    assert [p["ModelApprovalStatus"] for p in packages(engine)] == ["Rejected"]


def test_the_latest_approved_package_is_what_a_deployment_pipeline_finds(engine: Engine) -> None:
    first = engine.run(SMALL_INPUT)
    rejected = engine.run({**SMALL_INPUT, "maxTestRmse": 0.01})
    second = engine.run({**SMALL_INPUT, "seed": 7})

    assert (first.status, rejected.status, second.status) == ("SUCCEEDED", "FAILED", "SUCCEEDED")
    latest = packages(
        engine, ModelApprovalStatus="Approved", SortBy="CreationTime", SortOrder="Descending", MaxResults=1
    )
    assert [p["ModelPackageArn"] for p in latest] == [second.output["registry"]["modelPackageArn"]]
    assert latest[0]["ModelPackageArn"].endswith(f"/{GROUP}/3")


def test_the_template_parameter_turns_registration_off(make_engine: Callable[..., Engine]) -> None:
    engine = make_engine(parameters={**FEW_JOBS, "ModelRegistry": "Disabled"})

    result = engine.run(SMALL_INPUT)

    assert result.status == "SUCCEEDED", result.cause
    expected = [s for s in path_to("Succeeded") if s not in ("Register Model", "Registry Entry")]
    expected.insert(expected.index("Model Registry On?") + 1, "Registration Off")
    assert result.states_entered() == expected
    assert result.output["registry"] == {
        "modelPackageArn": None,
        "approvalStatus": None,
        "registration": "Disabled",
    }
    assert packages(engine) == []


def test_a_request_sagemaker_refuses_fails_in_model_registration_failed_naming_the_field(
    make_engine: Callable[..., Engine], broken_definition: Callable[..., Any]
) -> None:
    engine = make_engine(
        definition_path=broken_definition('"approvalStatus": "Approved"', '"approvalStatus": "Yes"')
    )

    result = engine.run(SMALL_INPUT)

    # The AWS SDK integration names every error SageMaker does not model (ValidationException, throttling)
    # after the Java 2.x SDK's base class, so the throttling retrier tries it 4 more times.
    assert (result.status, result.error) == ("FAILED", "SageMaker.SageMakerException")
    assert result.states_entered()[-2:] == ["Register Model", "Model Registration Failed"]
    assert "Value 'Yes' at 'modelApprovalStatus' failed to satisfy constraint" in result.cause
    assert "(Service: SageMaker, Status Code: 400, Request ID: " in result.cause
    assert result.attempts("Register Model") == 5
    assert packages(engine) == []


def test_a_throttled_registration_is_retried_then_succeeds(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.sagemaker.models import SageMakerModelBackend

    from offline.request_validation import client_error

    original = SageMakerModelBackend.create_model_package
    calls: list[int] = []

    def throttled_once(self: Any, *args: Any, **kwargs: Any) -> str:
        calls.append(1)
        if len(calls) == 1:
            raise client_error("CreateModelPackage", "ThrottlingException", "Rate exceeded")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SageMakerModelBackend, "create_model_package", throttled_once)

    result = engine.run(SMALL_INPUT)

    assert result.status == "SUCCEEDED", result.cause
    assert [f["error"] for f in result.task_failures("Register Model")] == ["SageMaker.SageMakerException"]
    assert result.attempts("Register Model") == 2
    assert result.output["registry"]["approvalStatus"] == "Approved"
