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

from picks.controlplane import batch_jobs
from picks.controlplane.registry import operation
from picks.domain.resources import BATCH_SEGMENT_JOB_KIND
from picks.errors import InvalidInputException
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

JOBS = batch_jobs.BatchJobOperations(
    kind=BATCH_SEGMENT_JOB_KIND,
    what="Batch segment job",
    arn_key="batchSegmentJobArn",
    workflow="BatchSegment",
    quota="max_batch_segment_jobs",
    summary_fields=(
        "batchSegmentJobArn",
        "jobName",
        "status",
        "creationDateTime",
        "lastUpdatedDateTime",
        "failureReason",
        "solutionVersionArn",
    ),
)


def _segment_model(services: Services, version_arn: str) -> tuple[Resource, ModelRef]:
    version, model = batch_jobs.active_version(services, JOBS, version_arn)
    if model.recipe_type != USER_SEGMENTATION:
        raise InvalidInputException(
            f"solutionVersionArn: {version.arn} was trained with {model.recipe}, a {model.recipe_type} "
            f"recipe; batch segment jobs need a {USER_SEGMENTATION} recipe (aws-item-affinity or "
            "aws-item-attribute-affinity). For recommendations, use CreateBatchInferenceJob."
        )
    return version, model


def _check_filter(services: Services, filter_arn: str | None, version: Resource, recipe: str) -> None:
    resource = batch_jobs.job_filter(services, filter_arn, version)
    if resource is None:
        return
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


@operation("CreateBatchSegmentJob")
def create_batch_segment_job(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    version, model = _segment_model(services, params["solutionVersionArn"])
    count = params.get("numResults", DEFAULT_USERS_PER_SEGMENT)
    try:
        check_num_results(count)
    except SegmentInputError as error:
        raise InvalidInputException(str(error)) from None
    _check_filter(services, params.get("filterArn"), version, model.recipe)
    return batch_jobs.create_job(services, JOBS, params, version, numResults=count)


@operation("DescribeBatchSegmentJob")
def describe_batch_segment_job(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    return batch_jobs.describe_job(services, JOBS, params)


@operation("ListBatchSegmentJobs")
def list_batch_segment_jobs(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    return batch_jobs.list_jobs(services, JOBS, params)
