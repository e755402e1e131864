"""SageMaker, offline: tuning, training, models and batch transform run for real on the CPU.

``LocalSageMaker`` answers the SageMaker API calls the state machine makes, with boto3's request and
response shapes. Training jobs are the built-in XGBoost algorithm (``offline.xgboost_algorithm``) reading
their channels from S3 (moto's, in the offline run); tuning jobs search the request's ranges with Optuna
(``offline.hpo``); transform jobs predict with the saved model (``offline.batch_transform``).

Create calls run their jobs to the end before they return; Describe calls then report them as SageMaker
does. Every request is validated against botocore's input shape, maxima and patterns included
(``offline.request_validation``). Errors are ``botocore.exceptions.ClientError`` with SageMaker's codes.

Where SageMaker's behaviour is documented or widely reported, it is followed (comments name the source
where it matters); where the emulator cannot follow (an algorithm other than XGBoost, manifests), the
request is refused with a ValidationException saying so.

The work is done in ``offline.emulator``, one module per job type (tuning, training, models, transform),
with the state they share in ``offline.emulator.core`` and the test hooks in ``offline.emulator.faults``;
this class dispatches the API calls to them.
"""

from __future__ import annotations

import copy
from typing import Any

from offline.emulator.core import Listener, Store, json_safe, partition_of, split_s3_uri
from offline.emulator.faults import TrainingFailurePredicate
from offline.emulator.models import Models
from offline.emulator.training import TrainingJobs
from offline.emulator.transform import TransformJobs
from offline.emulator.tuning import TuningJobs
from offline.request_validation import client_error

__all__ = [
    "Listener",
    "LocalSageMaker",
    "TrainingFailurePredicate",
    "json_safe",
    "partition_of",
    "split_s3_uri",
]

_OPERATIONS = {
    "CreateHyperParameterTuningJob": "create_hyper_parameter_tuning_job",
    "DescribeHyperParameterTuningJob": "describe_hyper_parameter_tuning_job",
    "ListTrainingJobsForHyperParameterTuningJob": "list_training_jobs_for_hyper_parameter_tuning_job",
    "ListHyperParameterTuningJobs": "list_hyper_parameter_tuning_jobs",
    "StopHyperParameterTuningJob": "stop_hyper_parameter_tuning_job",
    "DescribeTrainingJob": "describe_training_job",
    "CreateModel": "create_model",
    "DescribeModel": "describe_model",
    "CreateTransformJob": "create_transform_job",
    "DescribeTransformJob": "describe_transform_job",
    "StopTransformJob": "stop_transform_job",
    "AddTags": "add_tags",
    "ListTags": "list_tags",
}
_METHOD_TO_OPERATION = {method: operation for operation, method in _OPERATIONS.items()}


class LocalSageMaker:
    """The SageMaker API of the offline run: methods take boto3's keyword arguments, return its responses."""

    def __init__(
        self,
        s3_client: Any,
        *,
        region: str = "us-east-1",
        account_id: str = "123456789012",
        listener: Listener | None = None,
    ) -> None:
        self._store = Store(s3_client, region, account_id, listener)
        self.region = region
        self.account_id = account_id
        self.partition = self._store.partition
        self._training = TrainingJobs(self._store)
        self._tuning = TuningJobs(self._store, self._training)
        self._models = Models(self._store)
        self._transform = TransformJobs(self._store)

    @property
    def listener(self) -> Listener | None:
        """Receives ``(event, data)`` as jobs start and end; may be replaced while the emulator runs."""
        return self._store.listener

    @listener.setter
    def listener(self, listener: Listener | None) -> None:
        self._store.listener = listener

    # --- test hooks -------------------------------------------------------------------------------------

    def inject_fault(self, operation: str, code: str, message: str | None = None, times: int = 1) -> None:
        """The next ``times`` calls of ``operation`` (``CreateModel`` or ``create_model``) raise ``code``."""
        name = _METHOD_TO_OPERATION.get(operation, operation)
        if name not in _OPERATIONS:
            raise ValueError(f"unknown operation {operation!r}; one of {sorted(_OPERATIONS)}")
        self._store.faults.add(name, code, message, times)

    def fail_training_jobs_when(self, predicate: TrainingFailurePredicate | None) -> None:
        """Training jobs for which ``predicate(name, hyperparameters)`` returns a reason fail with it."""
        self._store.faults.training_failure = predicate

    def fail_transform_job(self, reason: str, name: str | None = None) -> None:
        """The transform job ``name`` (every transform job, if None) fails with ``reason``."""
        self._store.faults.fail_transform_job(reason, name)

    # --- dispatch ---------------------------------------------------------------------------------------

    def implements(self, operation_name: str) -> bool:
        """Whether ``call`` answers the API operation ``operation_name`` (e.g. ``CreateModel``)."""
        return operation_name in _OPERATIONS

    def call(self, operation_name: str, params: dict[str, Any]) -> dict[str, Any]:
        """Runs the API operation ``operation_name`` (e.g. ``CreateModel``) with ``params``."""
        method = _OPERATIONS.get(operation_name)
        if method is None:
            raise client_error(
                operation_name,
                "UnknownOperationException",
                f"The offline SageMaker emulator does not implement {operation_name}; "
                f"it implements {', '.join(sorted(_OPERATIONS))}",
            )
        return getattr(self, method)(**(params or {}))

    # --- the API ----------------------------------------------------------------------------------------

    def create_hyper_parameter_tuning_job(self, **request: Any) -> dict[str, Any]:
        return self._tuning.create(**request)

    def describe_hyper_parameter_tuning_job(self, **request: Any) -> dict[str, Any]:
        return self._tuning.describe(**request)

    def list_training_jobs_for_hyper_parameter_tuning_job(self, **request: Any) -> dict[str, Any]:
        return self._tuning.list_training_jobs(**request)

    def list_hyper_parameter_tuning_jobs(self, **request: Any) -> dict[str, Any]:
        return self._tuning.list_tuning_jobs(**request)

    def stop_hyper_parameter_tuning_job(self, **request: Any) -> dict[str, Any]:
        return self._tuning.stop(**request)

    def describe_training_job(self, **request: Any) -> dict[str, Any]:
        return self._training.describe_training_job(**request)

    def create_model(self, **request: Any) -> dict[str, Any]:
        return self._models.create(**request)

    def describe_model(self, **request: Any) -> dict[str, Any]:
        return self._models.describe(**request)

    def create_transform_job(self, **request: Any) -> dict[str, Any]:
        return self._transform.create(**request)

    def describe_transform_job(self, **request: Any) -> dict[str, Any]:
        return self._transform.describe(**request)

    def stop_transform_job(self, **request: Any) -> dict[str, Any]:
        return self._transform.stop(**request)

    # --- tags -------------------------------------------------------------------------------------------

    def add_tags(self, **request: Any) -> dict[str, Any]:
        self._store.begin("AddTags", request)
        with self._store.lock:
            tags = self._store.tags.setdefault(request["ResourceArn"], [])
            for tag in request["Tags"]:
                tags[:] = [t for t in tags if t["Key"] != tag["Key"]]
                tags.append(dict(tag))
        return {"Tags": copy.deepcopy(request["Tags"])}

    def list_tags(self, **request: Any) -> dict[str, Any]:
        self._store.begin("ListTags", request)
        with self._store.lock:
            return {"Tags": copy.deepcopy(self._store.tags.get(request["ResourceArn"], []))}
