"""Stopping training jobs (StopSolutionVersionCreation): SageMaker's on AWS.

The state machine starts the jobs (a ``TrainingStep`` is a SageMaker ``.sync`` task); the control
plane only ever stops one.  The emulator's ``emulator.training_jobs.LocalTrainingJobs`` runs them
as subprocesses and answers the same ``stop``.
"""

from __future__ import annotations

from typing import Any, Protocol


class TrainingJobs(Protocol):
    def stop(self, job_name: str) -> None:
        """Ask the job ``job_name`` to stop; it ends Stopped (or has already ended)."""


class SageMakerTrainingJobs:
    """Stops SageMaker training jobs (the state machine starts them); ``sagemaker`` is injected."""

    def __init__(self, sagemaker: Any) -> None:
        self._sagemaker = sagemaker

    def stop(self, job_name: str) -> None:
        self._sagemaker.stop_training_job(TrainingJobName=job_name)
