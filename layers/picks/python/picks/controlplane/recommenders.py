"""CreateRecommender / DescribeRecommender / ListRecommenders / UpdateRecommender /
StartRecommender / StopRecommender / DeleteRecommender.

A recommender serves one use case (``picks.domain.use_cases``: the recipe ARN's name) of a domain
dataset group.  Creating one records it CREATE PENDING and starts RecommenderTraining
(``picks.workflows.recommender``), which trains its model through the solution versions' path and
makes it ACTIVE with ``modelMetrics`` from the same holdout.  UpdateRecommender records
``latestRecommenderUpdate`` and serves the previous configuration until the update is ACTIVE (a
new ``trainingDataConfig`` retrains first).  Stop, Start and Delete record their pending status and
start RecommenderStatusChange.  Maintenance (automatic updates, weekly retraining) is the schedule
tick's (``picks.workflows.schedules``).  Everything that can be checked is checked here, so a
request that cannot succeed fails at once with an error naming the field.
"""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING, Any

from picks.controlplane import campaigns, dataset_groups, solutions
from picks.controlplane.common import arn_for, create_resource, list_page, new_resource
from picks.controlplane.registry import operation
from picks.dataset_schema import metadata_fields
from picks.domain.queries import dataset_schema, group_dataset, has_imported_interactions
from picks.domain.resources import RECOMMENDER_KIND, RECOMMENDER_UPDATE
from picks.domain.states import (
    ACTIVE,
    CREATE_FAILED,
    CREATE_PENDING,
    DELETE_PENDING,
    IN_PROGRESS_STATES,
    INACTIVE,
    START_PENDING,
    STOP_PENDING,
)
from picks.domain.use_cases import use_case_for_arn
from picks.errors import InvalidInputException, LimitExceededException, ResourceInUseException

if TYPE_CHECKING:
    from picks.domain.resources import Resource
    from picks.domain.use_cases import UseCase
    from picks.services import Services

KIND = RECOMMENDER_KIND
WHAT = "Recommender"
# Declared in picks.workflows.declaration; named here so this module does not depend on the steps.
TRAINING_WORKFLOW = "RecommenderTraining"
STATUS_WORKFLOW = "RecommenderStatusChange"
DEFAULT_MIN_RPS = 1
# Dataset types whose metadata columns trainingDataConfig may leave out of training.
EXCLUDABLE_DATASETS = ("INTERACTIONS", "ITEMS", "USERS")
SUMMARY_FIELDS = (
    "name",
    "recommenderArn",
    "datasetGroupArn",
    "recipeArn",
    "recommenderConfig",
    "status",
    "creationDateTime",
    "lastUpdatedDateTime",
)
_JOB_STEM = re.compile(r"[^A-Za-z0-9]+")


def get_recommender(services: Services, arn: str, field: str = "recommenderArn") -> Resource:
    return solutions.get_resource(services, arn, kind=KIND, what=WHAT, field=field)


def _check_exploration(given: dict[str, Any], use_case: UseCase) -> None:
    exploration = given.get("itemExplorationConfig")
    if exploration and not use_case.exploration:
        raise InvalidInputException(
            f"recommenderConfig.itemExplorationConfig: the {use_case.name} use case does not explore "
            "new items; only aws-vod-top-picks and aws-ecomm-recommended-for-you take it."
        )
    for key, value in (exploration or {}).items():
        campaigns.check_exploration_value(key, value, "recommenderConfig.itemExplorationConfig")


def _check_excluded_columns(services: Services, group_arn: str, training: dict[str, Any]) -> None:
    if training.get("includedDatasetColumns"):
        raise InvalidInputException(
            "recommenderConfig.trainingDataConfig.includedDatasetColumns: a recommender trains on every "
            "column but those in excludedDatasetColumns; list the columns to leave out there."
        )
    for dataset_type, columns in (training.get("excludedDatasetColumns") or {}).items():
        field = f"recommenderConfig.trainingDataConfig.excludedDatasetColumns.{dataset_type}"
        kind = dataset_type.upper()
        if kind not in EXCLUDABLE_DATASETS:
            raise InvalidInputException(
                f"{field}: columns can be excluded from the {', '.join(EXCLUDABLE_DATASETS)} datasets only."
            )
        dataset = group_dataset(services, group_arn, kind)
        if dataset is None:
            raise InvalidInputException(f"{field}: dataset group {group_arn} has no {kind} dataset.")
        metadata = {f.name.upper() for f in metadata_fields(dataset_schema(services, dataset), kind)}
        unknown = [column for column in columns if column.upper() not in metadata]
        if unknown:
            raise InvalidInputException(
                f"{field}: {', '.join(unknown)[:200]} is not a metadata column of the {kind} schema "
                "(required and reserved columns cannot be excluded)."
            )


def recommender_config(
    services: Services, given: dict[str, Any] | None, use_case: UseCase, group_arn: str
) -> dict[str, Any]:
    """The recommender's configuration with Personalize's defaults, checked against the use case."""
    config = dict(given or {})
    _check_exploration(config, use_case)
    _check_excluded_columns(services, group_arn, config.get("trainingDataConfig") or {})
    config.setdefault("minRecommendationRequestsPerSecond", DEFAULT_MIN_RPS)
    config.setdefault("enableMetadataWithRecommendations", False)
    return config


def _domain_group(services: Services, group_arn: str) -> Resource:
    group = dataset_groups.active_group(services, group_arn)
    if not group.doc.get("domain"):
        raise InvalidInputException(
            f"datasetGroupArn: {group_arn} is a custom dataset group; recommenders need a domain dataset "
            "group (CreateDatasetGroup with domain ECOMMERCE or VIDEO_ON_DEMAND). Use CreateSolution and "
            "CreateCampaign for a custom one."
        )
    return group


def _check_trainable(services: Services, group_arn: str) -> None:
    if not has_imported_interactions(services, group_arn):
        raise InvalidInputException(
            f"datasetGroupArn: dataset group {group_arn} has no imported interactions; import them into its "
            "INTERACTIONS dataset with CreateDatasetImportJob first."
        )


def _check_quota(services: Services, group_arn: str, name: str) -> None:
    limit = services.settings.max_recommenders_per_group
    if len(services.resources.list(KIND, parent=group_arn)) >= limit:
        raise LimitExceededException(
            f"datasetGroupArn: cannot create recommender '{name}': dataset group {group_arn} already has "
            f"{limit} recommenders."
        )


def job_name(recommender_name: str, tag: str) -> str:
    """A SageMaker job name (``[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}``) unique per training."""
    suffix = f"-{tag}-{uuid.uuid4().hex[:8]}"
    stem = _JOB_STEM.sub("-", recommender_name).strip("-")[: 63 - len(suffix) - 8] or "recommender"
    return f"picks-r-{stem}{suffix}"


def start_training(services: Services, recommender: Resource, payload: dict[str, Any]) -> None:
    services.workflows.start(
        TRAINING_WORKFLOW, payload["jobName"], {"recommenderArn": recommender.arn, **payload}
    )


@operation("CreateRecommender")
def create_recommender(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    group = _domain_group(services, params["datasetGroupArn"])
    use_case = use_case_for_arn(params["recipeArn"])
    if use_case.domain != group.doc["domain"]:
        raise InvalidInputException(
            f"recipeArn: {use_case.name} is a {use_case.domain} use case; dataset group {group.arn} is "
            f"{group.doc['domain']}."
        )
    config = recommender_config(services, params.get("recommenderConfig"), use_case, group.arn)
    _check_quota(services, group.arn, params["name"])
    _check_trainable(services, group.arn)
    arn = arn_for(services, KIND, params["name"])
    doc = {
        "name": params["name"],
        "recommenderArn": arn,
        "datasetGroupArn": group.arn,
        "recipeArn": use_case.arn,
        "recommenderConfig": config,
        "status": CREATE_PENDING,
    }
    resource = new_resource(services, KIND, arn, doc, parent=group.arn, tags=params.get("tags"))
    create_resource(
        services, resource, what=WHAT, duplicate=f"name: recommender {params['name']} already exists ({arn})."
    )
    try:
        start_training(services, resource, {"purpose": "create", "jobName": job_name(params["name"], "c")})
    except Exception:
        services.resources.delete(arn)
        raise
    return {"recommenderArn": arn}


@operation("DescribeRecommender")
def describe_recommender(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    return {"recommender": get_recommender(services, params["recommenderArn"]).to_wire()}


@operation("ListRecommenders")
def list_recommenders(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    # The model declares no ResourceNotFoundException here: an unknown dataset group lists nothing.
    page, token = list_page(
        services, params, kind=KIND, fields=SUMMARY_FIELDS, parent=params.get("datasetGroupArn")
    )
    return {"recommenders": page, "nextToken": token}


def _pending_update(recommender: Resource) -> str | None:
    status = (recommender.doc.get(RECOMMENDER_UPDATE) or {}).get("status")
    return status if status in IN_PROGRESS_STATES else None


def _check_idle(recommender: Resource, action: str, *, allowed: tuple[str, ...]) -> None:
    status = recommender.doc.get("status")
    pending = _pending_update(recommender)
    if pending is not None:
        raise ResourceInUseException(
            f"recommenderArn: an update of {recommender.arn} is still {pending}; {action} it once the "
            "update is ACTIVE or CREATE FAILED."
        )
    if status not in allowed:
        raise ResourceInUseException(
            f"recommenderArn: {recommender.arn} is {status}; {action} it when it is {' or '.join(allowed)}."
        )


@operation("UpdateRecommender")
def update_recommender(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    recommender = get_recommender(services, params["recommenderArn"])
    _check_idle(recommender, "update", allowed=(ACTIVE,))
    use_case = use_case_for_arn(recommender.doc["recipeArn"])
    config = recommender_config(
        services, params["recommenderConfig"], use_case, recommender.doc["datasetGroupArn"]
    )
    current = recommender.doc.get("recommenderConfig") or {}
    retrain = (config.get("trainingDataConfig") or {}) != (current.get("trainingDataConfig") or {})
    previous = recommender.doc.get(RECOMMENDER_UPDATE)

    def record(resource: Resource) -> None:
        _check_idle(resource, "update", allowed=(ACTIVE,))
        now = services.clock()
        # The recommender's own recommenderConfig keeps describing what is served until it is ACTIVE.
        resource.doc[RECOMMENDER_UPDATE] = {
            "recommenderConfig": config,
            "status": CREATE_PENDING,
            "creationDateTime": now,
            "lastUpdatedDateTime": now,
        }
        resource.doc["lastUpdatedDateTime"] = now

    services.resources.update(recommender.arn, record, what=WHAT)
    payload = {"purpose": "update", "retrain": retrain, "jobName": job_name(recommender.doc["name"], "u")}
    try:
        start_training(services, recommender, payload)
    except Exception:

        def restore(resource: Resource) -> None:
            if previous is None:
                resource.doc.pop(RECOMMENDER_UPDATE, None)
            else:
                resource.doc[RECOMMENDER_UPDATE] = previous

        services.resources.update(recommender.arn, restore, what=WHAT)
        raise
    return {"recommenderArn": recommender.arn}


def _change_status(
    services: Services, arn: str, change: str, pending: str, allowed: tuple[str, ...], action: str
) -> Resource:
    """Record ``pending`` (from one of ``allowed``) and start the status change; returns the record."""
    get_recommender(services, arn)
    before: list[str] = []

    def record(resource: Resource) -> None:
        _check_idle(resource, action, allowed=allowed)
        before[:] = [resource.doc["status"]]
        resource.doc["status"] = pending
        resource.doc["lastUpdatedDateTime"] = services.clock()

    recommender = services.resources.update(arn, record, what=WHAT)
    try:
        services.workflows.start(
            STATUS_WORKFLOW, f"{change}-{uuid.uuid4().hex[:12]}", {"recommenderArn": arn, "change": change}
        )
    except Exception:

        def restore(resource: Resource) -> None:
            resource.doc["status"] = before[0]

        services.resources.update(arn, restore, what=WHAT)
        raise
    return recommender


@operation("StopRecommender")
def stop_recommender(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    arn = params["recommenderArn"]
    _change_status(services, arn, "stop", STOP_PENDING, (ACTIVE,), "stop")
    return {"recommenderArn": arn}


@operation("StartRecommender")
def start_recommender(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    arn = params["recommenderArn"]
    _change_status(services, arn, "start", START_PENDING, (INACTIVE,), "start")
    return {"recommenderArn": arn}


@operation("DeleteRecommender")
def delete_recommender(services: Services, params: dict[str, Any]) -> None:
    arn = params["recommenderArn"]
    _change_status(services, arn, "delete", DELETE_PENDING, (ACTIVE, INACTIVE, CREATE_FAILED), "delete")
