"""What the SageMaker tasks send is a valid API request, for every region and realistic execution."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from tests.static.support import (
    CONSOLE_EXECUTION_NAME,
    Resolver,
    Run,
    Simulator,
    input_errors,
    limit_errors,
    operation_for,
    service_model,
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
}  # fmt: skip
TUNABLE_RANGES = {
    "alpha": (0, 1000),
    "lambda": (0, 1000),
    "eta": (0.1, 0.5),
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
SMALL_INPUT = {"trainRows": 100, "validationRows": 20, "testRows": 20}
TUNING_STATE = "HyperparameterTuning (XGBoost)"


def _sagemaker_calls(run: Run) -> dict[str, tuple[str, dict[str, Any]]]:
    return {name: call for name, call in run.calls.items() if ":states:::sagemaker:" in call[0]}


def _tuning_request(run: Run) -> dict[str, Any]:
    return copy.deepcopy(run.calls[TUNING_STATE][1])


def _boundary_parameters(template: dict[str, Any], end: str) -> dict[str, str]:
    """Every constrained parameter at its smallest (``end="min"``) or largest allowed value."""
    values = {}
    for name, spec in template["Parameters"].items():
        if "AllowedValues" in spec:
            values[name] = str(spec["AllowedValues"][0 if end == "min" else -1])
        elif f"{end.title()}Value" in spec:
            values[name] = str(spec[f"{end.title()}Value"])
    return values


def test_every_sagemaker_task_is_exercised(console_run: Run) -> None:
    definition = Simulator(console_run.resolver).definition
    sagemaker_states = {
        name for name, state in definition["States"].items() if ":sagemaker:" in state.get("Resource", "")
    }
    assert sagemaker_states == set(_sagemaker_calls(console_run))
    assert console_run.visited[-1] == "Batch transform"


def test_sagemaker_requests_are_valid_for_a_console_execution(console_run: Run) -> None:
    calls = _sagemaker_calls(console_run)
    assert {operation_for(resource) for resource, _ in calls.values()} == {
        "CreateHyperParameterTuningJob",
        "CreateModel",
        "CreateTransformJob",
    }
    for name, (resource, params) in calls.items():
        assert input_errors(params, "sagemaker", operation_for(resource)) == [], name


@pytest.mark.parametrize("end", ["min", "max"])
def test_sagemaker_requests_are_valid_at_the_parameters_bounds(template: dict[str, Any], end: str) -> None:
    resolver = Resolver(template, "us-east-1", _boundary_parameters(template, end))
    run = Simulator(resolver).run(SMALL_INPUT, CONSOLE_EXECUTION_NAME)
    for name, (resource, params) in _sagemaker_calls(run).items():
        assert input_errors(params, "sagemaker", operation_for(resource)) == [], (end, name)


@pytest.mark.parametrize(
    "execution_name",
    [
        CONSOLE_EXECUTION_NAME,  # the console's default: a 36-character UUID
        "A" * 80,  # the longest execution name Step Functions accepts
        "Nightly_Run-2026.11.28_with_UPPER_case_and_underscores_and_a_long_tail_of_words",
        "___",  # nothing left after the slug
        "x",
    ],
)
def test_any_execution_name_yields_valid_job_names(us_resolver: Resolver, execution_name: str) -> None:
    run = Simulator(us_resolver).run(SMALL_INPUT, execution_name)
    for name, (resource, params) in _sagemaker_calls(run).items():
        assert input_errors(params, "sagemaker", operation_for(resource)) == [], (execution_name, name)
    tuning_job = run.calls[TUNING_STATE][1]["HyperParameterTuningJobName"]
    assert len(tuning_job) <= 32
    # SageMaker names the tuning job's training jobs <tuning job>-<3 digits>-<8 hex digits>.
    errors: list[str] = []
    limit_errors(
        f"{tuning_job}-100-ffffffff", service_model("sagemaker").shape_for("TrainingJobName"), "$", errors
    )
    assert errors == []


def test_different_executions_get_different_job_names_and_prefixes(us_resolver: Resolver) -> None:
    simulator = Simulator(us_resolver)
    first = simulator.run(SMALL_INPUT, CONSOLE_EXECUTION_NAME)
    second = simulator.run(SMALL_INPUT, "3f6c1b2e-9a4d-4c7e-8b21-5d0e7a9f4c14")
    assert first.output["dataset"]["runName"] != second.output["dataset"]["runName"]
    for state in ("HyperparameterTuning (XGBoost)", "Batch transform"):
        assert first.calls[state][1] != second.calls[state][1], state
    assert not {key for _, key in first.s3.objects} & {key for _, key in second.s3.objects}


def test_validator_catches_a_tuning_job_name_over_32_characters(us_console_run: Run) -> None:
    request = _tuning_request(us_console_run)
    request["HyperParameterTuningJobName"] = "a" * 33
    errors = input_errors(request, "sagemaker", "CreateHyperParameterTuningJob")
    assert errors and all("HyperParameterTuningJobName" in error for error in errors)
    assert any("above the maximum 32" in error for error in errors)


@pytest.mark.parametrize(
    "bad_name", ["run_with_underscore", "-leading-hyphen", "trailing-hyphen-", "dot.ted"]
)
def test_validator_catches_a_tuning_job_name_off_the_pattern(us_console_run: Run, bad_name: str) -> None:
    request = _tuning_request(us_console_run)
    request["HyperParameterTuningJobName"] = bad_name
    errors = input_errors(request, "sagemaker", "CreateHyperParameterTuningJob")
    assert len(errors) == 1 and "does not match the pattern" in errors[0], errors


def _set(request: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for key in parents:
        request = request[key]
    request[last] = value


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        # Checked by botocore's ParamValidator:
        ("TrainingJobDefinition.Unknown", True, 'Unknown parameter in TrainingJobDefinition: "Unknown"'),
        (
            "HyperParameterTuningJobConfig.ResourceLimits.MaxParallelTrainingJobs",
            0,
            "MaxParallelTrainingJobs",
        ),
        ("HyperParameterTuningJobConfig.RandomSeed", "42", "RandomSeed"),
        # Skipped by botocore, checked by limit_errors:
        ("HyperParameterTuningJobConfig.Strategy", "Bayes", "'Bayes' is not one of"),
        ("HyperParameterTuningJobConfig.ResourceLimits.MaxRuntimeInSeconds", 15_768_001, "above the maximum"),
        ("TrainingJobDefinition.RoleArn", "arn:aws:iam::12345:role/x", "does not match the pattern"),
    ],
)
def test_validator_reports_each_kind_of_error_alone(
    us_console_run: Run, path: str, value: Any, expected: str
) -> None:
    request = _tuning_request(us_console_run)
    _set(request, path, value)
    errors = input_errors(request, "sagemaker", "CreateHyperParameterTuningJob")
    # The minimum is checked by both validators; every other kind by exactly one.
    assert errors and all(expected in error for error in errors), errors


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


def test_jobs_use_a_versioned_xgboost_image_of_the_region(console_run: Run, template: dict[str, Any]) -> None:
    resolver = console_run.resolver
    calls = console_run.calls
    training = calls[TUNING_STATE][1]["TrainingJobDefinition"]["AlgorithmSpecification"]["TrainingImage"]
    serving = calls["HyperparameterTuning - Save Model"][1]["PrimaryContainer"]["Image"]
    assert training == serving
    registry = template["Mappings"]["XGBoostRegistry"][resolver.region]
    match = re.fullmatch(
        rf"{registry['Account']}\.dkr\.ecr\.{resolver.region}\.{re.escape(resolver.partition.dns_suffix)}"
        rf"/{registry['Repository']}:(?P<tag>.+)",
        training,
    )
    assert match, training
    assert match["tag"] == resolver.parameters["XGBoostVersion"]
    allowed = template["Parameters"]["XGBoostVersion"]["AllowedValues"]
    assert not {"latest", "1"} & set(allowed) and all(re.fullmatch(r"\d+\.\d+-\d+", v) for v in allowed)


def test_batch_transform_reads_and_writes_csv_lines(console_run: Run) -> None:
    request = console_run.calls["Batch transform"][1]
    assert request["TransformInput"]["SplitType"] == "Line"
    assert request["TransformInput"]["ContentType"] == "text/csv"
    assert request["TransformOutput"]["Accept"] == "text/csv"
    assert request["TransformOutput"]["AssembleWith"] == "Line"
