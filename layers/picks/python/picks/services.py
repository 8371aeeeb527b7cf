"""The dependencies handlers and workflow steps use, built once per container.

``build`` is the one factory: on Lambda it takes everything from the environment (real boto3
clients, Step Functions, SageMaker); the emulator and tests call it with a moto-backed session and
inject the in-process workflow runner and local training jobs, then ``set_services``.  Nothing
below this module creates its own AWS client.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from picks.dal.event_store import EventStore
from picks.dal.metadata import MetadataStore
from picks.dal.resources import ResourceStore
from picks.settings import Settings, region_of_request
from picks.workflows.starter import StepFunctionsStarter, WorkflowStarter
from picks.workflows.training_jobs import SageMakerTrainingJobs, TrainingJobs

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping


def s3_with_credentials(credentials: Mapping[str, Any], region: str) -> Any:
    """An S3 client with temporary credentials (STS AssumeRole's ``Credentials``)."""
    import boto3

    session = boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=region,
    )
    return session.client("s3")


@dataclass
class Services:
    settings: Settings
    resources: ResourceStore
    s3: Any
    workflows: WorkflowStarter
    clock: Callable[[], float] = field(default=time.time)
    # Stops running training jobs (``.stop(job_name)``) for StopSolutionVersionCreation; None where
    # nothing can be stopped.
    training_jobs: TrainingJobs | None = None
    # Real-time events and PutItems/PutUsers metadata (picks.dal.event_store layout).
    events: EventStore | None = None
    # Records written by PutItems / PutUsers / PutActions (``M#<datasetArn>`` items, events table).
    metadata: MetadataStore | None = None
    # STS, to act as the caller's roleArn on users' buckets (picks.user_buckets), and how an S3 client
    # is built from the temporary credentials it returns.
    sts: Any = None
    s3_with_credentials: Callable[[Mapping[str, Any], str], Any] = s3_with_credentials

    def in_region(self, region: str) -> Services:
        """These services as seen from ``region``: new ARNs name it, and resources of other regions
        do not exist (AWS regions are isolated; on AWS every resource has the stack's region)."""
        if region == self.settings.region and self.resources.region == region:
            return self
        return replace(
            self, settings=self.settings.in_region(region), resources=self.resources.in_region(region)
        )

    def for_request(self, authorization: str | None) -> Services:
        """These services for an API request with this Authorization header (its SigV4 scope's region)."""
        return self.in_region(region_of_request(authorization) or self.settings.region)


_current: Services | None = None


def build(
    settings: Settings,
    *,
    session: Any = None,
    workflows: WorkflowStarter | None = None,
    training_jobs: TrainingJobs | None = None,
    clock: Callable[[], float] = time.time,
) -> Services:
    """The services for ``settings``, every client from ``session`` (default: boto3's, in the
    settings' region).  ``workflows`` defaults to the Step Functions state machines the settings
    name; ``training_jobs`` to SageMaker's where ``settings.training_jobs`` says so, else none.
    ``clock`` is what resources and stored events are stamped with and schedules run on (the
    emulator's can be advanced)."""
    import boto3

    session = session or boto3.session.Session(region_name=settings.region)
    if training_jobs is None and settings.training_jobs == "sagemaker":
        training_jobs = SageMakerTrainingJobs(session.client("sagemaker"))
    return Services(
        settings=settings,
        resources=ResourceStore(session.client("dynamodb"), settings.table_name),
        s3=session.client("s3"),
        workflows=workflows
        if workflows is not None
        else StepFunctionsStarter(session.client("stepfunctions"), settings.workflow_arns),
        training_jobs=training_jobs,
        clock=clock,
        events=EventStore(session.client("dynamodb"), settings.events_table_name, clock=clock),
        metadata=MetadataStore(session.client("dynamodb"), settings.events_table_name),
        sts=session.client("sts"),
    )


def get_services() -> Services:
    global _current
    if _current is None:
        _current = build(Settings.from_environment())
    return _current


def set_services(services: Services | None) -> None:
    global _current
    _current = services
