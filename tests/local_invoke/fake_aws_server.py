"""moto's server, plus the one SageMaker call Extract Model Path makes that moto does not implement:
ListTrainingJobsForHyperParameterTuningJob, answered from the training jobs created in moto whose names start
with the tuning job's name (SageMaker names a tuning job's training jobs so).

Usage: python -m tests.local_invoke.fake_aws_server -H HOST -p PORT (the arguments of moto.server).
"""

from __future__ import annotations

import json
import sys

from moto.sagemaker.models import sagemaker_backends
from moto.sagemaker.responses import SageMakerResponse
from moto.server import main


def _list_training_jobs_for_tuning_job(self: SageMakerResponse) -> str:
    tuning_job = self._get_param("HyperParameterTuningJobName")
    backend = sagemaker_backends[self.current_account][self.region]
    summaries = []
    for job in backend.training_jobs.values():
        if not job.training_job_name.startswith(f"{tuning_job}-"):
            continue
        described = job.response_object
        summaries.append(
            {
                "TrainingJobName": job.training_job_name,
                "TrainingJobArn": job.arn,
                "CreationTime": described.get("CreationTime"),
                "TrainingJobStatus": described.get("TrainingJobStatus", "Completed"),
                "TunedHyperParameters": {
                    key: value
                    for key, value in (job.hyper_parameters or {}).items()
                    if not key.startswith("_")
                },
                "ObjectiveStatus": "Succeeded",
            }
        )
    return json.dumps({"TrainingJobSummaries": summaries}, default=str)


SageMakerResponse.list_training_jobs_for_hyper_parameter_tuning_job = _list_training_jobs_for_tuning_job

if __name__ == "__main__":
    main(sys.argv[1:])
