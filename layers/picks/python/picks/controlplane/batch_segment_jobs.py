"""CreateBatchSegmentJob / DescribeBatchSegmentJob / ListBatchSegmentJobs.

Creating a job checks what the request alone decides — the version is ACTIVE and was trained with a
USER_SEGMENTATION recipe, ``numResults`` (users per input line) is within the documented maximum,
the filter filters users and the recipe allows it, the buckets' roleArn, the concurrent-jobs quota
— records the job PENDING and starts the BatchSegment workflow (``picks.workflows.batch_segment``,
on the batch jobs' plumbing), which moves it to IN PROGRESS and then ACTIVE or CREATE FAILED.  If
the workflow cannot be started the record is removed and the caller gets the error.

Filters (developer guide, "Filter expressions", user segments): a segment job filters *users*,
with ``INCLUDE|EXCLUDE UserID WHERE Users.FIELD ...`` (user metadata: IN / NOT IN / comparisons,
``$PARAM`` values from each input line's ``filterValues``) or ``... WHERE Interactions.EVENT_TYPE
IN (...)`` (users with interactions of those types in the version's training data).  Everything
the filter parser accepts for the UserID target is supported; an ItemID or ActionID filter is
refused, and so is an interactions filter with Item-Attribute-Affinity ("Interactions filters
can't be used with the Item-Attribute-Affinity recipe").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from picks import arns, user_buckets
from picks.controlplane import filters, solution_versions
from picks.controlplane.batch_inference_jobs import s3_location
from picks.controlplane.common import arn_for, create_resource, list_page, new_resource
from picks.controlplane.registry import operation
from picks.domain.resources import BATCH_SEGMENT_JOB_KIND
from picks.domain.states import ACTIVE, BATCH_PENDING, BATCH_RUNNING_STATES
from picks.errors import InvalidInputException, LimitExceededException, ResourceInUseException
from picks.filters import parse_cached
from picks.filters.parser import INTERACTION_DATASETS
from picks.serving.segments import (
    DEFAULT_USERS_PER_SEGMENT,
    ITEM_ATTRIBUTE_AFFINITY,
    USER_SEGMENTATION,
    SegmentInputError,
    check_num_results,
)

if TYPE_CHECKING:
    from picks.domain.resources import ModelRef, Resource
    from picks.services import Services

KIND = BATCH_SEGMENT_JOB_KIND
WHAT = "Batch segment job"
# Declared in picks.workflows.declaration; named here so this module does not depend on the steps.
BATCH_SEGMENT_WORKFLOW = "BatchSegment"
SUMMARY_FIELDS = (
    "batchSegmentJobArn",
    "jobName",
    "status",
    "creationDateTime",
    "lastUpdatedDateTime",
    "failureReason",
    "solutionVersionArn",
)


def _segment_model(services: Services, version_arn: str) -> tuple[Resource, ModelRef]:
    version = solution_versions.get_version(services, version_arn)
    model = version.version_state.model
    if version.doc.get("status") != ACTIVE or model is None:
        raise ResourceInUseException(
            f"solutionVersionArn: {version.arn} is {version.doc.get('status')}; a batch segment job "
            "needs an ACTIVE solution version."
        )
    if model.recipe_type != USER_SEGMENTATION:
        raise InvalidInputException(
            f"solutionVersionArn: {version.arn} was trained with {model.recipe}, a {model.recipe_type} "
            f"recipe; batch segment jobs need a {USER_SEGMENTATION} recipe (aws-item-affinity or "
            "aws-item-attribute-affinity). For recommendations, use CreateBatchInferenceJob."
        )
    return version, model


def _check_filter(services: Services, filter_arn: str | None, version: Resource, recipe: str) -> None:
    if not filter_arn:
        return
    resource = filters.get_filter(services, filter_arn)
    if resource.doc.get("datasetGroupArn") != version.doc.get("datasetGroupArn"):
        raise InvalidInputException(
            f"filterArn: {filter_arn} belongs to another dataset group than {version.arn}."
        )
    if resource.doc.get("status") != ACTIVE:
        raise ResourceInUseException(f"filterArn: {filter_arn} is {resource.doc.get('status')}, not ACTIVE.")
    expression = parse_cached(resource.doc["filterExpression"])
    if expression.target != "UserID":
        raise InvalidInputException(
            f"filterArn: {filter_arn} filters {expression.target}s; a batch segment job filters the users "
            "of its segments: use a filter on UserID (INCLUDE or EXCLUDE UserID WHERE Users.<field> ... or "
            "WHERE Interactions.EVENT_TYPE IN (...))."
        )
    if recipe == ITEM_ATTRIBUTE_AFFINITY and any(
        c.dataset in INTERACTION_DATASETS for c in expression.clauses
    ):
        raise InvalidInputException(
            f"filterArn: {filter_arn} has an interactions condition; Item-interaction filters are not "
            f"allowed with {ITEM_ATTRIBUTE_AFFINITY}: filter on Users fields only."
        )


def _check_quota(services: Services) -> None:
    limit = services.settings.max_batch_segment_jobs
    running = [job for job in services.resources.list(KIND) if job.doc.get("status") in BATCH_RUNNING_STATES]
    if len(running) >= limit:
        raise LimitExceededException(
            f"jobName: {len(running)} batch segment jobs are pending or in progress in "
            f"{services.settings.region}; the limit is {limit}."
        )


@operation("CreateBatchSegmentJob")
def create_batch_segment_job(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    version, model = _segment_model(services, params["solutionVersionArn"])
    count = params.get("numResults", DEFAULT_USERS_PER_SEGMENT)
    try:
        check_num_results(count)
    except SegmentInputError as error:
        raise InvalidInputException(str(error)) from None
    _check_filter(services, params.get("filterArn"), version, model.recipe)
    source = params["jobInput"]["s3DataSource"]
    destination = params["jobOutput"]["s3DataDestination"]
    input_bucket = s3_location(source["path"], "jobInput.s3DataSource.path")
    output_bucket = s3_location(destination["path"], "jobOutput.s3DataDestination.path")
    role_arn = params["roleArn"]
    user_buckets.check_access(services.settings, input_bucket, role_arn)
    user_buckets.check_access(services.settings, output_bucket, role_arn)
    _check_quota(services)
    arn = arn_for(services, KIND, params["jobName"])
    doc = {
        "jobName": params["jobName"],
        "batchSegmentJobArn": arn,
        "filterArn": params.get("filterArn"),
        "solutionVersionArn": version.arn,
        "numResults": count,
        "jobInput": params["jobInput"],
        "jobOutput": params["jobOutput"],
        "roleArn": role_arn,
        "status": BATCH_PENDING,
    }
    doc = {key: value for key, value in doc.items() if value is not None}
    create_resource(
        services,
        new_resource(services, KIND, arn, doc, parent=version.arn, tags=params.get("tags")),
        what=WHAT,
        duplicate=f"jobName: a batch segment job named {params['jobName']} already exists.",
    )
    try:
        services.workflows.start(BATCH_SEGMENT_WORKFLOW, params["jobName"], {"batchSegmentJobArn": arn})
    except Exception:
        services.resources.delete(arn)
        raise
    return {"batchSegmentJobArn": arn}


@operation("DescribeBatchSegmentJob")
def describe_batch_segment_job(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    arns.parse(params["batchSegmentJobArn"], "batchSegmentJobArn")
    job = services.resources.get(params["batchSegmentJobArn"], what=WHAT, kind=KIND)
    return {"batchSegmentJob": job.to_wire()}


@operation("ListBatchSegmentJobs")
def list_batch_segment_jobs(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    parent = params.get("solutionVersionArn")
    if parent:
        solution_versions.get_version(services, parent)
    page, token = list_page(services, params, kind=KIND, fields=SUMMARY_FIELDS, parent=parent)
    return {"batchSegmentJobs": page, "nextToken": token}
