"""What CreateBatchInferenceJob and CreateBatchSegmentJob (and their Describe / List) share.

A batch job kind is a ``BatchJobOperations``: its resource kind, its ARN member, its workflow, its
quota.  The checks every job makes (an ACTIVE solution version, a filter of the same dataset group,
s3:// locations readable as the caller's roleArn, the concurrent-jobs quota) and the record-then-start
of Create live here once; each kind's module adds what only it checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from picks import arns, user_buckets
from picks.controlplane import filters, solution_versions
from picks.controlplane.common import arn_for, create_resource, list_page, new_resource
from picks.domain.states import ACTIVE, BATCH_PENDING, BATCH_RUNNING_STATES
from picks.errors import InvalidInputException, LimitExceededException, ResourceInUseException, excerpt

if TYPE_CHECKING:
    from picks.domain.resources import ModelRef, Resource
    from picks.services import Services


@dataclass(frozen=True)
class BatchJobOperations:
    kind: str  # the resource kind (ARN resource type)
    what: str  # "Batch inference job": how messages name it
    arn_key: str  # "batchInferenceJobArn": the ARN member of requests, documents and the workflow's input
    workflow: (
        str  # declared in picks.workflows.declaration; named here so the control plane does not import steps
    )
    quota: str  # the Settings field holding the concurrent-jobs limit
    summary_fields: tuple[str, ...]  # the members List returns

    @property
    def described(self) -> str:
        """The Describe output's member (``batchInferenceJob``)."""
        return self.arn_key.removesuffix("Arn")

    @property
    def listed(self) -> str:
        """The List output's member (``batchInferenceJobs``)."""
        return self.described + "s"


def active_version(
    services: Services, spec: BatchJobOperations, version_arn: str
) -> tuple[Resource, ModelRef]:
    """The job's solution version and its model; ResourceInUse unless it is ACTIVE."""
    version = solution_versions.get_version(services, version_arn)
    model = version.version_state.model
    if version.doc.get("status") != ACTIVE or model is None:
        raise ResourceInUseException(
            f"solutionVersionArn: {version.arn} is {version.doc.get('status')}; a {spec.what.lower()} "
            "needs an ACTIVE solution version."
        )
    return version, model


def job_filter(services: Services, filter_arn: str | None, version: Resource) -> Resource | None:
    """The job's filter, if it names one: ACTIVE, of the version's dataset group."""
    if not filter_arn:
        return None
    resource = filters.get_filter(services, filter_arn)
    if resource.doc.get("datasetGroupArn") != version.doc.get("datasetGroupArn"):
        raise InvalidInputException(
            f"filterArn: {filter_arn} belongs to another dataset group than {version.arn}."
        )
    if resource.doc.get("status") != ACTIVE:
        raise ResourceInUseException(f"filterArn: {filter_arn} is {resource.doc.get('status')}, not ACTIVE.")
    return resource


def s3_location(path: str, field: str) -> str:
    """The bucket of an ``s3://bucket/key`` path (S3Location's pattern also allows http(s)://)."""
    bucket = path[len("s3://") :].partition("/")[0] if path.startswith("s3://") else ""
    if not bucket:
        raise InvalidInputException(f"{field}: '{excerpt(path)}' must be an s3://bucket/key location.")
    return bucket


def _check_buckets(services: Services, params: dict[str, Any]) -> None:
    """Both locations are s3:// paths picks may use as the caller's roleArn (``picks.user_buckets``)."""
    input_bucket = s3_location(params["jobInput"]["s3DataSource"]["path"], "jobInput.s3DataSource.path")
    output_bucket = s3_location(
        params["jobOutput"]["s3DataDestination"]["path"], "jobOutput.s3DataDestination.path"
    )
    user_buckets.check_access(services.settings, input_bucket, params["roleArn"])
    user_buckets.check_access(services.settings, output_bucket, params["roleArn"])


def _check_quota(services: Services, spec: BatchJobOperations) -> None:
    limit: int = getattr(services.settings, spec.quota)
    running = [
        job for job in services.resources.list(spec.kind) if job.doc.get("status") in BATCH_RUNNING_STATES
    ]
    if len(running) >= limit:
        raise LimitExceededException(
            f"jobName: {len(running)} {spec.what.lower()}s are pending or in progress in "
            f"{services.settings.region}; the limit is {limit}."
        )


def create_job(
    services: Services, spec: BatchJobOperations, params: dict[str, Any], version: Resource, **members: Any
) -> dict[str, Any]:
    """Check the buckets and the quota, record the job PENDING (the request's common members plus
    ``members``), start its workflow; the caller checked everything particular to its kind."""
    _check_buckets(services, params)
    _check_quota(services, spec)
    arn = arn_for(services, spec.kind, params["jobName"])
    doc = {
        "jobName": params["jobName"],
        spec.arn_key: arn,
        "filterArn": params.get("filterArn"),
        "solutionVersionArn": version.arn,
        "numResults": members.pop("numResults"),
        "jobInput": params["jobInput"],
        "jobOutput": params["jobOutput"],
        **members,
        "roleArn": params["roleArn"],
        "status": BATCH_PENDING,
    }
    doc = {key: value for key, value in doc.items() if value is not None}
    create_resource(
        services,
        new_resource(services, spec.kind, arn, doc, parent=version.arn, tags=params.get("tags")),
        what=spec.what,
        duplicate=f"jobName: a {spec.what.lower()} named {params['jobName']} already exists.",
    )
    try:
        services.workflows.start(spec.workflow, params["jobName"], {spec.arn_key: arn})
    except Exception:
        services.resources.delete(arn)
        raise
    return {spec.arn_key: arn}


def describe_job(services: Services, spec: BatchJobOperations, params: dict[str, Any]) -> dict[str, Any]:
    arns.parse(params[spec.arn_key], spec.arn_key)
    job = services.resources.get(params[spec.arn_key], what=spec.what, kind=spec.kind)
    return {spec.described: job.to_wire()}


def list_jobs(services: Services, spec: BatchJobOperations, params: dict[str, Any]) -> dict[str, Any]:
    parent = params.get("solutionVersionArn")
    if parent:
        solution_versions.get_version(services, parent)
    page, token = list_page(services, params, kind=spec.kind, fields=spec.summary_fields, parent=parent)
    return {spec.listed: page, "nextToken": token}
