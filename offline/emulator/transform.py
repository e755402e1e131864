"""Batch transform jobs: the saved model predicts every object under the input prefix, one output each."""

from __future__ import annotations

import copy
import gzip
import threading
import time
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from offline import batch_transform
from offline import xgboost_algorithm as algorithm
from offline.container_rules import version_from_image
from offline.container_serve import Serving
from offline.emulator.core import MAX_FAILURE_REASON, Store, split_s3_uri
from offline.emulator.core import now as _now
from offline.request_validation import client_error, validation_exception


class TransformJobs:
    def __init__(self, store: Store) -> None:
        self.store = store

    def create(self, **request: Any) -> dict[str, Any]:
        operation = "CreateTransformJob"
        self.store.begin(operation, request)
        name = request["TransformJobName"]
        arn = self.store.arn("transform-job", name)
        with self.store.lock:
            if name in self.store.transform_jobs:
                raise client_error(
                    operation,
                    "ResourceInUse",
                    "Transform job names must be unique within an AWS account and region, and a transform "
                    f"job with this name already exists ({arn})",
                )
            model = self.store.models.get(request["ModelName"])
        if model is None:
            raise validation_exception(
                operation, f'Could not find model "{self.store.arn("model", request["ModelName"])}".'
            )
        source = request["TransformInput"]["DataSource"]["S3DataSource"]
        if source["S3DataType"] != "S3Prefix":
            raise validation_exception(
                operation, f"S3DataType {source['S3DataType']} is not supported offline"
            )
        for uri in (source["S3Uri"], request["TransformOutput"]["S3OutputPath"]):
            if not uri.startswith("s3://"):
                raise validation_exception(operation, f"{uri}: only s3:// URIs are supported offline")
        now = _now()
        description = {
            **{k: copy.deepcopy(v) for k, v in request.items() if k != "Tags"},
            "TransformJobArn": arn,
            "TransformJobStatus": "InProgress",
            "CreationTime": now,
        }
        with self.store.lock:
            if name in self.store.transform_jobs:
                raise client_error(operation, "ResourceInUse", f"Transform job {name} already exists ({arn})")
            self.store.transform_jobs[name] = description
            self.store.transform_stops[name] = threading.Event()
            self.store.tags[arn] = list(request.get("Tags") or [])
        try:
            self._run_transform(description, model)
        except Exception as e:
            with self.store.lock:
                description["TransformJobStatus"] = "Failed"
                description["FailureReason"] = f"InternalFailure: the offline emulator failed: {e!r}"[
                    :MAX_FAILURE_REASON
                ]
            raise
        return {"TransformJobArn": arn}

    def _run_transform(self, description: dict[str, Any], model: dict[str, Any]) -> None:
        name = description["TransformJobName"]
        started = time.monotonic()
        with self.store.lock:
            description["TransformStartTime"] = _now()
        injected = self.store.faults.transform_failure(name)
        outputs: list[str] = []
        records = 0
        reason: str | None = None
        try:
            if injected:
                raise algorithm.AlgorithmFailure(injected)
            settings = batch_transform.TransformSettings.from_request(description)
            settings.check()
            booster = self._load_booster(model)
            container = model.get("PrimaryContainer") or {}
            try:
                version = version_from_image(container.get("Image", ""))
            except ValueError as e:
                raise algorithm.client_error(str(e)) from None
            serving = Serving(
                objective=booster.objective,
                num_class=booster.num_class,
                version=version,
                environment=container.get("Environment") or {},
            )
            serving.accept(settings.accept)  # the container refuses an Accept it does not know
            uri = description["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"]
            bucket, prefix = split_s3_uri(uri)
            try:
                keys = self.store.list_keys(bucket, prefix)
            except (ClientError, BotoCoreError):
                keys = []
            if not keys:
                raise algorithm.client_error(
                    f'No S3 objects found under S3 URL "{uri}" given in input data source.'
                )
            out_bucket, out_prefix = split_s3_uri(description["TransformOutput"]["S3OutputPath"])
            out_prefix = out_prefix.rstrip("/") + "/" if out_prefix.strip("/") else ""
            # Output keys keep the input key's path below the input prefix's last "/".
            base = prefix[: prefix.rfind("/") + 1]
            compression = description["TransformInput"].get("CompressionType") or "None"
            for key in keys:
                if self.store.transform_stops[name].is_set():
                    break
                try:
                    body = self.store.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
                    if compression == "Gzip":
                        body = gzip.decompress(body)
                    output, count = batch_transform.transform_object(
                        body, settings, lambda rows: algorithm.predict_csv(booster, rows), serving
                    )
                except algorithm.AlgorithmFailure as failure:
                    # SageMaker uploads the outputs of the objects that succeeded and fails the job.
                    reason = reason or f"{failure.reason} (input s3://{bucket}/{key})"
                    continue
                except (ClientError, BotoCoreError, OSError, UnicodeDecodeError) as e:
                    reason = reason or f"ClientError: could not read s3://{bucket}/{key}: {e}"
                    continue
                out_key = f"{out_prefix}{key[len(base) :]}.out"
                try:
                    self.store.s3.put_object(Bucket=out_bucket, Key=out_key, Body=output)
                except (ClientError, BotoCoreError) as e:
                    reason = reason or f"ClientError: could not write s3://{out_bucket}/{out_key}: {e}"
                    continue
                outputs.append(f"s3://{out_bucket}/{out_key}")
                records += count
        except algorithm.AlgorithmFailure as failure:
            reason = failure.reason
        with self.store.lock:
            if self.store.transform_stops[name].is_set():
                status = "Stopped"
            else:
                status = "Failed" if reason else "Completed"
            description["TransformJobStatus"] = status
            description["TransformEndTime"] = _now()
            if reason and status == "Failed":
                description["FailureReason"] = reason[:MAX_FAILURE_REASON]
        self.store.emit(
            "transform_job_completed",
            {
                "name": name,
                "status": status,
                "failureReason": description.get("FailureReason"),
                "outputs": outputs,
                "records": records,
                "seconds": round(time.monotonic() - started, 3),
            },
        )

    def _load_booster(self, model: dict[str, Any]) -> Any:
        url = (model.get("PrimaryContainer") or {}).get("ModelDataUrl")
        if not url:
            raise algorithm.client_error(
                f"Model {model['ModelName']} has no ModelDataUrl: there is no model to load"
            )
        bucket, key = split_s3_uri(url)
        try:
            tarball = self.store.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except (ClientError, BotoCoreError) as e:
            raise algorithm.client_error(f"Could not download the model data at {url}: {e}") from None
        return algorithm.load_model(tarball)

    def describe(self, **request: Any) -> dict[str, Any]:
        operation = "DescribeTransformJob"
        self.store.begin(operation, request)
        with self.store.lock:
            job = self.store.transform_jobs.get(request["TransformJobName"])
            if job is None:
                raise validation_exception(
                    operation, f"Could not find requested job with name {request['TransformJobName']}"
                )
            return copy.deepcopy(job)

    def stop(self, **request: Any) -> dict[str, Any]:
        operation = "StopTransformJob"
        self.store.begin(operation, request)
        name = request["TransformJobName"]
        with self.store.lock:
            job = self.store.transform_jobs.get(name)
            if job is None:
                raise validation_exception(operation, f"Could not find requested job with name {name}")
            if job["TransformJobStatus"] != "InProgress":
                raise validation_exception(
                    operation,
                    f"The transform job {name} cannot be stopped: its status is {job['TransformJobStatus']}",
                )
            self.store.transform_stops[name].set()
            job["TransformJobStatus"] = "Stopping"
        return {}
