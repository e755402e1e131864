"""The emulator at scale: channels of several files, training on several instances, transform of many files.

Distributed training follows the built-in XGBoost container (see LocalSageMaker._hosts_in_training): the
hosts that hold training (and validation) files train one model over the union of their files; a host that
gets no file of a ShardedByS3Key channel is left out, and the job goes on.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import numpy as np
import pytest

from offline import xgboost_algorithm
from offline.emulator import training
from tests.offline.emulator_support import (
    Workspace,
    csv_bytes,
    model_request,
    transform_request,
    tuning_request,
)


@pytest.fixture
def rows_trained(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int | None]]:
    """(train rows, validation rows) of every training job, as the algorithm received them."""
    seen: list[tuple[int, int | None]] = []
    train = xgboost_algorithm.train

    def spy(config: Any, train_data: Any, validation: Any, after_round: Any = None) -> Any:
        seen.append((train_data.rows, None if validation is None else validation.rows))
        return train(config, train_data, validation, after_round)

    monkeypatch.setattr(xgboost_algorithm, "train", spy)
    return seen


def shard_files(workspace: Workspace, split: str, rows: list[list[float]], files: int) -> list[int]:
    """Replaces data/<split>/ by ``files`` part files (rows dealt in order); returns each file's row count."""
    workspace.s3.delete_object(Bucket=workspace.bucket, Key=f"data/{split}/{split}.csv")
    counts = []
    for index in range(files):
        part = rows[index::files]
        workspace.put(f"data/{split}/part-{index:05d}.csv", csv_bytes(part))
        counts.append(len(part))
    return counts


def one_job(workspace: Workspace, instances: int, sharded: tuple[str, ...] = ("train",)) -> dict[str, Any]:
    """The definition's tuning request, one training job, on ``instances`` instances."""
    request = tuning_request(workspace.dataset, name="scale-" + uuid.uuid4().hex[:8])
    config = request["HyperParameterTuningJobConfig"]
    config["ResourceLimits"].update(MaxNumberOfTrainingJobs=1, MaxParallelTrainingJobs=1)
    config.pop("TuningJobCompletionCriteria", None)
    definition = request["TrainingJobDefinition"]
    definition["ResourceConfig"]["InstanceCount"] = instances
    for channel in definition["InputDataConfig"]:
        distribution = "ShardedByS3Key" if channel["ChannelName"] in sharded else "FullyReplicated"
        channel["DataSource"]["S3DataSource"]["S3DataDistributionType"] = distribution
    return request


def test_a_channel_of_several_files_is_read_whole(
    workspace: Workspace, rows_trained: list[tuple[int, int | None]]
) -> None:
    shard_files(workspace, "train", workspace.train, 3)

    description = workspace.tune(one_job(workspace, instances=1, sharded=()))

    assert description["HyperParameterTuningJobStatus"] == "Completed"
    assert rows_trained == [(len(workspace.train), len(workspace.validation))]


def test_two_instances_sharded_by_s3_key_train_one_model_on_every_file(
    workspace: Workspace, rows_trained: list[tuple[int, int | None]], caplog: pytest.LogCaptureFixture
) -> None:
    shard_files(workspace, "train", workspace.train, 4)

    with caplog.at_level(logging.WARNING, logger=training.__name__):
        description = workspace.tune(one_job(workspace, instances=2))

    assert description["HyperParameterTuningJobStatus"] == "Completed"
    assert rows_trained == [(len(workspace.train), len(workspace.validation))]
    assert "not used in distributed training" not in caplog.text
    job = workspace.sagemaker.describe_training_job(
        TrainingJobName=description["BestTrainingJob"]["TrainingJobName"]
    )
    assert job["ResourceConfig"]["InstanceCount"] == 2


def test_more_instances_than_files_leaves_the_empty_hosts_out_and_still_trains_on_every_file(
    workspace: Workspace, rows_trained: list[tuple[int, int | None]], caplog: pytest.LogCaptureFixture
) -> None:
    """3 instances, 2 files: algo-3 gets no file; the container leaves it out (and it is billed)."""
    shard_files(workspace, "train", workspace.train, 2)

    with caplog.at_level(logging.WARNING, logger=training.__name__):
        description = workspace.tune(one_job(workspace, instances=3))

    assert description["HyperParameterTuningJobStatus"] == "Completed"
    assert rows_trained == [(len(workspace.train), len(workspace.validation))]
    assert "algo-3 have no training or validation file" in caplog.text
    assert "algo-1" not in caplog.text and "algo-2" not in caplog.text


def test_a_host_without_a_validation_file_is_left_out_with_its_training_files(
    workspace: Workspace, rows_trained: list[tuple[int, int | None]], caplog: pytest.LogCaptureFixture
) -> None:
    """Validation sharded too, over 1 file: only algo-1 has both channels, so only its training files count"""
    train_counts = shard_files(workspace, "train", workspace.train, 2)
    shard_files(workspace, "validation", workspace.validation, 1)

    with caplog.at_level(logging.WARNING, logger=training.__name__):
        description = workspace.tune(one_job(workspace, instances=2, sharded=("train", "validation")))

    assert description["HyperParameterTuningJobStatus"] == "Completed"
    assert rows_trained == [(train_counts[0], len(workspace.validation))]
    assert "algo-2 have no training or validation file" in caplog.text


def test_batch_transform_writes_one_output_per_input_file_in_its_order(workspace: Workspace) -> None:
    description = workspace.tune(one_job(workspace, instances=1, sharded=()))
    name = description["BestTrainingJob"]["TrainingJobName"]
    artifact = workspace.sagemaker.describe_training_job(TrainingJobName=name)["ModelArtifacts"][
        "S3ModelArtifacts"
    ]
    workspace.sagemaker.create_model(**model_request(name, artifact))
    workspace.s3.delete_object(Bucket=workspace.bucket, Key="data/test/test.csv")
    parts = [workspace.test[:25], workspace.test[25:26], workspace.test[26:]]
    for index, rows in enumerate(parts):
        workspace.put(f"data/test/part-{index:05d}.csv", csv_bytes([row[1:] for row in rows]))
    workspace.put("data/test/part-00003.csv", b"")  # an empty file gives an empty output, as on SageMaker

    request = transform_request(workspace.dataset, name, "parts-" + uuid.uuid4().hex[:6])
    workspace.sagemaker.create_transform_job(**request)

    job = workspace.sagemaker.describe_transform_job(TransformJobName=request["TransformJobName"])
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    outputs = {
        index: workspace.get(f"{workspace.dataset['transformOutputUri']}part-{index:05d}.csv.out")
        .decode()
        .split()
        for index in range(3)
    }
    assert [len(outputs[i]) for i in range(3)] == [len(rows) for rows in parts]
    # Files are predicted independently: the same predictions as one file holding them all.
    whole = [float(v) for i in range(3) for v in outputs[i]]
    one_file = transform_request(workspace.dataset, name, "whole-" + uuid.uuid4().hex[:6])
    workspace.put("whole/test.csv", csv_bytes([row[1:] for row in workspace.test]))
    one_file["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"] = f"s3://{workspace.bucket}/whole/"
    one_file["TransformOutput"]["S3OutputPath"] = f"s3://{workspace.bucket}/whole-out/"
    workspace.sagemaker.create_transform_job(**one_file)
    expected = [
        float(v) for v in workspace.get(f"s3://{workspace.bucket}/whole-out/test.csv.out").decode().split()
    ]
    assert np.allclose(whole, expected)
