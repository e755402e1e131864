"""Every function, with every event of ``events/functions/<function>/``, under `sam local invoke`.

The unit tests call the handlers in-process; this runs what `sam build` packaged, in a Lambda container, with
the environment the template declares, and checks each output as the unit tests check the same event. It
catches what they cannot see: a module the build leaves out, a wrong handler path, a variable the template
does not declare, an event file that no longer fits its function. Needs a container engine (skipped, saying
so, without one; `make local-invoke` fails instead).
"""

from __future__ import annotations

import json
import math
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import BUCKET_NAME, create_best_training_job, load_event
from tests.local_invoke import harness
from tests.local_invoke.conftest import LocalLambda

# The fake AWS is moto's server on the Docker bridge: these tests open sockets to it.
pytestmark = pytest.mark.enable_socket

CASES = harness.function_events()


def _rows(local: LocalLambda, uri: str) -> list[str]:
    """The lines of every object under an s3:// prefix."""
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    s3 = local.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]
    assert keys, f"nothing under {uri}"
    return [
        line for key in keys for line in s3.get_object(Bucket=bucket, Key=key)["Body"].read().splitlines()
    ]


# --- one check per event file, as the unit tests check the same event ---------------------------------------


def generate_dataset(local: LocalLambda, event: Path) -> None:
    local.client("s3").create_bucket(Bucket=BUCKET_NAME)

    result = local.invoke("GenerateDatasetFunction", event).result()

    dataset = result["dataset"]
    assert result["input"] == {
        "trainRows": 10_000,
        "validationRows": 2_000,
        "testRows": 2_000,
        "noise": 1.0,
        "seed": 42,
    }
    # The tuning job of extract_model_path.json is this execution's.
    assert dataset["runName"] == load_event("extract_model_path")["tuning"]["HyperParameterTuningJobName"]
    assert dataset["prefix"] == f"runs/{dataset['runName']}/" and dataset["bucket"] == BUCKET_NAME
    assert dataset["rows"] == {"train": 10_000, "validation": 2_000, "test": 2_000}
    assert len(_rows(local, dataset["trainUri"])) == 10_000
    assert len(_rows(local, dataset["testLabelsUri"])) == 2_000


def generate_dataset_overrides(local: LocalLambda, event: Path) -> None:
    local.client("s3").create_bucket(Bucket=BUCKET_NAME)
    sent = json.loads(event.read_text(encoding="utf-8"))

    result = local.invoke("GenerateDatasetFunction", event).result()

    assert result["input"] == sent["input"]
    dataset = result["dataset"]
    for split in ("train", "validation", "test"):
        assert len(_rows(local, dataset[f"{split}Uri"])) == sent["input"][f"{split}Rows"], split
    assert dataset["noise"] == sent["input"]["noise"]


def extract_model_path(local: LocalLambda, event: Path) -> None:
    sent = json.loads(event.read_text(encoding="utf-8"))
    description = sent["tuning"]
    local.client("s3").create_bucket(Bucket=BUCKET_NAME)
    name = create_best_training_job(local.client("sagemaker"), description)
    output_path = description["TrainingJobDefinition"]["OutputDataConfig"]["S3OutputPath"]
    history_uri = f"s3://{BUCKET_NAME}/{sent['runPrefix']}tuning/training-jobs.json"

    result = local.invoke("ExtractModelPathFunction", event).result()

    assert result == {
        "tuningJobName": description["HyperParameterTuningJobName"],
        "tuningJobStatus": "Completed",
        "trainingJobStatusCounters": description["TrainingJobStatusCounters"],
        "bestTrainingJobName": name,
        "objectiveMetric": "validation:rmse",
        "objectiveValue": description["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"][
            "Value"
        ],
        "hyperparameters": description["BestTrainingJob"]["TunedHyperParameters"],
        "modelDataUrl": f"{output_path}{name}/output/model.tar.gz",
        "trainingJobsUri": history_uri,
    }
    history = json.loads(b"\n".join(_rows(local, history_uri)))
    assert [job["name"] for job in history["trainingJobs"]] == [name]


def extract_model_path_no_best_job(local: LocalLambda, event: Path) -> None:
    description = json.loads(event.read_text(encoding="utf-8"))["tuning"]
    local.client("s3").create_bucket(Bucket=BUCKET_NAME)

    invocation = local.invoke("ExtractModelPathFunction", event)

    expect_error(
        invocation, "NoBestTrainingJob", description["HyperParameterTuningJobName"], "'NonRetryableError': 5"
    )


def extract_model_name(local: LocalLambda, event: Path) -> None:
    sent = json.loads(event.read_text(encoding="utf-8"))
    best = load_event("extract_model_path")["tuning"]["BestTrainingJob"]["TrainingJobName"]

    result = local.invoke("ExtractModelNameFunction", event).result()

    assert result == {"modelName": best, "modelArn": sent["ModelArn"]}


def evaluate_model(local: LocalLambda, event: Path) -> None:
    sent = json.loads(event.read_text(encoding="utf-8"))
    s3 = local.client("s3")
    bucket, _, labels = sent["labelsUri"].removeprefix("s3://").partition("/")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key=f"{labels}test.csv", Body=b"1.0\n2.0\n")
    predictions = sent["predictionsUri"].removeprefix(f"s3://{bucket}/")
    s3.put_object(Bucket=bucket, Key=f"{predictions}test.csv.out", Body=b"1.0\n5.0\n")

    result = local.invoke("EvaluateModelFunction", event).result()

    assert result["rows"] == 2
    assert result["rmse"] == pytest.approx(math.sqrt(4.5))
    gate = result["qualityGate"]
    assert gate["enabled"] is True and gate["source"] == "noiseFloor"
    assert result["rmse"] > gate["threshold"], "this event's predictions fail the gate"
    metrics_key = sent["metricsUri"].removeprefix(f"s3://{bucket}/")
    written = json.loads(s3.get_object(Bucket=bucket, Key=metrics_key)["Body"].read())
    assert written["rmse"] == pytest.approx(result["rmse"])


def expect_error(invocation: harness.Invocation, error_type: str, *in_message: str) -> None:
    """The function raised error_type, with each of in_message in its message."""
    raised, message = invocation.error()
    if raised != error_type or not all(part in message for part in in_message):
        raise harness.LocalInvokeFailed(
            f"{invocation.where}: expected {error_type} with {list(in_message)} in its message, "
            f"got {raised}: {message}"
        )


CHECKS: dict[str, Callable[[LocalLambda, Path], None]] = {
    "generate_dataset.json": generate_dataset,
    "generate_dataset_overrides.json": generate_dataset_overrides,
    "extract_model_path.json": extract_model_path,
    "extract_model_path_no_best_job.json": extract_model_path_no_best_job,
    "extract_model_name.json": extract_model_name,
    "evaluate_model.json": evaluate_model,
}


# --- the events/functions/ layout (no container needed) -----------------------------------------------------


def test_every_function_has_events_and_every_event_a_check() -> None:
    with_events = {function for function, _ in CASES}
    assert with_events == set(harness.functions()), "a function without events in events/functions/<id>/"
    names = [event.name for _, event in CASES]
    assert sorted(names) == sorted(CHECKS), "an event file without a check here, or a check without its file"


def test_event_folders_are_the_templates_functions() -> None:
    folders = {p.name for p in harness.FUNCTION_EVENTS_DIR.iterdir() if p.is_dir()}
    assert folders == set(harness.functions())


# --- in containers ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("function", "event"), CASES, ids=[f"{f}-{e.stem}" for f, e in CASES])
def test_function_gives_in_a_container_what_its_event_should(
    local_lambda: LocalLambda, function: str, event: Path
) -> None:
    CHECKS[event.name](local_lambda, event)


def _a_module_the_handler_imports(build_dir: Path) -> tuple[str, Path]:
    """(function, module file): a module the handler imports from beside it, or else a handler itself."""
    for function in harness.functions():
        code = build_dir / function
        handler = (code / "app.py").read_text(encoding="utf-8")
        for module in sorted(code.glob("*.py")):
            if module.name in {"app.py", "__init__.py"}:
                continue
            if re.search(rf"^\s*(import|from)\s+{re.escape(module.stem)}\b", handler, re.MULTILINE):
                return function, module
    function = harness.functions()[0]
    return function, build_dir / function / "app.py"


def test_a_module_missing_from_the_build_fails_naming_the_function(
    local_lambda: LocalLambda, tmp_path: Path
) -> None:
    broken = tmp_path / "broken-build"
    shutil.copytree(local_lambda.template.parent, broken)
    function, module = _a_module_the_handler_imports(broken)
    module.unlink()
    _, event = next(case for case in CASES if case[0] == function)

    with pytest.raises(harness.LocalInvokeFailed) as failed:
        CHECKS[event.name](local_lambda_with(local_lambda, broken), event)

    message = str(failed.value)
    assert message.startswith(f"{function} with {event.name}:"), message
    assert "Runtime.ImportModuleError" in message and module.stem in message, message


def local_lambda_with(local: LocalLambda, build_dir: Path) -> LocalLambda:
    return LocalLambda(build_dir / local.template.name, local.fake, local.workdir)
