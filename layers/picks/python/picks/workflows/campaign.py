"""Steps of the CampaignDeployment workflow (declared in ``declaration.CAMPAIGN_DEPLOYMENT``).

``deploy`` loads the model of the solution version the campaign (or its pending update) names,
which proves the artifact is servable and warms this container's cache, then makes it ACTIVE.
An update replaces what the campaign serves only once it is ACTIVE, so requests never see a
half-deployed campaign.  ``record_failure`` (the Catch) ends it CREATE FAILED with the reason.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from picks.domain.queries import active_versions, servable_model
from picks.domain.states import ACTIVE, CREATE_FAILED, CREATE_IN_PROGRESS, CREATE_PENDING
from picks.serving.store import load_model
from picks.workflows.failures import CampaignDeploymentFailed, failure_reason

if TYPE_CHECKING:
    from collections.abc import Callable

    from picks.domain.resources import ModelRef, Resource
    from picks.services import Services

WHAT = "Campaign"
LATEST_SUFFIX = "/$LATEST"
UPDATE = "latestCampaignUpdate"
# Reported as their message alone: a campaign naming no servable version.
EXPECTED_FAILURES = frozenset({CampaignDeploymentFailed.error_code})


def serving_version(services: Services, requested: str) -> tuple[Resource, ModelRef]:
    """The ACTIVE solution version behind ``requested`` (a version ARN or ``<solution>/$LATEST``),
    and its model."""
    if requested.endswith(LATEST_SUFFIX):
        solution = requested[: -len(LATEST_SUFFIX)]
        active = active_versions(services, solution)
        if not active:
            raise CampaignDeploymentFailed(f"solutionVersionArn: {solution} has no ACTIVE solution version.")
        return active[-1]
    version = services.resources.find(requested)
    model = servable_model(version) if version is not None else None
    if version is None or model is None:
        raise CampaignDeploymentFailed(f"solutionVersionArn: {requested} is not an ACTIVE solution version.")
    return version, model


def _update(services: Services, arn: str, change: Callable[[Resource], None]) -> Resource:
    def apply(resource: Resource) -> None:
        change(resource)
        resource.doc["lastUpdatedDateTime"] = services.clock()

    return services.resources.update(arn, apply, what=WHAT)


def deploy(services: Services, state: dict[str, Any]) -> dict[str, Any]:
    campaign = services.resources.get(state["campaignArn"], what=WHAT, kind="campaign")
    is_update = bool(state.get("update"))
    pending = campaign.doc.get(UPDATE) or {} if is_update else campaign.doc
    requested = pending.get("solutionVersionArn") or campaign.doc["solutionVersionArn"]

    def mark_in_progress(resource: Resource) -> None:
        (resource.doc[UPDATE] if is_update else resource.doc)["status"] = CREATE_IN_PROGRESS

    _update(services, campaign.arn, mark_in_progress)
    version, model = serving_version(services, requested)
    load_model(services.s3, services.settings.bucket_name, model.prefix)

    def activate(resource: Resource) -> None:
        now = services.clock()
        doc = resource.doc
        if is_update:
            update = doc[UPDATE]
            for name in ("solutionVersionArn", "minProvisionedTPS", "campaignConfig"):
                if update.get(name) is not None:
                    doc[name] = update[name]
            update["status"] = ACTIVE
            update["lastUpdatedDateTime"] = now
        doc["status"] = ACTIVE
        doc.pop("failureReason", None)
        resource.campaign_state.serving_version_arn = version.arn

    _update(services, campaign.arn, activate)
    return {**state, "status": ACTIVE, "solutionVersionArn": version.arn}


def record_failure(services: Services, state: dict[str, Any]) -> dict[str, Any]:
    campaign = services.resources.find(state["campaignArn"])
    if campaign is None:
        return {**state, "status": CREATE_FAILED}
    reason = failure_reason(state.get("error") or {}, EXPECTED_FAILURES)[:1000]

    def fail(resource: Resource) -> None:
        doc = resource.doc
        if state.get("update") and doc.get(UPDATE):
            # The campaign keeps serving what it served before; only the update failed.
            doc[UPDATE]["status"] = CREATE_FAILED
            doc[UPDATE]["failureReason"] = reason
        else:
            doc["status"] = CREATE_FAILED
            doc["failureReason"] = reason

    _update(services, campaign.arn, fail)
    return {**state, "status": CREATE_FAILED}


def redeploy(services: Services, campaign_arn: str, version_arn: str) -> None:
    """Point a campaign at ``version_arn`` through a normal update (used by syncWithLatestSolutionVersion)."""

    def record(resource: Resource) -> None:
        now = services.clock()
        doc = resource.doc
        doc[UPDATE] = {
            "solutionVersionArn": doc["solutionVersionArn"]
            if doc["solutionVersionArn"].endswith(LATEST_SUFFIX)
            else version_arn,
            "minProvisionedTPS": doc.get("minProvisionedTPS"),
            "campaignConfig": doc.get("campaignConfig"),
            "status": CREATE_PENDING,
            "creationDateTime": now,
            "lastUpdatedDateTime": now,
        }
        resource.campaign_state.update_serving_version_arn = version_arn

    _update(services, campaign_arn, record)
    services.workflows.start(
        "CampaignDeployment", f"sync-{uuid.uuid4().hex[:12]}", {"campaignArn": campaign_arn, "update": True}
    )


ACTIONS = {"campaign.deploy": deploy, "campaign.record_failure": record_failure}
