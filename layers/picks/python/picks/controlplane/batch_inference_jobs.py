"""CreateBatchInferenceJob / DescribeBatchInferenceJob / ListBatchInferenceJobs.

Creating a job checks everything the request alone decides (the version is ACTIVE and its recipe
serves batch recommendations, the filter belongs to its dataset group, the job mode, the
exploration settings, the buckets' roleArn, the concurrent-jobs quota), records the job PENDING and
starts the BatchInference workflow (``picks.workflows.batch_inference``), which moves it to IN
PROGRESS and then ACTIVE or CREATE FAILED.  If the workflow cannot be started the record is removed
and the caller gets the error, so no job is left pending forever.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from picks.controlplane import batch_jobs, campaigns
from picks.controlplane.registry import operation
from picks.domain.resources import BATCH_INFERENCE_JOB_KIND
from picks.errors import InvalidInputException

if TYPE_CHECKING:
    from picks.domain.resources import ModelRef, Resource
    from picks.services import Services

# What each batch input line names, by the recipe type of the solution version.
BATCH_RECIPE_TYPES = ("USER_PERSONALIZATION", "POPULAR_ITEMS", "RELATED_ITEMS", "PERSONALIZED_RANKING")
# "You can't get batch recommendations with the Trending-Now recipe" (developer guide).
NO_BATCH_RECIPES = frozenset({"aws-trending-now"})
DEFAULT_RESULTS = 25
MAX_RESULTS = 500  # GetRecommendations' maximum; batch lines answer the same request
MODES = ("BATCH_INFERENCE", "THEME_GENERATION")
# itemExplorationConfig keys (User-Personalization): the share of exploration, and how old (days)
# an item may be to count as new.
EXPLORING_RECIPES = ("aws-user-personalization",)
JOBS = batch_jobs.BatchJobOperations(
    kind=BATCH_INFERENCE_JOB_KIND,
    what="Batch inference job",
    arn_key="batchInferenceJobArn",
    workflow="BatchInference",
    quota="max_batch_inference_jobs",
    summary_fields=(
        "batchInferenceJobArn",
        "jobName",
        "status",
        "creationDateTime",
        "lastUpdatedDateTime",
        "failureReason",
        "solutionVersionArn",
        "batchInferenceJobMode",
    ),
)


def _serving_model(services: Services, version_arn: str) -> tuple[Resource, ModelRef]:
    version, model = batch_jobs.active_version(services, JOBS, version_arn)
    if model.recipe in NO_BATCH_RECIPES:
        raise InvalidInputException(
            f"solutionVersionArn: {version.arn} was trained with {model.recipe}, which does not support "
            "batch inference; use GetRecommendations on a campaign."
        )
    if model.recipe_type not in BATCH_RECIPE_TYPES:
        raise InvalidInputException(
            f"solutionVersionArn: {version.arn} is a {model.recipe_type} solution version; batch inference "
            f"serves {', '.join(BATCH_RECIPE_TYPES)} (USER_SEGMENTATION: CreateBatchSegmentJob)."
        )
    return version, model


def _check_mode(params: dict[str, Any]) -> str:
    mode: str = params.get("batchInferenceJobMode") or "BATCH_INFERENCE"
    if mode == "THEME_GENERATION":
        raise InvalidInputException(
            "batchInferenceJobMode: THEME_GENERATION (themes written by a generative model) is not "
            "supported by picks; use BATCH_INFERENCE."
        )
    if params.get("themeGenerationConfig") is not None:
        raise InvalidInputException(
            "themeGenerationConfig: only with batchInferenceJobMode THEME_GENERATION, which picks does "
            "not support."
        )
    return mode


def _check_exploration(config: dict[str, Any] | None, model: ModelRef) -> None:
    """``itemExplorationConfig``: known keys, numbers in range, and a recipe that explores."""
    exploration = (config or {}).get("itemExplorationConfig")
    if not exploration:
        return
    field = "batchInferenceJobConfig.itemExplorationConfig"
    if model.recipe not in EXPLORING_RECIPES:
        raise InvalidInputException(
            f"{field}: only for {', '.join(EXPLORING_RECIPES)} solution versions, not {model.recipe}."
        )
    for key, value in exploration.items():
        campaigns.check_exploration_value(key, value, field)


@operation("CreateBatchInferenceJob")
def create_batch_inference_job(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    mode = _check_mode(params)
    version, model = _serving_model(services, params["solutionVersionArn"])
    count = params.get("numResults", DEFAULT_RESULTS)
    if not 1 <= count <= MAX_RESULTS:
        raise InvalidInputException(f"numResults: {count} must be between 1 and {MAX_RESULTS}.")
    batch_jobs.job_filter(services, params.get("filterArn"), version)
    config = params.get("batchInferenceJobConfig")
    _check_exploration(config, model)
    return batch_jobs.create_job(
        services,
        JOBS,
        params,
        version,
        numResults=count,
        batchInferenceJobConfig=config,
        batchInferenceJobMode=mode,
    )


@operation("DescribeBatchInferenceJob")
def describe_batch_inference_job(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    return batch_jobs.describe_job(services, JOBS, params)


@operation("ListBatchInferenceJobs")
def list_batch_inference_jobs(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    return batch_jobs.list_jobs(services, JOBS, params)
