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

from picks import arns, user_buckets
from picks.controlplane import filters, solution_versions
from picks.controlplane.common import arn_for, create_resource, list_page, new_resource
from picks.controlplane.registry import operation
from picks.domain.resources import BATCH_INFERENCE_JOB_KIND
from picks.domain.states import ACTIVE, BATCH_PENDING, BATCH_RUNNING_STATES
from picks.errors import InvalidInputException, LimitExceededException, ResourceInUseException, excerpt

if TYPE_CHECKING:
    from picks.domain.resources import ModelRef, Resource
    from picks.services import Services

KIND = BATCH_INFERENCE_JOB_KIND
WHAT = "Batch inference job"
# Declared in picks.workflows.declaration; named here so this module does not depend on the steps.
BATCH_INFERENCE_WORKFLOW = "BatchInference"
# What each batch input line names, by the recipe type of the solution version.
BATCH_RECIPE_TYPES = ("USER_PERSONALIZATION", "POPULAR_ITEMS", "RELATED_ITEMS", "PERSONALIZED_RANKING")
# "You can't get batch recommendations with the Trending-Now recipe" (developer guide).
NO_BATCH_RECIPES = frozenset({"aws-trending-now"})
DEFAULT_RESULTS = 25
MAX_RESULTS = 500  # GetRecommendations' maximum; batch lines answer the same request
MODES = ("BATCH_INFERENCE", "THEME_GENERATION")
# itemExplorationConfig keys (User-Personalization): the share of exploration, and how old (days)
# an item may be to count as new.
EXPLORATION_KEYS = {"explorationWeight": (0.0, 1.0), "explorationItemAgeCutOff": (1.0, float("inf"))}
EXPLORING_RECIPES = ("aws-user-personalization",)
SUMMARY_FIELDS = (
    "batchInferenceJobArn",
    "jobName",
    "status",
    "creationDateTime",
    "lastUpdatedDateTime",
    "failureReason",
    "solutionVersionArn",
    "batchInferenceJobMode",
)


def _serving_model(services: Services, version_arn: str) -> tuple[Resource, ModelRef]:
    version = solution_versions.get_version(services, version_arn)
    model = version.version_state.model
    if version.doc.get("status") != ACTIVE or model is None:
        raise ResourceInUseException(
            f"solutionVersionArn: {version.arn} is {version.doc.get('status')}; a batch inference job "
            "needs an ACTIVE solution version."
        )
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
        if key not in EXPLORATION_KEYS:
            raise InvalidInputException(
                f"{field}: unknown key '{excerpt(key)}'; the keys are {', '.join(EXPLORATION_KEYS)}."
            )
        low, high = EXPLORATION_KEYS[key]
        try:
            number = float(value)
        except ValueError:
            number = float("nan")
        if not low <= number <= high:
            bound = f"between {low:g} and {high:g}" if high != float("inf") else f"at least {low:g}"
            raise InvalidInputException(f"{field}.{key}: '{excerpt(value)}' must be a number {bound}.")


def _check_filter(services: Services, filter_arn: str | None, version: Resource) -> None:
    if not filter_arn:
        return
    resource = filters.get_filter(services, filter_arn)
    if resource.doc.get("datasetGroupArn") != version.doc.get("datasetGroupArn"):
        raise InvalidInputException(
            f"filterArn: {filter_arn} belongs to another dataset group than {version.arn}."
        )
    if resource.doc.get("status") != ACTIVE:
        raise ResourceInUseException(f"filterArn: {filter_arn} is {resource.doc.get('status')}, not ACTIVE.")


def s3_location(path: str, field: str) -> str:
    """The bucket of an ``s3://bucket/key`` path (S3Location's pattern also allows http(s)://)."""
    bucket = path[len("s3://") :].partition("/")[0] if path.startswith("s3://") else ""
    if not bucket:
        raise InvalidInputException(f"{field}: '{excerpt(path)}' must be an s3://bucket/key location.")
    return bucket


def _check_quota(services: Services) -> None:
    limit = services.settings.max_batch_inference_jobs
    running = [job for job in services.resources.list(KIND) if job.doc.get("status") in BATCH_RUNNING_STATES]
    if len(running) >= limit:
        raise LimitExceededException(
            f"jobName: {len(running)} batch inference jobs are pending or in progress in "
            f"{services.settings.region}; the limit is {limit}."
        )


@operation("CreateBatchInferenceJob")
def create_batch_inference_job(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    mode = _check_mode(params)
    version, model = _serving_model(services, params["solutionVersionArn"])
    count = params.get("numResults", DEFAULT_RESULTS)
    if not 1 <= count <= MAX_RESULTS:
        raise InvalidInputException(f"numResults: {count} must be between 1 and {MAX_RESULTS}.")
    _check_filter(services, params.get("filterArn"), version)
    config = params.get("batchInferenceJobConfig")
    _check_exploration(config, model)
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
        "batchInferenceJobArn": arn,
        "filterArn": params.get("filterArn"),
        "solutionVersionArn": version.arn,
        "numResults": count,
        "jobInput": params["jobInput"],
        "jobOutput": params["jobOutput"],
        "batchInferenceJobConfig": config,
        "roleArn": role_arn,
        "batchInferenceJobMode": mode,
        "status": BATCH_PENDING,
    }
    doc = {key: value for key, value in doc.items() if value is not None}
    create_resource(
        services,
        new_resource(services, KIND, arn, doc, parent=version.arn, tags=params.get("tags")),
        what=WHAT,
        duplicate=f"jobName: a batch inference job named {params['jobName']} already exists.",
    )
    try:
        services.workflows.start(BATCH_INFERENCE_WORKFLOW, params["jobName"], {"batchInferenceJobArn": arn})
    except Exception:
        services.resources.delete(arn)
        raise
    return {"batchInferenceJobArn": arn}


@operation("DescribeBatchInferenceJob")
def describe_batch_inference_job(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    arns.parse(params["batchInferenceJobArn"], "batchInferenceJobArn")
    job = services.resources.get(params["batchInferenceJobArn"], what=WHAT, kind=KIND)
    return {"batchInferenceJob": job.to_wire()}


@operation("ListBatchInferenceJobs")
def list_batch_inference_jobs(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    parent = params.get("solutionVersionArn")
    if parent:
        solution_versions.get_version(services, parent)
    page, token = list_page(services, params, kind=KIND, fields=SUMMARY_FIELDS, parent=parent)
    return {"batchInferenceJobs": page, "nextToken": token}
