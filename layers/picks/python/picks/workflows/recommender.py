"""Steps of the recommender workflows (declared in ``declaration.RECOMMENDER_TRAINING`` and
``declaration.RECOMMENDER_STATUS_CHANGE``).

RecommenderTraining trains a recommender's model through the same path as a solution version
(``solution_version.stage_training``: the group's datasets, PutEvents / PutItems / PutUsers since,
the same training job with ``recipe`` = the use case's recipe name, the same holdout metrics),
for one of three ``purpose``s:

* ``create``: CREATE PENDING -> CREATE IN_PROGRESS -> ACTIVE (or CREATE FAILED);
* ``update`` (UpdateRecommender): ``latestRecommenderUpdate`` CREATE PENDING -> CREATE IN_PROGRESS
  -> ACTIVE (or CREATE FAILED).  Only a change of ``trainingDataConfig`` retrains; any other change
  is applied by ``prepare`` and the workflow ends there.  Until the update is ACTIVE the
  recommender keeps serving its previous model and configuration;
* ``maintain`` (``picks.workflows.schedules``): an automatic update (``mode`` UPDATE, the current
  model refreshed with what arrived since) or the weekly full retraining, published in place while
  the recommender stays ACTIVE; each is a ``ModelUpdate`` in ``RecommenderState.maintenance``.

RecommenderStatusChange carries StopRecommender (STOP PENDING -> STOP IN_PROGRESS -> INACTIVE),
StartRecommender (START PENDING -> START IN_PROGRESS -> ACTIVE, once the model loads) and
DeleteRecommender (DELETE PENDING, then the record goes).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from picks import arns, cache
from picks.domain.resources import RECOMMENDER_KIND, RECOMMENDER_UPDATE, ModelRef
from picks.domain.states import (
    ACTIVE,
    CREATE_FAILED,
    CREATE_IN_PROGRESS,
    CREATE_PENDING,
    DELETE_PENDING,
    INACTIVE,
    START_IN_PROGRESS,
    START_PENDING,
    STOP_IN_PROGRESS,
    STOP_PENDING,
)
from picks.serving.store import load_model
from picks.workflows.failures import failure_reason
from picks.workflows.solution_version import EXPECTED_FAILURES, stage_training, trained_model

if TYPE_CHECKING:
    from collections.abc import Callable

    from picks.domain.resources import Resource
    from picks.services import Services

WHAT = "Recommender"
CREATE = "create"
UPDATE = "update"
MAINTAIN = "maintain"
# StopRecommender / StartRecommender: (pending, in progress, done); a failed change goes back to
# the status it started from.
TRANSITIONS = {
    "stop": (STOP_PENDING, STOP_IN_PROGRESS, INACTIVE),
    "start": (START_PENDING, START_IN_PROGRESS, ACTIVE),
}
RESTORED_ON_FAILURE = {"stop": ACTIVE, "start": INACTIVE}


class RecommenderChanged(Exception):
    """The recommender is no longer in the state this execution was started for."""


def _update(services: Services, arn: str, change: Callable[[Resource], None]) -> Resource:
    def apply(resource: Resource) -> None:
        change(resource)
        resource.doc["lastUpdatedDateTime"] = services.clock()

    updated = services.resources.update(arn, apply, what=WHAT)
    # What the runtime serves changed: this process answers from the new record at once.
    cache.invalidate(cache.CAMPAIGNS, arn)
    return updated


def training_config(recommender: Resource, recommender_config: dict[str, Any]) -> dict[str, Any]:
    """The job's ``config.json``: the use case is the recipe; a recommender has no hyperparameters."""
    return {
        "recipe": arns.parse(recommender.doc["recipeArn"]).path,
        "recipeArn": recommender.doc["recipeArn"],
        "recommenderArn": recommender.arn,
        "datasetGroupArn": recommender.doc["datasetGroupArn"],
        "eventType": None,
        "solutionConfig": {},
        "performHPO": False,
        "trainingDataConfig": recommender_config.get("trainingDataConfig") or {},
    }


def _maintenance_index(resource: Resource, job_name: str) -> int:
    updates = resource.recommender_state.maintenance
    index = next((i for i, u in enumerate(updates) if u.job_name == job_name), None)
    if index is None or updates[index].status != CREATE_IN_PROGRESS:
        raise RecommenderChanged(f"{resource.arn}: maintenance job {job_name} is not running.")
    return index


def _mark_started(resource: Resource, state: dict[str, Any]) -> None:
    purpose = state["purpose"]
    if purpose == CREATE:
        if resource.doc.get("status") != CREATE_PENDING:
            raise RecommenderChanged(f"{resource.arn} is {resource.doc.get('status')}, not CREATE PENDING.")
        resource.doc["status"] = CREATE_IN_PROGRESS
    elif purpose == UPDATE:
        pending = resource.doc.get(RECOMMENDER_UPDATE) or {}
        if pending.get("status") != CREATE_PENDING:
            raise RecommenderChanged(f"{resource.arn} has no pending update.")
        pending["status"] = CREATE_IN_PROGRESS
    else:
        _maintenance_index(resource, state["jobName"])


def prepare(services: Services, state: dict[str, Any]) -> dict[str, Any]:
    started = services.clock()
    recommender = _update(services, state["recommenderArn"], lambda r: _mark_started(r, state))
    purpose = state["purpose"]
    if purpose == UPDATE and not state.get("retrain"):
        _activate(services, recommender.arn, state, model=None, metrics=None)
        return {**state, "status": ACTIVE}  # no training request: the workflow ends here
    config = recommender.doc.get("recommenderConfig") or {}
    if purpose == UPDATE:
        config = (recommender.doc.get(RECOMMENDER_UPDATE) or {}).get("recommenderConfig") or config
    mode = state.get("mode") or "FULL"
    previous = recommender.recommender_state.model if mode == "UPDATE" else None
    excluded = (config.get("trainingDataConfig") or {}).get("excludedDatasetColumns") or {}
    request, events_until = stage_training(
        services,
        recommender,
        recommender,
        state["jobName"],
        previous,
        config=training_config(recommender, config),
        excluded_columns={key.upper(): list(columns) for key, columns in excluded.items()},
    )

    def record(resource: Resource) -> None:
        if purpose == MAINTAIN:
            index = _maintenance_index(resource, state["jobName"])
            updates = resource.recommender_state.maintenance
            updates[index] = replace(updates[index], events_until=events_until)
        else:
            resource.recommender_state.training_job_name = state["jobName"]
            resource.recommender_state.events_until = events_until

    _update(services, recommender.arn, record)
    return {**state, "startedAt": started, "eventsUntil": events_until, "training": request.to_state()}


def model_prefix(recommender_arn: str, job_name: str) -> str:
    return f"models/{RECOMMENDER_KIND}/{arns.parse(recommender_arn).path}/{job_name}/"


def register(services: Services, state: dict[str, Any]) -> dict[str, Any]:
    arn = state["recommenderArn"]
    prefix, manifest = trained_model(services, state["trainingJob"], model_prefix(arn, state["jobName"]))
    model = ModelRef.from_manifest(prefix, manifest, int(state.get("eventsUntil") or 0))
    metrics = (manifest.get("info") or {}).get("metrics") or {}
    if state["purpose"] == MAINTAIN:
        _publish_maintenance(services, arn, state, model, metrics)
    else:
        _activate(services, arn, state, model=model, metrics=metrics)
    return {**state, "status": ACTIVE}


def _activate(
    services: Services,
    arn: str,
    state: dict[str, Any],
    *,
    model: ModelRef | None,
    metrics: dict[str, float] | None,
) -> None:
    """The created recommender, or its pending update, becomes ACTIVE (with ``model`` if trained)."""

    def activate(resource: Resource) -> None:
        doc = resource.doc
        if state["purpose"] == UPDATE:
            pending = doc.get(RECOMMENDER_UPDATE) or {}
            if pending.get("status") != CREATE_IN_PROGRESS:
                raise RecommenderChanged(f"{arn}: its update is {pending.get('status')}.")
            doc["recommenderConfig"] = pending["recommenderConfig"]
            pending["status"] = ACTIVE
            pending["lastUpdatedDateTime"] = services.clock()
            pending.pop("failureReason", None)
        elif doc.get("status") != CREATE_IN_PROGRESS:
            raise RecommenderChanged(f"{arn} is {doc.get('status')}, not CREATE IN_PROGRESS.")
        else:
            doc["status"] = ACTIVE
            doc.pop("failureReason", None)
        if model is not None:
            _serve(resource, model, metrics or {}, float(state.get("startedAt") or services.clock()))

    _update(services, arn, activate)


def _serve(resource: Resource, model: ModelRef, metrics: dict[str, float], trained: float) -> None:
    """``model`` (fully trained at ``trained``) is what the recommender serves from now on."""
    recommender_state = resource.recommender_state
    recommender_state.model = model
    recommender_state.metrics = dict(metrics)
    recommender_state.retrained = trained
    resource.doc["modelMetrics"] = dict(metrics)


def _publish_maintenance(
    services: Services, arn: str, state: dict[str, Any], model: ModelRef, metrics: dict[str, float]
) -> None:
    def swap(resource: Resource) -> None:
        index = _maintenance_index(resource, state["jobName"])
        updates = resource.recommender_state.maintenance
        now = services.clock()
        if resource.doc.get("status") not in (ACTIVE, INACTIVE, STOP_PENDING, STOP_IN_PROGRESS):
            reason = f"{arn} is {resource.doc.get('status')}: the model was not published."
            updates[index] = replace(
                updates[index], status=CREATE_FAILED, finished=now, failure_reason=reason
            )
            return
        if state.get("mode") == "UPDATE":
            # An update refreshes the model; its holdout metrics stay those of the last full training.
            resource.recommender_state.model = model
        else:
            _serve(resource, model, metrics, float(state.get("startedAt") or now))
        updates[index] = replace(updates[index], status=ACTIVE, finished=now)

    _update(services, arn, swap)


def record_failure(services: Services, state: dict[str, Any]) -> dict[str, Any]:
    """The Catch: a creation ends CREATE FAILED, an update's ``latestRecommenderUpdate`` CREATE
    FAILED (the recommender serves on as it was), a maintenance job failed in the history."""
    arn = state["recommenderArn"]
    if services.resources.find(arn) is None:
        return {**state, "status": CREATE_FAILED}
    reason = failure_reason(state.get("error") or {}, EXPECTED_FAILURES)[:1000]
    purpose = state["purpose"]
    if purpose == MAINTAIN:
        mark_maintenance_failed(services, arn, state["jobName"], reason)
        return {**state, "status": CREATE_FAILED}

    def fail(resource: Resource) -> None:
        doc = resource.doc
        if purpose == UPDATE and doc.get(RECOMMENDER_UPDATE):
            doc[RECOMMENDER_UPDATE]["status"] = CREATE_FAILED
            doc[RECOMMENDER_UPDATE]["failureReason"] = reason
        elif purpose == CREATE and doc.get("status") in (CREATE_PENDING, CREATE_IN_PROGRESS):
            doc["status"] = CREATE_FAILED
            doc["failureReason"] = reason

    _update(services, arn, fail)
    return {**state, "status": CREATE_FAILED}


def mark_maintenance_failed(services: Services, arn: str, job_name: str, reason: str) -> None:
    def fail(resource: Resource) -> None:
        index = _maintenance_index(resource, job_name)
        updates = resource.recommender_state.maintenance
        updates[index] = replace(
            updates[index], status=CREATE_FAILED, finished=services.clock(), failure_reason=reason
        )

    try:
        _update(services, arn, fail)
    except RecommenderChanged:
        pass  # already ended


def change_status(services: Services, state: dict[str, Any]) -> dict[str, Any]:
    """StopRecommender / StartRecommender / DeleteRecommender, after the control plane recorded the
    pending status."""
    arn = state["recommenderArn"]
    change = state["change"]
    if change == "delete":
        recommender = services.resources.get(arn, what=WHAT, kind=RECOMMENDER_KIND)
        if recommender.doc.get("status") != DELETE_PENDING:
            raise RecommenderChanged(f"{arn} is {recommender.doc.get('status')}, not DELETE PENDING.")
        services.resources.delete(arn)
        cache.invalidate(cache.CAMPAIGNS, arn)
        return {**state, "status": "DELETED"}
    pending, in_progress, done = TRANSITIONS[change]

    def begin(resource: Resource) -> None:
        if resource.doc.get("status") != pending:
            raise RecommenderChanged(f"{arn} is {resource.doc.get('status')}, not {pending}.")
        resource.doc["status"] = in_progress

    recommender = _update(services, arn, begin)
    model = recommender.recommender_state.model
    if change == "start" and model is not None:
        load_model(services.s3, services.settings.bucket_name, model.prefix)  # it serves again at once

    def finish(resource: Resource) -> None:
        resource.doc["status"] = done
        resource.doc.pop("failureReason", None)

    _update(services, arn, finish)
    return {**state, "status": done}


def status_record_failure(services: Services, state: dict[str, Any]) -> dict[str, Any]:
    """A stop or start that failed leaves the recommender where it was, saying why."""
    arn = state["recommenderArn"]
    restored = RESTORED_ON_FAILURE.get(state.get("change", ""), ACTIVE)
    if services.resources.find(arn) is None:
        return {**state, "status": restored}
    reason = failure_reason(state.get("error") or {}, EXPECTED_FAILURES)[:1000]

    def restore(resource: Resource) -> None:
        resource.doc["status"] = restored
        resource.doc["failureReason"] = reason

    _update(services, arn, restore)
    return {**state, "status": restored}


ACTIONS = {
    "recommender.prepare": prepare,
    "recommender.register": register,
    "recommender.record_failure": record_failure,
    "recommender.change_status": change_status,
    "recommender.status_record_failure": status_record_failure,
}
