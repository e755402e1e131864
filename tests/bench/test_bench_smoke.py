"""The benchmarks at tiny sizes: each section produces its figures in the shape results.json records.

These tests check structure and behaviour, never timings (benchmarks print figures; tests assert
behaviour). Each section runs once per module, as small as it can be.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest

from bench import cold_start, datagen, offline_run, quality, real_data, run
from bench.common import summary

TINY_DATA = {"trainRows": 200, "validationRows": 40, "testRows": 40, "noise": 1.0}
# 200 rows cannot pass the default quality gate (1.25x the noise floor): a loose threshold keeps it passing.
TWO_JOBS = {"MaxTrainingJobs": "2", "MaxParallelTrainingJobs": "2", "MaxTestRmse": "5"}
TINY_CLI = (
    "--rows",
    "200",
    "--validation-rows",
    "40",
    "--test-rows",
    "40",
    "--max-jobs",
    "2",
    "-p",
    "MaxTestRmse=5",
)
MACHINE_KEYS = {"platform", "cpu_model", "cores", "python", "libraries", "load_average_at_start"}


def _quiet(_: str) -> None:
    return None


@pytest.fixture(scope="module")
def quality_result() -> dict[str, Any]:
    # One variant of the investigation (run when ours misses the target, as it does on tiny data).
    eta = {k: v for k, v in quality.INVESTIGATIONS.items() if k.startswith("eta")}
    return quality.measure((7,), parameters=TWO_JOBS, data=TINY_DATA, investigations=eta, log=_quiet)


def _tiny_real_data() -> tuple[np.ndarray, np.ndarray]:
    # 100 rows, a linear label, one missing value: written as an empty CSV field.
    rng = np.random.default_rng(5)
    x = rng.normal(size=(100, 3))
    y = 3 * x[:, 0] + rng.normal(size=100)
    x[4, 1] = np.nan
    return x, y


@pytest.fixture(scope="module")
def real_data_result() -> dict[str, Any]:
    tiny = real_data.DataSet("tiny", "this test", "linear", _tiny_real_data)
    return real_data.measure((0,), data_sets=(tiny,), parameters=TWO_JOBS, log=_quiet)


@pytest.fixture(scope="module")
def offline_run_result() -> dict[str, Any]:
    return offline_run.measure(
        1,
        cli_args=TINY_CLI,
        in_process_input={**TINY_DATA, "seed": 3},
        in_process_parameters=TWO_JOBS,
        log=_quiet,
    )


@pytest.fixture(scope="module")
def datagen_result(module_monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    # The resident set at the shard limit (2,000,000 rows in the bench), measured here at a small size.
    module_monkeypatch.setattr(datagen, "SHARD_LIMIT_TRAIN_ROWS", 400)
    return datagen.measure((300,), repetitions={300: 2}, log=_quiet)


@pytest.fixture(scope="module")
def cold_start_result(module_monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    # One handler without a client and one with: both kinds of row, half the subprocesses.
    module_monkeypatch.setattr(cold_start, "handler_dirs", lambda: ["extract_model_name", "generate_dataset"])
    return cold_start.measure(1, log=_quiet)


@pytest.fixture(scope="module")
def module_monkeypatch() -> Any:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def _assert_machine(section: dict[str, Any]) -> None:
    assert set(section["machine"]) >= MACHINE_KEYS
    assert section["machine"]["cores"] >= 1
    assert section["machine"]["libraries"]["boto3"]


def _is_positive(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def test_summary_holds_every_value_and_their_median() -> None:
    figures = summary([3.0, 1.0, 2.0, 10.0])

    assert figures == {
        "values": [3.0, 1.0, 2.0, 10.0],
        "repetitions": 4,
        "median": 2.5,
        "min": 1.0,
        "max": 10.0,
    }


def test_sample_definition_replaces_only_the_tuning_configuration() -> None:
    from offline.template import DEFINITION_FILE

    ours_text = DEFINITION_FILE.read_text(encoding="utf-8")
    ours, sample = json.loads(ours_text), json.loads(quality.sample_definition(ours_text, max_depth_min=1))

    our_tuning = quality._tuning_state(ours)["Parameters"]
    sample_tuning = quality._tuning_state(sample)["Parameters"]
    config = sample_tuning["HyperParameterTuningJobConfig"]
    assert sample_tuning["TrainingJobDefinition"]["StaticHyperParameters"] == {"num_round": "2"}
    assert config["ResourceLimits"] == {"MaxNumberOfTrainingJobs": 2, "MaxParallelTrainingJobs": 2}
    assert config["RandomSeed"] == quality.search_space(ours)["RandomSeed"]
    ranges = {
        r["Name"]: (r["MinValue"], r["MaxValue"]) for kind in config["ParameterRanges"].values() for r in kind
    }
    assert ranges == {
        "alpha": ("0", "1000"),
        "gamma": ("0", "5"),
        "max_delta_step": ("0", "10"),
        "max_depth": ("1", "10"),
    }
    # Everything but the two replaced keys is the definition's own.
    del our_tuning["HyperParameterTuningJobConfig.$"], sample_tuning["HyperParameterTuningJobConfig"]
    del our_tuning["TrainingJobDefinition"]["StaticHyperParameters"]
    del sample_tuning["TrainingJobDefinition"]["StaticHyperParameters"]
    assert sample == ours


def test_quality_compares_both_configurations_on_the_same_seeds(quality_result: dict[str, Any]) -> None:
    configurations = quality_result["configurations"]

    assert quality_result["repetitions"] == 1 and quality_result["seeds"] == [7]
    for name in ("sample", "ours"):
        (run_,) = configurations[name]["runs"]
        assert run_["seed"] == 7 and run_["test_records"] == TINY_DATA["testRows"]
        assert run_["ratio"] == pytest.approx(run_["test_rmse"] / run_["noise_floor"], rel=1e-3)
        assert configurations[name]["ratio"]["median"] == run_["ratio"]
    assert (
        configurations["ours"]["runs"][0]["noise_floor"] == configurations["sample"]["runs"][0]["noise_floor"]
    )
    assert quality_result["median"] == {
        "sample": configurations["sample"]["ratio"]["median"],
        "ours": configurations["ours"]["ratio"]["median"],
    }
    assert quality_result["meets_target"] == (quality_result["median"]["ours"] <= quality.TARGET_RATIO)
    _assert_machine(quality_result)


def test_quality_sends_the_sample_configuration_without_precision_dtype(
    quality_result: dict[str, Any],
) -> None:
    sample = quality_result["configurations"]["sample"]
    sent = sample["configuration_sent"]

    assert sent["StaticHyperParameters"] == {"num_round": "2"}
    assert "precision_dtype" in sample["as_written"]["StaticHyperParameters"]
    assert any("precision_dtype" in change for change in sample["changes"])
    assert any("max_depth" in change for change in sample["changes"])
    assert "sagemaker-xgboost" in sent["TrainingImage"]
    ours = quality_result["configurations"]["ours"]["configuration_sent"]
    assert ours["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxNumberOfTrainingJobs"] == 2


def test_quality_investigates_variants_when_ours_misses_the_target(quality_result: dict[str, Any]) -> None:
    investigation = quality_result["investigation"]

    if quality_result["meets_target"]:
        assert isinstance(investigation, str) and investigation.startswith("not run")
    else:
        assert set(investigation) == {k for k in quality.INVESTIGATIONS if k.startswith("eta")}
        for variant in investigation.values():
            assert variant["ratio"]["repetitions"] == 1
            assert variant["meets_target"] == (variant["ratio"]["median"] <= quality.TARGET_RATIO)
        eta = next(v for k, v in investigation.items() if k.startswith("eta"))
        ranges = eta["configuration_sent"]["HyperParameterTuningJobConfig"]["ParameterRanges"]
        (eta_range,) = [r for kind in ranges.values() for r in kind if r["Name"] == "eta"]
        assert eta_range["MinValue"] == "0.05"


def test_real_data_compares_the_run_with_the_baseline_on_the_same_split(
    real_data_result: dict[str, Any],
) -> None:
    entry = real_data_result["data_sets"]["tiny"]
    assert (entry["rows"], entry["features"], entry["missing_values"]) == (100, 3, 1)
    (only,) = entry["runs"]
    assert only["ratio"] == pytest.approx(only["ours_rmse"] / only["baseline_rmse"], abs=1e-3)
    assert only["training_jobs"] == 2
    assert 1 <= only["baseline_rounds"] <= real_data.BASELINE["num_round"]
    assert real_data_result["geometric_mean"] == entry["geometric_mean"] == only["ratio"]
    assert real_data_result["meets_target"] == (only["ratio"] <= real_data.TARGET_MEAN)
    _assert_machine(real_data_result)


def test_real_data_splits_are_disjoint_and_cover_every_row() -> None:
    x, y = np.arange(50.0).reshape(25, 2), np.arange(25.0)
    parts = real_data.split(x, y, 3)
    labels = np.concatenate([parts[name][1] for name in ("train", "validation", "test")])
    assert sorted(labels) == list(y)
    assert [len(parts[name][1]) for name in ("train", "validation", "test")] == [15, 5, 5]


def test_offline_run_times_the_cli_and_the_engine(offline_run_result: dict[str, Any]) -> None:
    assert offline_run_result["repetitions"] == 1
    assert offline_run_result["command"] == "python -m offline --quiet " + " ".join(TINY_CLI)
    for key in ("cli_seconds", "in_process_seconds"):
        assert offline_run_result[key]["repetitions"] == 1
        assert _is_positive(offline_run_result[key]["median"])
    assert offline_run_result["median"] == offline_run_result["cli_seconds"]["median"]
    assert offline_run_result["meets_target"] == (offline_run_result["median"] <= offline_run.TARGET_SECONDS)
    _assert_machine(offline_run_result)


def test_datagen_reports_speed_and_memory_for_every_size(datagen_result: dict[str, Any]) -> None:
    rows = 300 + datagen.VALIDATION_ROWS + datagen.TEST_ROWS
    assert datagen_result["sizes"] == [300]
    assert datagen_result["repetitions"] == {"300": 2}
    entry = datagen_result["by_size"]["300"]
    assert entry["rows_written"] == rows
    for key in ("handler_moto_rows_per_second", "generation_only_rows_per_second"):
        assert entry[key]["repetitions"] == 2
        assert all(_is_positive(v) for v in entry[key]["values"])
    assert entry["handler_moto_seconds"]["median"] >= entry["s3_seconds_inside_handler_moto"]["median"]
    memory = entry["memory"]
    assert memory["train_rows"] == 300 and memory["rows_written"] == rows
    assert memory["rss_growth_mib"] >= 0
    assert _is_positive(memory["tracemalloc_peak_mib"])
    assert _is_positive(memory["untraced_rows_per_second_moto_server"])  # S3 was moto's server
    assert datagen_result["meets_target"]["memory_flat"] is None  # one size: nothing to compare
    limit = datagen_result["rss_at_shard_limit"]
    assert limit["train_rows"] == 400 and limit["tracemalloc_peak_mib"] is None
    assert datagen_result["median"]["rss_growth_mib_by_size"] == {
        "300": memory["rss_growth_mib"],
        "400": limit["rss_growth_mib"],
    }
    assert set(datagen_result["meets_target"]) == {
        "handler_moto_rows_per_second",
        "generation_only_rows_per_second",
        "memory_flat",
    }
    _assert_machine(datagen_result)


def test_datagen_sink_refuses_a_small_part_that_is_not_the_last() -> None:
    sink = datagen.SinkS3()
    upload = sink.create_multipart_upload(Bucket="b", Key="k")["UploadId"]
    sink.upload_part(Bucket="b", Key="k", UploadId=upload, PartNumber=1, Body=b"x" * 10)
    sink.upload_part(Bucket="b", Key="k", UploadId=upload, PartNumber=2, Body=b"x" * 10)

    with pytest.raises(ValueError, match="under 5 MiB"):
        sink.complete_multipart_upload(
            Bucket="b", Key="k", UploadId=upload, MultipartUpload={"Parts": [{}, {}]}
        )


@pytest.mark.parametrize(
    ("peaks", "flat"),
    [([6.0, 57.0, 57.5], True), ([6.0, 57.0, 64.9], True), ([6.0, 57.0, 120.0], False), ([5.0], None)],
)
def test_datagen_memory_is_flat_when_the_largest_size_needs_at_most_one_part_more(
    peaks: list[float], flat: bool | None
) -> None:
    assert datagen._flat(peaks) is flat


def test_cold_start_compares_each_handler_with_import_boto3(cold_start_result: dict[str, Any]) -> None:
    targets = cold_start_result["targets"]

    assert set(targets) == {
        "import boto3",
        "import boto3 + s3 client + sagemaker client",
        "extract_model_name",
        "generate_dataset",
    }
    assert cold_start_result["repetitions"] == 1
    assert targets["import boto3"]["ratio_to_import_boto3"] == 1.0
    # The sagemaker client reads a warm start's parent tuning jobs.
    assert targets["generate_dataset"]["clients"] == ["s3", "sagemaker"]
    assert targets["generate_dataset"]["reference"] == "import boto3 + s3 client + sagemaker client"
    assert targets["extract_model_name"]["clients"] == []
    for name in ("extract_model_name", "generate_dataset"):
        assert targets[name]["meets_target"] == (
            targets[name]["ratio_to_import_boto3"] <= cold_start.TARGET_RATIO
        )
        assert cold_start_result["median"][name] == targets[name]["ratio_to_import_boto3"]
        assert {"module_body_ms", "imports_beyond_boto3_ms"} <= set(targets[name]["diagnosis"])
    _assert_machine(cold_start_result)


def test_table_has_a_row_per_figure_and_a_target_where_there_is_one(
    quality_result: dict[str, Any],
    real_data_result: dict[str, Any],
    offline_run_result: dict[str, Any],
    datagen_result: dict[str, Any],
    cold_start_result: dict[str, Any],
) -> None:
    results = {
        "quality": quality_result,
        "real_data": real_data_result,
        "offline_run": offline_run_result,
        "datagen": datagen_result,
        "cold_start": cold_start_result,
    }

    rows = run.table_rows(results)
    table = run.format_table(rows)

    measures = [row[0] for row in rows]
    assert measures[:3] == [
        "quality: sample's tuning, RMSE / noise floor",
        "quality: ours, RMSE / noise floor",
        "quality: ours, training jobs used",
    ]
    assert "real data tiny (100 rows): ours / baseline RMSE" in measures
    assert "offline run, python -m offline --quiet" in measures
    assert sum(m.startswith("datagen 300 rows") for m in measures) == 3
    assert "datagen 400 rows (DatasetShardRows): resident set" in measures
    assert "cold start: generate_dataset" in measures
    assert all(row[3] in ("yes", "NO", "") for row in rows)
    assert len(table.splitlines()) == len(rows) + 2
    json.dumps(results)  # what results.json gets must be JSON
