"""Steps of the SolutionVersionUpdate workflow (declared in ``declaration.SOLUTION_VERSION_UPDATE``):
the automatic update of a version's model, in place.

Personalize updates the latest FULL version of a User-Personalization solution every two hours
(``picks.workflows.schedules`` decides when and claims the update on the version).  ``prepare``
stages the same channel a ``trainingMode`` UPDATE version trains on, with the version's current
model as the previous one; the ``Train`` step is the same training job; ``publish`` makes the new
files the version's model (``SolutionVersionState.model``) and moves ``lastUpdatedDateTime``.  The
version stays ACTIVE throughout: campaigns serving it read its model prefix again within the
``campaigns`` cache TTL and load the new model beside the old one, so nothing stops serving.
``record_failure`` (the Catch) marks the update CREATE FAILED and leaves the model as it was.
Every update is a ``ModelUpdate`` in the version's private state, oldest first.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from picks.domain.resources import ModelRef
from picks.domain.states import ACTIVE, CREATE_FAILED, CREATE_IN_PROGRESS
from picks.observability import logger
from picks.workflows.failures import failure_reason
from picks.workflows.solution_version import (
    EXPECTED_FAILURES,
    job_name_for,
    model_prefix,
    stage_training,
    trained_model,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from picks.domain.resources import Resource
    from picks.services import Services

WHAT = "Solution version"


class UpdateNotRunning(Exception):
    """The update this execution was started for is no longer the version's running one."""


def update_job_name(version: Resource, started: float) -> str:
    """A SageMaker job name (``[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}``) unique per version and update
    (updates of one version are hours apart, so the second they started tells them apart)."""
    return job_name_for(version, suffix=f"-u{int(started)}")


def _change_update(
    services: Services, arn: str, job_name: str, change: Callable[[Resource, int], None]
) -> Resource:
    """Apply ``change`` to the version and the index of its update ``job_name`` (freshly read)."""

    def apply(resource: Resource) -> None:
        updates = resource.version_state.updates
        index = next((i for i, u in enumerate(updates) if u.job_name == job_name), None)
        if index is None or updates[index].status != CREATE_IN_PROGRESS:
            raise UpdateNotRunning(f"{arn}: update {job_name} is not running.")
        change(resource, index)

    return services.resources.update(arn, apply, what=WHAT)


def prepare(services: Services, state: dict[str, Any]) -> dict[str, Any]:
    version = services.resources.get(state["solutionVersionArn"], what=WHAT)
    model = version.version_state.model
    if version.doc.get("status") != ACTIVE or model is None:
        raise UpdateNotRunning(
            f"{version.arn} is {version.doc.get('status')}; only an ACTIVE version updates."
        )
    solution = services.resources.get(version.doc["solutionArn"], what="Solution")
    request, events_until = stage_training(services, solution, version, state["jobName"], model)

    def record(resource: Resource, index: int) -> None:
        updates = resource.version_state.updates
        updates[index] = replace(updates[index], events_until=events_until)

    _change_update(services, version.arn, state["jobName"], record)
    return {**state, "training": request.to_state()}


def publish(services: Services, state: dict[str, Any]) -> dict[str, Any]:
    version = services.resources.get(state["solutionVersionArn"], what=WHAT)
    archive_prefix = f"{model_prefix(version)}updates/{state['jobName']}/"
    prefix, manifest = trained_model(services, state["trainingJob"], archive_prefix)

    def swap(resource: Resource, index: int) -> None:
        now = services.clock()
        updates = resource.version_state.updates
        update = updates[index]
        if resource.doc.get("status") != ACTIVE:
            reason = f"{resource.arn} is {resource.doc.get('status')}: the update was not published."
            updates[index] = replace(update, status=CREATE_FAILED, finished=now, failure_reason=reason)
            return
        resource.version_state.model = ModelRef.from_manifest(prefix, manifest, update.events_until)
        updates[index] = replace(update, status=ACTIVE, finished=now)
        resource.doc["lastUpdatedDateTime"] = now

    version = _change_update(services, version.arn, state["jobName"], swap)
    logger.info("solution version updated", extra={"solutionVersionArn": version.arn, "model": prefix})
    return {**state, "status": ACTIVE}


def record_failure(services: Services, state: dict[str, Any]) -> dict[str, Any]:
    """The update failed: the version keeps serving the model it had; the history says why."""
    reason = failure_reason(state.get("error") or {}, EXPECTED_FAILURES)[:1000]
    if services.resources.find(state["solutionVersionArn"]) is not None:
        mark_failed(services, state["solutionVersionArn"], state["jobName"], reason)
    return {**state, "status": CREATE_FAILED}


def mark_failed(services: Services, arn: str, job_name: str, reason: str) -> None:
    def fail(resource: Resource, index: int) -> None:
        updates = resource.version_state.updates
        updates[index] = replace(
            updates[index], status=CREATE_FAILED, finished=services.clock(), failure_reason=reason
        )

    try:
        _change_update(services, arn, job_name, fail)
    except UpdateNotRunning:
        pass  # already ended (a publish that found the version no longer ACTIVE)


ACTIONS = {
    "model_update.prepare": prepare,
    "model_update.publish": publish,
    "model_update.record_failure": record_failure,
}
