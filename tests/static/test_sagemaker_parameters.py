"""What the SageMaker tasks send is a valid API request, for every region and realistic execution."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest

from offline.request_validation import constraint_errors, request_errors, service_model
from tests.static.support import (
    ANOTHER_CONSOLE_EXECUTION_NAME,
    CONSOLE_EXECUTION_NAME,
    FEW_JOBS,
    SAVE_MODEL_STATE,
    TRANSFORM_STATE,
    TUNING_STATE,
    UNUSUAL_EXECUTION_NAMES,
    US_EAST_1,
    WARM_TUNING_STATE,
    Run,
    record_runs,
)

# SageMaker's built-in XGBoost: the documented hyperparameters, and the tunable ones with their documented
# ranges (https://docs.aws.amazon.com/sagemaker/latest/dg/xgboost_hyperparameters.html, xgboost-tuning.html).
DOCUMENTED_HYPERPARAMETERS = {
    "num_class", "num_round", "alpha", "base_score", "booster", "colsample_bylevel", "colsample_bynode",
    "colsample_bytree", "csv_weights", "deterministic_histogram", "early_stopping_rounds", "eta",
    "eval_metric", "gamma", "grow_policy", "interaction_constraints", "lambda", "lambda_bias", "max_bin",
    "max_delta_step", "max_depth", "max_leaves", "min_child_weight", "monotone_constraints",
    "normalize_type", "nthread", "objective", "one_drop", "process_type", "rate_drop", "refresh_leaf",
    "sample_type", "scale_pos_weight", "seed", "single_precision_histogram", "sketch_eps", "skip_drop",
    "subsample", "tree_method", "tweedie_variance_power", "updater", "use_dask_gpu_training", "verbosity",
    # Declared by the container (algorithm_mode/hyperparameter_validation.py), not on the documentation page.
    "save_model_on_termination",
}  # fmt: skip
TUNABLE_RANGES = {
    "alpha": (0, 1000),
    "lambda": (0, 1000),
    "eta": (0.05, 0.5),
    "gamma": (0, 5),
    "max_depth": (1, 10),  # documented from 0; a depth of 0 is no tree
    "max_delta_step": (0, 10),
    "min_child_weight": (0, 120),
    "subsample": (0.5, 1),
    "colsample_bytree": (0.5, 1),
    "colsample_bylevel": (0.1, 1),
    "colsample_bynode": (0.1, 1),
    "num_round": (1, 4000),
}


def _tuning_request(run: Run) -> dict[str, Any]:
    return copy.deepcopy(run.sagemaker_requests[TUNING_STATE][1])


def _boundary_parameters(template: dict[str, Any], end: str) -> dict[str, str]:
    """Every constrained parameter at its smallest (``end="min"``) or largest allowed value."""
    values = {}
    for name, spec in template["Parameters"].items():
        if "AllowedValues" in spec:
            values[name] = str(spec["AllowedValues"][0 if end == "min" else -1])
        elif f"{end.title()}Value" in spec:
            values[name] = str(spec[f"{end.title()}Value"])
    return values


def test_every_sagemaker_task_is_exercised(console_run: Run, hyperband_spot_run: Run) -> None:
    assert console_run.status == "SUCCEEDED", (console_run.error, console_run.cause)
    assert console_run.states_entered[-1] == "Succeeded"
    definition = json.loads(console_run.stack.definition_text())
    # The warm-started tuning state needs an earlier run: tests/offline/test_warm_start.py runs it, and
    # tests/static/test_warm_start_definition.py keeps its request the cold state's plus WarmStartConfig.
    sagemaker_states = {
        name
        for name, state in definition["States"].items()
        if ":sagemaker:" in state.get("Resource", "") and name != WARM_TUNING_STATE
    }
    # Runs only when the tuning job fails: tests/offline/test_tuning_failure_cause.py sends its requests.
    assert "Read Training Job Failure" in sagemaker_states
    sagemaker_states -= {"Read Training Job Failure"}
    assert sagemaker_states == set(console_run.sagemaker_requests)
    assert hyperband_spot_run.status == "SUCCEEDED", (hyperband_spot_run.error, hyperband_spot_run.cause)
    assert set(hyperband_spot_run.sagemaker_requests) == sagemaker_states
    # The emulator received what the execution history says each task sent.
    for run in (console_run, hyperband_spot_run):
        for state, (_, request) in run.sagemaker_requests.items():
            assert run.calls[state][1] == request, state


def test_hyperband_spot_requests_are_valid_and_carry_their_settings(hyperband_spot_run: Run) -> None:
    requests = hyperband_spot_run.sagemaker_requests
    for state, (operation, request) in requests.items():
        assert request_errors(operation, request) == [], state
    request = requests[TUNING_STATE][1]
    config, definition = request["HyperParameterTuningJobConfig"], request["TrainingJobDefinition"]
    assert (config["Strategy"], config["TrainingJobEarlyStoppingType"]) == ("Hyperband", "Off")
    assert "TuningJobCompletionCriteria" not in config
    max_resource = config["StrategyConfig"]["HyperbandStrategyConfig"]["MaxResource"]
    assert max_resource == int(definition["StaticHyperParameters"]["num_round"])
    assert definition["EnableManagedSpotTraining"] is True
    stopping = definition["StoppingCondition"]
    assert stopping["MaxWaitTimeInSeconds"] >= stopping["MaxRuntimeInSeconds"]


def test_sagemaker_requests_are_valid_for_a_console_execution(console_run: Run) -> None:
    requests = console_run.sagemaker_requests
    for state, (operation, request) in requests.items():
        assert request_errors(operation, request) == [], state
    assert {operation for operation, _ in requests.values()} == {
        "CreateHyperParameterTuningJob",
        "CreateModel",
        "CreateTransformJob",
        "CreateModelPackage",
    }


@pytest.mark.parametrize("end", ["min", "max"])
def test_sagemaker_requests_are_valid_at_the_parameters_bounds(template: dict[str, Any], end: str) -> None:
    parameters = _boundary_parameters(template, end)
    # One training job on a few hundred rows cannot pass the default gate; the requests are under test.
    parameters["MaxTestRmse"] = FEW_JOBS["MaxTestRmse"]
    # The requests are under test, not a hundred training jobs: all but the first fail as they start.
    (run,) = record_runs(US_EAST_1, parameters, [CONSOLE_EXECUTION_NAME], train_first_job_only=True).values()
    assert run.status == "SUCCEEDED", (end, run.error, run.cause)
    # tuning job, model, transform job; the model package unless ModelRegistry is Disabled
    assert len(run.sagemaker_requests) == 3 + (parameters["ModelRegistry"] == "Enabled")
    for state, (operation, request) in run.sagemaker_requests.items():
        assert request_errors(operation, request) == [], (end, state)
    # Several instances share the training files; one reads them all.
    definition = run.sagemaker_requests[TUNING_STATE][1]["TrainingJobDefinition"]
    count = definition["ResourceConfig"]["InstanceCount"]
    assert count == int(template["Parameters"]["TrainingInstanceCount"][f"{end.capitalize()}Value"])
    train = definition["InputDataConfig"][0]
    assert train["ChannelName"] == "train"
    distribution = "FullyReplicated" if count == 1 else "ShardedByS3Key"
    assert train["DataSource"]["S3DataSource"]["S3DataDistributionType"] == distribution
    limits = run.sagemaker_requests[TUNING_STATE][1]["HyperParameterTuningJobConfig"]["ResourceLimits"]
    assert limits["MaxNumberOfTrainingJobs"] == int(parameters["MaxTrainingJobs"])


@pytest.mark.parametrize("execution_name", [CONSOLE_EXECUTION_NAME, *UNUSUAL_EXECUTION_NAMES])
def test_any_execution_name_yields_valid_job_names(
    us_executions: dict[str, Run], execution_name: str
) -> None:
    run = us_executions[execution_name]
    assert run.status == "SUCCEEDED", (execution_name, run.error, run.cause)
    for state, (operation, request) in run.sagemaker_requests.items():
        assert request_errors(operation, request) == [], (execution_name, state)
    tuning_job = run.sagemaker_requests[TUNING_STATE][1]["HyperParameterTuningJobName"]
    assert len(tuning_job) <= 32
    # SageMaker names the tuning job's training jobs <tuning job>-<3 digits>-<8 hex digits>.
    training_job_name = service_model().shape_for("TrainingJobName")
    assert run.output["tuning"]["bestTrainingJobName"].startswith(f"{tuning_job}-")
    assert constraint_errors(f"{tuning_job}-100-ffffffff", training_job_name) == []


def test_different_executions_get_different_job_names_and_prefixes(us_executions: dict[str, Run]) -> None:
    first = us_executions[CONSOLE_EXECUTION_NAME]
    second = us_executions[ANOTHER_CONSOLE_EXECUTION_NAME]
    assert first.output["dataset"]["runName"] != second.output["dataset"]["runName"]
    for state in (TUNING_STATE, TRANSFORM_STATE):
        assert first.sagemaker_requests[state][1] != second.sagemaker_requests[state][1], state
    assert first.objects and second.objects
    assert not set(first.objects) & set(second.objects)


def test_validator_catches_a_tuning_job_name_over_32_characters(us_console_run: Run) -> None:
    request = _tuning_request(us_console_run)
    request["HyperParameterTuningJobName"] = "a" * 33
    errors = request_errors("CreateHyperParameterTuningJob", request)
    assert errors and all("at 'hyperParameterTuningJobName'" in error for error in errors)
    assert any("Member must have length less than or equal to 32" in error for error in errors)


@pytest.mark.parametrize(
    "bad_name", ["run_with_underscore", "-leading-hyphen", "trailing-hyphen-", "dot.ted"]
)
def test_validator_catches_a_tuning_job_name_off_the_pattern(us_console_run: Run, bad_name: str) -> None:
    request = _tuning_request(us_console_run)
    request["HyperParameterTuningJobName"] = bad_name
    errors = request_errors("CreateHyperParameterTuningJob", request)
    assert len(errors) == 1 and "Member must satisfy regular expression pattern" in errors[0], errors


def _set(request: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for key in parents:
        request = request[key]
    if value is None:
        del request[last]
    else:
        request[last] = value


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        # Checked by botocore's ParamValidator:
        ("TrainingJobDefinition.Unknown", True, 'Unknown parameter in TrainingJobDefinition: "Unknown"'),
        ("HyperParameterTuningJobConfig.RandomSeed", "42", "Invalid type for parameter"),
        (
            "TrainingJobDefinition.RoleArn",
            None,
            "Value null at 'trainingJobDefinition.roleArn' failed to satisfy constraint: "
            "Member must not be null",
        ),
        # Checked by botocore and the walk of the shape; reported once, in SageMaker's words:
        (
            "HyperParameterTuningJobConfig.ResourceLimits.MaxParallelTrainingJobs",
            0,
            "Value 0 at 'hyperParameterTuningJobConfig.resourceLimits.maxParallelTrainingJobs' failed to "
            "satisfy constraint: Member must have value greater than or equal to 1",
        ),
        # Skipped by botocore, checked by the walk of the shape:
        ("HyperParameterTuningJobConfig.Strategy", "Bayes", "Member must satisfy enum value set"),
        (
            "HyperParameterTuningJobConfig.ResourceLimits.MaxRuntimeInSeconds",
            15_768_001,
            "Member must have value less than or equal to",
        ),
        (
            "TrainingJobDefinition.RoleArn",
            "arn:aws:iam::12345:role/x",
            "Member must satisfy regular expression pattern",
        ),
    ],
)
def test_validator_reports_each_kind_of_error_alone(
    us_console_run: Run, path: str, value: Any, expected: str
) -> None:
    request = _tuning_request(us_console_run)
    _set(request, path, value)
    errors = request_errors("CreateHyperParameterTuningJob", request)
    assert len(errors) == 1 and expected in errors[0], errors


def test_hyperparameters_are_documented_xgboost_ones(us_console_run: Run) -> None:
    request = _tuning_request(us_console_run)
    static = request["TrainingJobDefinition"]["StaticHyperParameters"]
    ranges = request["HyperParameterTuningJobConfig"]["ParameterRanges"]
    tuned = [spec["Name"] for kind in ranges.values() for spec in kind]
    assert "precision_dtype" not in static and "precision_dtype" not in tuned
    assert set(static) <= DOCUMENTED_HYPERPARAMETERS, set(static) - DOCUMENTED_HYPERPARAMETERS
    assert set(tuned) <= set(TUNABLE_RANGES), set(tuned) - set(TUNABLE_RANGES)
    assert len(tuned) == len(set(tuned)), "a hyperparameter tuned twice"
    assert not set(tuned) & set(static), "a hyperparameter both fixed and tuned"
    assert static["objective"] == "reg:squarederror"
    # A generous ceiling on rounds only makes sense with early stopping.
    assert 1 <= int(static["num_round"]) <= 4000 and "early_stopping_rounds" in static
    # A stopped job (early stopping, Hyperband, MaxRuntimeInSeconds) keeps a model only with this; the best
    # training job may be one of them.
    assert static["save_model_on_termination"] == "true"
    # 1.7-1 defaults to another tree method than 3.x; hist makes every supported version train alike.
    assert static["tree_method"] == "hist"


def test_hyperparameter_ranges_stay_within_the_documented_ones(us_console_run: Run) -> None:
    ranges = _tuning_request(us_console_run)["HyperParameterTuningJobConfig"]["ParameterRanges"]
    specs = ranges.get("ContinuousParameterRanges", []) + ranges.get("IntegerParameterRanges", [])
    assert specs
    for spec in specs:
        low, high = float(spec["MinValue"]), float(spec["MaxValue"])
        documented_low, documented_high = TUNABLE_RANGES[spec["Name"]]
        assert documented_low <= low < high <= documented_high, spec
        if spec.get("ScalingType") in ("Logarithmic", "ReverseLogarithmic"):
            assert low > 0, f"{spec['Name']}: a logarithmic scale needs a range above 0"
        if spec.get("ScalingType") == "ReverseLogarithmic":
            assert high < 1, spec
    for spec in ranges.get("IntegerParameterRanges", []):
        assert re.fullmatch(r"\d+", spec["MinValue"]) and re.fullmatch(r"\d+", spec["MaxValue"]), spec
    max_depth = [spec for spec in specs if spec["Name"] == "max_depth"]
    assert max_depth and int(max_depth[0]["MinValue"]) >= 1


def test_tuning_is_current(us_console_run: Run) -> None:
    config = _tuning_request(us_console_run)["HyperParameterTuningJobConfig"]
    assert config["Strategy"] == "Bayesian"
    assert config["HyperParameterTuningJobObjective"] == {"Type": "Minimize", "MetricName": "validation:rmse"}
    assert config["TrainingJobEarlyStoppingType"] == "Auto"
    assert isinstance(config.get("RandomSeed"), int)
    limits = config["ResourceLimits"]
    assert (limits["MaxNumberOfTrainingJobs"], limits["MaxParallelTrainingJobs"]) == (2, 2)
    parameters = us_console_run.stack.parameters
    assert limits["MaxRuntimeInSeconds"] == int(parameters["MaxTuningRuntimeSeconds"])
    not_improving = config["TuningJobCompletionCriteria"]["BestObjectiveNotImproving"]
    assert not_improving["MaxNumberOfTrainingJobsNotImproving"] == int(
        parameters["MaxTrainingJobsNotImproving"]
    )
    definition = _tuning_request(us_console_run)["TrainingJobDefinition"]
    assert definition["EnableManagedSpotTraining"] is False
    assert definition["StoppingCondition"] == {
        "MaxRuntimeInSeconds": int(parameters["MaxTrainingJobRuntimeSeconds"])
    }
    assert definition["ResourceConfig"]["InstanceType"] == parameters["TrainingInstanceType"]
    # No CheckpointConfig: one URI would be shared by every training job of the tuning job (run_config.py).
    assert "CheckpointConfig" not in definition


def test_jobs_use_a_versioned_xgboost_image_of_the_region(console_run: Run, template: dict[str, Any]) -> None:
    stack = console_run.stack
    requests = console_run.sagemaker_requests
    training = requests[TUNING_STATE][1]["TrainingJobDefinition"]["AlgorithmSpecification"]["TrainingImage"]
    serving = requests[SAVE_MODEL_STATE][1]["PrimaryContainer"]["Image"]
    assert training == serving
    registry = template["Mappings"]["XGBoostRegistry"][stack.region]
    match = re.fullmatch(
        rf"{registry['Account']}\.dkr\.ecr\.{stack.region}\.{re.escape(stack.url_suffix)}"
        rf"/{registry['Repository']}:(?P<tag>.+)",
        training,
    )
    assert match, training
    assert match["tag"] == stack.parameters["XGBoostVersion"]
    allowed = template["Parameters"]["XGBoostVersion"]["AllowedValues"]
    assert not {"latest", "1"} & set(allowed) and all(re.fullmatch(r"\d+\.\d+-\d+", v) for v in allowed)


def test_batch_transform_reads_and_writes_csv_lines(console_run: Run) -> None:
    request = console_run.sagemaker_requests[TRANSFORM_STATE][1]
    assert request["TransformInput"]["SplitType"] == "Line"
    assert request["TransformInput"]["ContentType"] == "text/csv"
    assert request["TransformOutput"]["Accept"] == "text/csv"
    assert request["TransformOutput"]["AssembleWith"] == "Line"
