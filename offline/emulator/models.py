"""Models: CreateModel checks that the model data exists; DescribeModel reports the request back."""

from __future__ import annotations

import copy
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from offline.emulator.core import Store, split_s3_uri
from offline.emulator.core import now as _now
from offline.request_validation import validation_exception


class Models:
    def __init__(self, store: Store) -> None:
        self.store = store

    def create(self, **request: Any) -> dict[str, Any]:
        operation = "CreateModel"
        self.store.begin(operation, request)
        name = request["ModelName"]
        arn = self.store.arn("model", name)
        with self.store.lock:
            if name in self.store.models:
                raise validation_exception(operation, f'Cannot create already existing model "{arn}".')
        if request.get("Containers") or request.get("InferenceExecutionConfig"):
            raise validation_exception(
                operation, "Inference pipelines (Containers) are not supported offline"
            )
        container = request.get("PrimaryContainer")
        if not container:
            raise validation_exception(operation, "Either PrimaryContainer or Containers must be specified")
        url = container.get("ModelDataUrl")
        if url:
            if not url.startswith("s3://"):
                raise validation_exception(
                    operation, f"ModelDataUrl {url}: only s3:// URIs are supported offline"
                )
            bucket, key = split_s3_uri(url)
            try:
                self.store.s3.head_object(Bucket=bucket, Key=key)
            except (ClientError, BotoCoreError):
                raise validation_exception(operation, f"Could not find model data at {url}.") from None
        description = {**copy.deepcopy(request), "ModelArn": arn, "CreationTime": _now()}
        description.pop("Tags", None)
        with self.store.lock:
            if name in self.store.models:
                raise validation_exception(operation, f'Cannot create already existing model "{arn}".')
            self.store.models[name] = description
            self.store.tags[arn] = list(request.get("Tags") or [])
        self.store.emit(
            "model_created", {"name": name, "arn": arn, "modelDataUrl": url, "image": container.get("Image")}
        )
        return {"ModelArn": arn}

    def describe(self, **request: Any) -> dict[str, Any]:
        operation = "DescribeModel"
        self.store.begin(operation, request)
        with self.store.lock:
            model = self.store.models.get(request["ModelName"])
            if model is None:
                raise validation_exception(
                    operation, f'Could not find model "{self.store.arn("model", request["ModelName"])}".'
                )
            return copy.deepcopy(model)
