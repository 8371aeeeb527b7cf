"""The schedule tick: which solutions are due for automatic training or an automatic update, and
starting them.  One code path: on AWS an EventBridge Scheduler schedule invokes the ``scheduler``
function with the declared ``schedules.tick`` action (``declaration.SCHEDULES``); locally the
emulator's ticker invokes the same handler, on the emulator's clock (``Services.clock``).

* **Automatic training** (``performAutoTraining``, ``autoTrainingConfig.schedulingExpression``
  ``rate(N days)``): the first AUTOTRAIN version is due ``FIRST_TRAINING_AFTER_S`` after the
  solution was created, each next one N days after the previous automatic one was created.  The
  version (``trainingMode`` AUTOTRAIN, ``trainingType`` AUTOMATIC) is created through the same
  path as CreateSolutionVersion; campaigns with ``syncWithLatestSolutionVersion`` move to it when
  it is ACTIVE (``solution_version.register``).
* **Automatic update** (recipes that train in UPDATE mode: User-Personalization): the newest
  ACTIVE FULL or AUTOTRAIN version, when a campaign serves it (as Personalize requires), is
  updated ``UPDATE_INTERVAL_S`` after its model was last published or its last update started
  (``picks.workflows.model_update``).

* **Recommenders** (``picks.domain.use_cases``): an ACTIVE recommender is retrained in full
  ``RETRAIN_INTERVAL_S`` (a week) after its last full training started, and the use cases with
  automatic updates (Top picks for you, Recommended for you) are updated every
  ``UPDATE_INTERVAL_S`` (2 h) in between: RecommenderTraining with ``purpose`` "maintain"
  (``picks.workflows.recommender``), the model published in place.  An INACTIVE (stopped)
  recommender is skipped; once started again, what is due runs at the next tick.

Nothing starts for a solution while one of its versions trains, and a retraining that is due
goes before an update.  Idempotent: an automatic version's id is derived from the slot it fills
(a second tick's create finds it: ResourceAlreadyExistsException), and an update is claimed on the
version with a conditional write, so two ticks never start two trainings.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from picks import arns
from picks import recipe_catalog as catalog
from picks.controlplane import recommenders, solution_versions, solutions
from picks.domain import use_cases
from picks.domain.resources import CAMPAIGN_KIND, RECOMMENDER_KIND, RECOMMENDER_UPDATE, ModelUpdate
from picks.domain.states import (
    ACTIVE,
    CREATE_FAILED,
    CREATE_IN_PROGRESS,
    IN_PROGRESS_STATES,
    VERSION_BUSY_STATES,
)
from picks.errors import InvalidInputException, ResourceAlreadyExistsException, ResourceInUseException
from picks.observability import logger
from picks.workflows import model_update
from picks.workflows import recommender as recommender_workflow

if TYPE_CHECKING:
    from picks.domain.resources import Resource
    from picks.services import Services

SOLUTION_KIND = "solution"
# Declared in picks.workflows.declaration (which does not import the steps).
UPDATE_WORKFLOW = "SolutionVersionUpdate"
UPDATE_INTERVAL_S = 2 * 3600
# Personalize creates the first automatic version within an hour of the solution.
FIRST_TRAINING_AFTER_S = 3600
DAY_S = 86400
# An update still marked running after this long lost its workflow (the workflow's own timeout is
# 25 h): the next one may start.
UPDATE_ABANDONED_AFTER_S = 26 * 3600
# Updates kept in a version's (or recommender's maintenance) history: 12 a day, about a week.
HISTORY = 100
_RATE = re.compile(r"rate\((\d+) days?\)")
FULL_MODES = ("FULL", "AUTOTRAIN")


@dataclass(frozen=True)
class Started:
    """What a tick started: ``kind`` "training" (a new AUTOTRAIN version) or "update" of a solution
    version; "recommender-update" or "recommender-retraining" of a recommender (``arn_key``)."""

    kind: str
    solution_version_arn: str
    arn_key: str = "solutionVersionArn"

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, self.arn_key: self.solution_version_arn}


class _NotDue(Exception):
    """Raised inside a conditional update: the freshly read record is not due any more."""


def schedule_days(solution: Resource) -> int | None:
    """The automatic training interval in days; None where automatic training is off."""
    if not solution.doc.get("performAutoTraining"):
        return None
    config = (solution.doc.get("solutionConfig") or {}).get("autoTrainingConfig") or {}
    match = _RATE.fullmatch(config.get("schedulingExpression") or "")
    return int(match.group(1)) if match else None


def training_due(solution: Resource, versions: list[Resource], now: float) -> float | None:
    """The slot (epoch s) of the automatic training due at ``now``, or None if none is due."""
    days = schedule_days(solution)
    if days is None:
        return None
    automatic = [v for v in versions if v.doc.get("trainingType") == "AUTOMATIC"]
    due = automatic[-1].created + days * DAY_S if automatic else solution.created + FIRST_TRAINING_AFTER_S
    return due if now >= due else None


def updates_automatically(solution: Resource) -> bool:
    """Whether the solution's recipe trains in UPDATE mode (its deployed versions are updated)."""
    recipe = catalog.RECIPES.get(arns.parse(solution.doc["recipeArn"]).path)
    return recipe is not None and recipe.update_training


def update_candidate(solution: Resource, versions: list[Resource]) -> Resource | None:
    """The version automatic updates apply to: the newest ACTIVE FULL (or AUTOTRAIN) version of a
    solution whose recipe trains in UPDATE mode."""
    if not updates_automatically(solution):
        return None
    full = [
        v
        for v in versions
        if v.doc.get("status") == ACTIVE
        and (v.doc.get("trainingMode") or "FULL") in FULL_MODES
        and v.version_state.model is not None
    ]
    return full[-1] if full else None


def update_due(version: Resource, now: float) -> bool:
    """Whether ``version``'s model is due for an update at ``now``."""
    updates = version.version_state.updates
    if updates and updates[-1].status == CREATE_IN_PROGRESS:
        return now - updates[-1].started >= UPDATE_ABANDONED_AFTER_S
    since = (
        updates[-1].started if updates else float(version.doc.get("lastUpdatedDateTime") or version.created)
    )
    return now >= since + UPDATE_INTERVAL_S


def slot_version_id(solution_arn: str, slot: float) -> str:
    """The id of the automatic version filling ``slot``: the same for every tick that sees it due."""
    return hashlib.sha256(f"{solution_arn}#autotrain#{slot:.3f}".encode()).hexdigest()[:8]


def tick(services: Services) -> list[Started]:
    """Start every automatic training and update due now; returns what was started."""
    now = services.clock()
    started: list[Started] = []
    for solution in services.resources.list(SOLUTION_KIND):
        try:
            begun = _tick_solution(services, solution, now)
        except Exception:  # noqa: BLE001 - one solution's failure must not stop the others
            logger.exception("schedule tick failed for a solution", extra={"solutionArn": solution.arn})
            continue
        if begun is not None:
            started.append(begun)
    for recommender in services.resources.list(RECOMMENDER_KIND):
        try:
            begun = _tick_recommender(services, recommender, now)
        except Exception:  # noqa: BLE001 - one recommender's failure must not stop the others
            logger.exception(
                "schedule tick failed for a recommender", extra={"recommenderArn": recommender.arn}
            )
            continue
        if begun is not None:
            started.append(begun)
    return started


def _tick_solution(services: Services, solution: Resource, now: float) -> Started | None:
    if solution.doc.get("status") != ACTIVE:
        return None
    if schedule_days(solution) is None and not updates_automatically(solution):
        return None  # nothing can be due: its versions need not be listed
    versions = solutions.versions_of(services, solution.arn)
    if any(v.doc.get("status") in VERSION_BUSY_STATES for v in versions):
        return None  # one training at a time per solution; the next tick looks again
    slot = training_due(solution, versions, now)
    if slot is not None:
        return _start_training(services, solution, slot)
    version = update_candidate(solution, versions)
    if version is None or not update_due(version, now) or not _served(services, solution, version):
        return None
    return _start_update(services, version, now)


def _start_training(services: Services, solution: Resource, slot: float) -> Started | None:
    try:
        arn = solution_versions.start_training(
            services, solution, mode="AUTOTRAIN", version_id=slot_version_id(solution.arn, slot)
        )
    except ResourceAlreadyExistsException:
        return None  # another tick filled this slot
    except (InvalidInputException, ResourceInUseException) as error:
        # Nothing to train on yet, or a version started meanwhile: the next tick looks again.
        logger.info("automatic training skipped", extra={"solutionArn": solution.arn, "reason": str(error)})
        return None
    logger.info("automatic training started", extra={"solutionVersionArn": arn})
    return Started("training", arn)


def _with_running(history: list[ModelUpdate], update: ModelUpdate) -> list[ModelUpdate]:
    """A version's updates (or a recommender's maintenance) with the running ``update`` appended,
    the last ``HISTORY`` kept; a last one still running (its workflow lost) is closed as failed."""
    if history and history[-1].status == CREATE_IN_PROGRESS:
        abandoned = replace(
            history[-1],
            status=CREATE_FAILED,
            finished=update.started,
            failure_reason="abandoned: its workflow never ended",
        )
        history = [*history[:-1], abandoned]
    return [*history, update][-HISTORY:]


def _served(services: Services, solution: Resource, version: Resource) -> bool:
    """Whether a campaign serves ``version`` (Personalize updates only a deployed version)."""
    return any(
        campaign.campaign_state.serving_version_arn == version.arn
        for campaign in services.resources.list(CAMPAIGN_KIND, parent=solution.arn)
    )


def _start_update(services: Services, version: Resource, now: float) -> Started | None:
    claimed: list[ModelUpdate] = []

    def claim(resource: Resource) -> None:
        # Decided on the record being written: of two ticks, the second sees the first's claim.
        claimed.clear()
        if resource.doc.get("status") != ACTIVE or not update_due(resource, now):
            raise _NotDue(resource.arn)
        update = ModelUpdate(
            started=now,
            job_name=model_update.update_job_name(resource, now),
            status=CREATE_IN_PROGRESS,
        )
        resource.version_state.updates = _with_running(resource.version_state.updates, update)
        claimed.append(update)

    try:
        services.resources.update(version.arn, claim, what="Solution version")
    except _NotDue:
        return None
    job_name = claimed[0].job_name
    payload: dict[str, Any] = {"solutionVersionArn": version.arn, "jobName": job_name}
    try:
        services.workflows.start(UPDATE_WORKFLOW, job_name, payload)
    except Exception as error:
        model_update.mark_failed(
            services, version.arn, job_name, f"the update could not start: {error}"[:1000]
        )
        raise
    logger.info("automatic update started", extra={"solutionVersionArn": version.arn, "jobName": job_name})
    return Started("update", version.arn)


def recommender_due(recommender: Resource, now: float) -> str | None:
    """The maintenance due for an ACTIVE recommender at ``now``: "FULL" (the weekly retraining),
    "UPDATE" (the 2-hourly automatic update, for the use cases that have it) or None."""
    recommender_state = recommender.recommender_state
    if recommender.doc.get("status") != ACTIVE or recommender_state.model is None:
        return None  # a stopped recommender is not maintained (StopRecommender); Start resumes
    if (recommender.doc.get(RECOMMENDER_UPDATE) or {}).get("status") in IN_PROGRESS_STATES:
        return None  # UpdateRecommender's own training goes first
    history = recommender_state.maintenance
    if (
        history
        and history[-1].status == CREATE_IN_PROGRESS
        and now - history[-1].started < UPDATE_ABANDONED_AFTER_S
    ):
        return None
    if now >= recommender_state.retrained + use_cases.RETRAIN_INTERVAL_S:
        return "FULL"
    use_case = use_cases.USE_CASES.get(arns.parse(recommender.doc["recipeArn"]).path)
    if use_case is None or not use_case.automatic_updates:
        return None
    since = max([recommender_state.retrained] + [update.started for update in history])
    return "UPDATE" if now >= since + use_cases.UPDATE_INTERVAL_S else None


def _tick_recommender(services: Services, recommender: Resource, now: float) -> Started | None:
    mode = recommender_due(recommender, now)
    if mode is None:
        return None
    job_name = recommenders.job_name(recommender.doc["name"], "u" if mode == "UPDATE" else "r")

    def claim(resource: Resource) -> None:
        # Decided on the record being written: of two ticks, the second sees the first's claim.
        if recommender_due(resource, now) != mode:
            raise _NotDue(resource.arn)
        update = ModelUpdate(started=now, job_name=job_name, status=CREATE_IN_PROGRESS)
        resource.recommender_state.maintenance = _with_running(resource.recommender_state.maintenance, update)

    try:
        services.resources.update(recommender.arn, claim, what="Recommender")
    except _NotDue:
        return None
    payload = {"purpose": recommender_workflow.MAINTAIN, "mode": mode, "jobName": job_name}
    try:
        recommenders.start_training(services, recommender, payload)
    except Exception as error:
        recommender_workflow.mark_maintenance_failed(
            services, recommender.arn, job_name, f"the update could not start: {error}"[:1000]
        )
        raise
    kind = "recommender-update" if mode == "UPDATE" else "recommender-retraining"
    logger.info(
        "recommender maintenance started", extra={"recommenderArn": recommender.arn, "jobName": job_name}
    )
    return Started(kind, recommender.arn, arn_key="recommenderArn")


def run_tick(services: Services, state: dict[str, Any]) -> dict[str, Any]:
    """The ``schedules.tick`` action: the scheduled event's input is ignored; the clock decides."""
    return {"started": [started.to_json() for started in tick(services)]}


ACTIONS = {"schedules.tick": run_tick}
