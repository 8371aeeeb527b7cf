"""CreateCampaign / DescribeCampaign / ListCampaigns / UpdateCampaign / DeleteCampaign.

A campaign deploys one solution version for real-time recommendations.  Creating or updating one
records the request as CREATE PENDING and starts the CampaignDeployment workflow, whose step checks
that the model loads and makes the campaign (or its ``latestCampaignUpdate``) ACTIVE.  While an
update deploys, the fields of the campaign itself keep describing what is served, as Personalize
documents.

``solutionVersionArn`` may be ``<solutionArn>/$LATEST`` (with
``campaignConfig.syncWithLatestSolutionVersion``): the campaign then keeps that ARN, and its private
state names the concrete version it serves.  The record's parent is the solution,
so ListCampaigns can filter by solutionArn and DeleteSolution can see the campaigns using it.
"""

from __future__ import annotations

import math
import uuid
from typing import TYPE_CHECKING, Any

from picks import recipe_catalog as catalog
from picks.controlplane import solution_versions, solutions
from picks.controlplane.common import arn_for, create_resource, list_page, new_resource
from picks.controlplane.registry import operation
from picks.domain.queries import latest_active_version
from picks.domain.resources import CAMPAIGN_KIND
from picks.domain.states import ACTIVE, CREATE_FAILED, CREATE_PENDING, IN_PROGRESS_STATES, VERSION_BUSY_STATES
from picks.errors import (
    InvalidInputException,
    LimitExceededException,
    ResourceInUseException,
    excerpt,
)

if TYPE_CHECKING:
    from picks.domain.resources import Resource
    from picks.services import Services

KIND = CAMPAIGN_KIND
WHAT = "Campaign"
# Declared in picks.workflows.declaration; named here so this module does not depend on the steps.
DEPLOYMENT_WORKFLOW = "CampaignDeployment"
LATEST = "$LATEST"
DEFAULT_MIN_TPS = 1
# itemExplorationConfig keys (developer guide, exploration): inclusive lower bound, upper bound or None.
EXPLORATION_LIMITS: dict[str, tuple[float, float | None]] = {
    "explorationWeight": (0.0, 1.0),
    "explorationItemAgeCutOff": (1.0, None),
}


def get_campaign(services: Services, arn: str, field: str = "campaignArn") -> Resource:
    return solutions.get_resource(services, arn, kind=KIND, what=WHAT, field=field)


def check_exploration_value(key: str, value: str, prefix: str) -> None:
    """One ``itemExplorationConfig`` entry (of a campaign or a recommender: ``prefix`` names where)."""
    field = f"{prefix}.{key}"
    if key not in EXPLORATION_LIMITS:
        raise InvalidInputException(f"{field}: unknown key; use {' or '.join(EXPLORATION_LIMITS)}.")
    low, high = EXPLORATION_LIMITS[key]
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number < low or (high is not None and number > high):
        bounds = f"from {low:g} to {high:g}" if high is not None else f"at least {low:g}"
        raise InvalidInputException(f"{field}: '{excerpt(value)}' must be a number {bounds}.")


def _campaign_config(given: dict[str, Any] | None) -> dict[str, Any]:
    config = dict(given or {})
    for key, value in (config.get("itemExplorationConfig") or {}).items():
        check_exploration_value(key, value, "campaignConfig.itemExplorationConfig")
    config.setdefault("enableMetadataWithRecommendations", False)
    config.setdefault("syncWithLatestSolutionVersion", False)
    return config


def _check_deployable(solution: Resource) -> None:
    """USER_SEGMENTATION recipes give user segments only through CreateBatchSegmentJob (developer
    guide, Item-Affinity / Item-Attribute-Affinity): there is nothing for a campaign to serve."""
    recipe = catalog.recipe_for_arn(solution.doc["recipeArn"], field="solutionVersionArn")
    if recipe.recipe_type == catalog.USER_SEGMENTATION:
        raise InvalidInputException(
            f"solutionVersionArn: {solution.arn} uses the {recipe.name} recipe ({recipe.recipe_type}), "
            "which a campaign cannot deploy; get its user segments with CreateBatchSegmentJob."
        )


def _serving_version(
    services: Services, version_arn: str, config: dict[str, Any]
) -> tuple[Resource, Resource]:
    """The solution and the concrete, ACTIVE version that ``version_arn`` deploys."""
    sync = config.get("syncWithLatestSolutionVersion", False)
    solution_arn, _, tail = version_arn.rpartition("/")
    if tail == LATEST:
        if not sync:
            raise InvalidInputException(
                f"campaignConfig.syncWithLatestSolutionVersion: solutionVersionArn {version_arn} follows the "
                "latest version, which needs syncWithLatestSolutionVersion true."
            )
        solution = solutions.get_solution(services, solution_arn, field="solutionVersionArn")
        _check_deployable(solution)
        version = latest_active_version(services, solution.arn)
        if version is None:
            busy = solutions.busy_version(services, solution.arn)
            if busy is not None:
                raise ResourceInUseException(
                    f"solutionVersionArn: {solution.arn} has no ACTIVE version yet; {busy.arn} is "
                    f"{busy.doc['status']}."
                )
            raise InvalidInputException(
                f"solutionVersionArn: {solution.arn} has no ACTIVE version; "
                "train one with CreateSolutionVersion."
            )
        return solution, version
    if sync:
        raise InvalidInputException(
            f"campaignConfig.syncWithLatestSolutionVersion: true needs solutionVersionArn "
            f"<solutionArn>/{LATEST}, not the specific version {version_arn}."
        )
    version = solution_versions.get_version(services, version_arn)
    status = version.doc.get("status")
    if status in VERSION_BUSY_STATES:
        # Still training: it may become ACTIVE, so this is "not yet", as for other resources.
        raise ResourceInUseException(
            f"solutionVersionArn: {version.arn} is {status}; wait until it is ACTIVE."
        )
    if status != ACTIVE:
        # CREATE FAILED or CREATE STOPPED: waiting will not help, so it is the input that is wrong.
        raise InvalidInputException(
            f"solutionVersionArn: {version.arn} is {status} and has no model to deploy; train a new version."
        )
    solution = solutions.get_solution(
        services, version.parent or version.doc["solutionArn"], field="solutionVersionArn"
    )
    _check_deployable(solution)
    return solution, version


def _start_deployment(services: Services, campaign_name: str, payload: dict[str, Any]) -> None:
    # Execution names must be unique per state machine for 90 days; campaign names can be reused.
    services.workflows.start(DEPLOYMENT_WORKFLOW, f"{campaign_name}-{uuid.uuid4().hex[:8]}", payload)


@operation("CreateCampaign")
def create_campaign(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    config = _campaign_config(params.get("campaignConfig"))
    solution, version = _serving_version(services, params["solutionVersionArn"], config)
    group_arn = solution.doc["datasetGroupArn"]
    limit = services.settings.max_campaigns_per_group
    in_group = [c for c in services.resources.list(KIND) if c.campaign_state.dataset_group_arn == group_arn]
    if len(in_group) >= limit:
        raise LimitExceededException(
            f"solutionVersionArn: cannot create campaign '{params['name']}': dataset group {group_arn} "
            f"already has {limit} campaigns."
        )
    arn = arn_for(services, KIND, params["name"])
    doc = {
        "name": params["name"],
        "campaignArn": arn,
        "solutionVersionArn": params["solutionVersionArn"],
        "minProvisionedTPS": params.get("minProvisionedTPS", DEFAULT_MIN_TPS),
        "campaignConfig": config,
        "status": CREATE_PENDING,
    }
    resource = new_resource(services, KIND, arn, doc, parent=solution.arn, tags=params.get("tags"))
    resource.campaign_state.serving_version_arn = version.arn
    resource.campaign_state.dataset_group_arn = group_arn
    create_resource(
        services, resource, what=WHAT, duplicate=f"name: campaign {params['name']} already exists ({arn})."
    )
    try:
        _start_deployment(services, params["name"], {"campaignArn": arn})
    except Exception:
        services.resources.delete(arn)
        raise
    return {"campaignArn": arn}


@operation("DescribeCampaign")
def describe_campaign(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    return {"campaign": get_campaign(services, params["campaignArn"]).to_wire()}


@operation("ListCampaigns")
def list_campaigns(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    # The model declares no ResourceNotFoundException here: an unknown solution lists nothing.
    parent = params.get("solutionArn")
    fields = ("name", "campaignArn", "status", "creationDateTime", "lastUpdatedDateTime", "failureReason")
    page, token = list_page(services, params, kind=KIND, fields=fields, parent=parent)
    return {"campaigns": page, "nextToken": token}


def _check_updatable(campaign: Resource) -> None:
    status = campaign.doc.get("status")
    if status not in (ACTIVE, CREATE_FAILED):
        raise ResourceInUseException(
            f"campaignArn: {campaign.arn} is {status}; it can be updated when ACTIVE or CREATE FAILED."
        )
    pending = campaign.doc.get("latestCampaignUpdate") or {}
    if pending.get("status") in IN_PROGRESS_STATES:
        raise ResourceInUseException(
            f"campaignArn: an update of {campaign.arn} is still {pending['status']}."
        )


@operation("UpdateCampaign")
def update_campaign(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    campaign = get_campaign(services, params["campaignArn"])
    _check_updatable(campaign)
    version_arn = params.get("solutionVersionArn") or campaign.doc["solutionVersionArn"]
    if "campaignConfig" in params:
        config = _campaign_config(params["campaignConfig"])
    else:
        config = dict(campaign.doc.get("campaignConfig") or {})
    solution, version = _serving_version(services, version_arn, config)
    if solution.arn != campaign.parent:
        raise InvalidInputException(
            f"solutionVersionArn: {version_arn} belongs to {solution.arn}, but {campaign.arn} deploys "
            f"versions of {campaign.parent}; create a new campaign for another solution."
        )
    previous = campaign.doc.get("latestCampaignUpdate")
    previous_serving = campaign.campaign_state.update_serving_version_arn

    def apply(resource: Resource) -> None:
        _check_updatable(resource)
        now = services.clock()
        # The campaign's own fields keep describing what is served until the update is ACTIVE.
        resource.doc["latestCampaignUpdate"] = {
            "solutionVersionArn": version_arn,
            "minProvisionedTPS": params.get("minProvisionedTPS", campaign.doc.get("minProvisionedTPS")),
            "campaignConfig": config,
            "status": CREATE_PENDING,
            "creationDateTime": now,
            "lastUpdatedDateTime": now,
        }
        resource.campaign_state.update_serving_version_arn = version.arn
        resource.doc["lastUpdatedDateTime"] = now

    services.resources.update(campaign.arn, apply, what=WHAT)
    try:
        _start_deployment(services, campaign.doc["name"], {"campaignArn": campaign.arn, "update": True})
    except Exception:

        def restore(resource: Resource) -> None:
            if previous is None:
                resource.doc.pop("latestCampaignUpdate", None)
            else:
                resource.doc["latestCampaignUpdate"] = previous
            resource.campaign_state.update_serving_version_arn = previous_serving

        services.resources.update(campaign.arn, restore, what=WHAT)
        raise
    return {"campaignArn": campaign.arn}


@operation("DeleteCampaign")
def delete_campaign(services: Services, params: dict[str, Any]) -> None:
    campaign = get_campaign(services, params["campaignArn"])
    status = campaign.doc.get("status")
    pending = (campaign.doc.get("latestCampaignUpdate") or {}).get("status")
    if status in IN_PROGRESS_STATES or pending in IN_PROGRESS_STATES:
        deploying = f"update {pending}" if pending in IN_PROGRESS_STATES else status
        raise ResourceInUseException(
            f"campaignArn: {campaign.arn} is still deploying ({deploying}); "
            "delete it once it is ACTIVE or CREATE FAILED."
        )
    services.resources.delete(campaign.arn)
