"""The schedule tick (picks.workflows.schedules): when automatic training and automatic updates are
due, and that ticks are idempotent (two ticks never start two trainings)."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

import pytest
from picks.domain.resources import CampaignState, DatasetState, ModelRef, ModelUpdate, Resource, TableRef
from picks.domain.states import ACTIVE, CREATE_FAILED, CREATE_IN_PROGRESS
from picks.workflows import schedules
from picks.workflows.declaration import SCHEDULES
from picks.workflows.schedules import DAY_S, FIRST_TRAINING_AFTER_S, UPDATE_INTERVAL_S

from emulator.recovery import end_interrupted_jobs
from emulator.schedules import AdjustableClock, ScheduleTicker

ACCOUNT = "arn:aws:personalize:us-east-1:000000000000"
GROUP = f"{ACCOUNT}:dataset-group/g"
SOLUTION = f"{ACCOUNT}:solution/s"
RECIPES = "arn:aws:personalize:::recipe/"
T0 = 1_700_000_000.0
MODEL = ModelRef(prefix="models/s/v/", recipe="aws-user-personalization", recipe_type="USER_PERSONALIZATION")


def solution(
    created: float = T0, *, auto: bool = True, rate: str = "rate(7 days)", recipe: str = ""
) -> Resource:
    doc = {
        "solutionArn": SOLUTION,
        "datasetGroupArn": GROUP,
        "recipeArn": RECIPES + (recipe or "aws-user-personalization"),
        "performAutoTraining": auto,
        "solutionConfig": {"autoTrainingConfig": {"schedulingExpression": rate}} if auto else {},
        "status": ACTIVE,
    }
    return Resource(arn=SOLUTION, kind="solution", doc=doc, parent=GROUP, created=created)


def version(
    vid: str,
    created: float,
    *,
    mode: str = "FULL",
    status: str = ACTIVE,
    updates: list[ModelUpdate] | None = None,
) -> Resource:
    arn = f"{SOLUTION}/{vid}"
    doc = {
        "solutionVersionArn": arn,
        "solutionArn": SOLUTION,
        "trainingMode": mode,
        "trainingType": "AUTOMATIC" if mode == "AUTOTRAIN" else "MANUAL",
        "status": status,
        "creationDateTime": created,
        "lastUpdatedDateTime": created + 600,  # ACTIVE ten minutes after it was created
    }
    resource = Resource(arn=arn, kind="solution-version", doc=doc, parent=SOLUTION, created=created)
    resource.version_state.model = MODEL if status == ACTIVE else None
    resource.version_state.updates = list(updates or [])
    return resource


# --- due-ness ------------------------------------------------------------------------------------


def test_the_first_automatic_training_is_due_an_hour_after_the_solution() -> None:
    s = solution()
    assert schedules.training_due(s, [], T0 + FIRST_TRAINING_AFTER_S - 1) is None
    assert schedules.training_due(s, [], T0 + FIRST_TRAINING_AFTER_S) == T0 + FIRST_TRAINING_AFTER_S


def test_the_next_automatic_training_is_due_n_days_after_the_last_automatic_one() -> None:
    s = solution(rate="rate(3 days)")
    automatic = version("a1", T0 + 3600, mode="AUTOTRAIN")
    manual = version("m1", T0 + 2 * DAY_S)  # manual versions do not move the schedule
    due = automatic.created + 3 * DAY_S
    assert schedules.training_due(s, [automatic, manual], due - 1) is None
    assert schedules.training_due(s, [automatic, manual], due + 5) == due


@pytest.mark.parametrize("kwargs", [{"auto": False}, {"rate": "weekly"}])
def test_no_automatic_training_without_a_schedule(kwargs: dict[str, Any]) -> None:
    assert schedules.training_due(solution(**kwargs), [], T0 + 365 * DAY_S) is None


def test_updates_apply_to_the_newest_active_full_or_autotrain_version_of_an_update_recipe() -> None:
    full = version("f1", T0)
    auto = version("a1", T0 + 10, mode="AUTOTRAIN")
    update_mode = version("u1", T0 + 20, mode="UPDATE")
    failed = version("f2", T0 + 30, status=CREATE_FAILED)
    assert schedules.update_candidate(solution(), [full, auto, update_mode, failed]) is auto
    assert schedules.update_candidate(solution(), [full, update_mode]) is full
    assert schedules.update_candidate(solution(), [update_mode, failed]) is None
    assert schedules.update_candidate(solution(recipe="aws-sims"), [full]) is None


def test_an_update_is_due_two_hours_after_the_model_was_published_or_the_last_update_started() -> None:
    fresh = version("f1", T0)
    published = fresh.doc["lastUpdatedDateTime"]
    assert not schedules.update_due(fresh, published + UPDATE_INTERVAL_S - 1)
    assert schedules.update_due(fresh, published + UPDATE_INTERVAL_S)
    done = ModelUpdate(started=T0 + 5 * 3600, job_name="j1", status=ACTIVE, finished=T0 + 5 * 3600 + 60)
    updated = version("f1", T0, updates=[done])
    assert not schedules.update_due(updated, done.started + UPDATE_INTERVAL_S - 1)
    assert schedules.update_due(updated, done.started + UPDATE_INTERVAL_S)


def test_a_running_update_blocks_the_next_until_it_is_abandoned() -> None:
    running = ModelUpdate(started=T0, job_name="j1", status=CREATE_IN_PROGRESS)
    v = version("f1", T0 - DAY_S, updates=[running])
    assert not schedules.update_due(v, T0 + 10 * UPDATE_INTERVAL_S)
    assert schedules.update_due(v, T0 + schedules.UPDATE_ABANDONED_AFTER_S)


def test_the_slot_names_the_automatic_version() -> None:
    first = schedules.slot_version_id(SOLUTION, T0)
    assert first == schedules.slot_version_id(SOLUTION, T0)
    assert first != schedules.slot_version_id(SOLUTION, T0 + 7 * DAY_S)
    assert len(first) == 8 and int(first, 16) >= 0


# --- idempotency, against moto -------------------------------------------------------------------


class RecordingStarter:
    def __init__(self) -> None:
        self.started: list[tuple[str, str, dict[str, Any]]] = []

    def start(self, workflow: str, execution_name: str, payload: dict[str, Any]) -> str:
        self.started.append((workflow, execution_name, payload))
        return f"local:{workflow}:{execution_name}"


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def scheduled(services: Any) -> tuple[Any, RecordingStarter, Clock]:
    """A dataset group with imported interactions and a User-Personalization solution, on a clock
    the test sets, with a starter that records instead of running."""
    clock, starter = Clock(T0), RecordingStarter()
    scoped = replace(services, workflows=starter, clock=clock)
    store = scoped.resources
    store.create(Resource(arn=GROUP, kind="dataset-group", doc={"status": ACTIVE}, created=T0), what="g")
    dataset = Resource(
        arn=f"{ACCOUNT}:dataset/g/INTERACTIONS",
        kind="dataset",
        doc={"datasetType": "INTERACTIONS", "status": ACTIVE},
        parent=GROUP,
        created=T0,
        state=DatasetState(data=TableRef(prefix="datasets/g/INTERACTIONS/1/", row_count=5000)),
    )
    store.create(dataset, what="d")
    store.create(solution(), what="s")
    return scoped, starter, clock


def test_two_ticks_start_one_automatic_training(scheduled: tuple[Any, RecordingStarter, Clock]) -> None:
    services, starter, clock = scheduled
    clock.now = T0 + FIRST_TRAINING_AFTER_S
    first = schedules.tick(services)
    second = schedules.tick(services)  # the first's version is CREATE PENDING: busy
    assert [s.kind for s in first] == ["training"] and second == []
    (arn,) = [s.solution_version_arn for s in first]
    assert [(w, p) for w, _, p in starter.started] == [
        ("SolutionVersionTraining", {"solutionVersionArn": arn})
    ]
    created = services.resources.get(arn, what="v").doc
    assert (created["trainingMode"], created["trainingType"]) == ("AUTOTRAIN", "AUTOMATIC")


def test_a_tick_that_missed_the_others_version_still_starts_nothing(
    scheduled: tuple[Any, RecordingStarter, Clock],
) -> None:
    """Two ticks that both saw the slot due (neither saw the other's version) name the same version:
    the second create fails, and only one training starts."""
    services, starter, clock = scheduled
    clock.now = T0 + FIRST_TRAINING_AFTER_S + 30
    s = services.resources.get(SOLUTION, what="s")
    slot = schedules.training_due(s, [], clock.now)
    assert slot is not None
    assert schedules._start_training(services, s, slot) is not None
    assert schedules._start_training(services, s, slot) is None
    assert len(starter.started) == 1


def _deployed_full_version(services: Any, clock: Clock) -> Resource:
    """An ACTIVE FULL version served by a campaign, and no automatic training due."""
    s = services.resources.get(SOLUTION, what="s")
    s.doc["performAutoTraining"] = False
    services.resources.save(s)
    full = version("f1", clock.now)
    services.resources.create(full, what="v")
    campaign = Resource(
        arn=f"{ACCOUNT}:campaign/c",
        kind="campaign",
        doc={"status": ACTIVE, "solutionVersionArn": full.arn},
        parent=SOLUTION,
        created=clock.now,
        state=CampaignState(serving_version_arn=full.arn),
    )
    services.resources.create(campaign, what="c")
    return full


def test_two_ticks_start_one_update_and_it_is_recorded_on_the_version(
    scheduled: tuple[Any, RecordingStarter, Clock],
) -> None:
    services, starter, clock = scheduled
    full = _deployed_full_version(services, clock)
    clock.now = full.doc["lastUpdatedDateTime"] + UPDATE_INTERVAL_S - 1
    assert schedules.tick(services) == []
    clock.now += 1
    first, second = schedules.tick(services), schedules.tick(services)
    assert [s.to_json() for s in first] == [{"kind": "update", "solutionVersionArn": full.arn}]
    assert second == []
    ((workflow, _, payload),) = starter.started
    (update,) = services.resources.get(full.arn, what="v").version_state.updates
    assert workflow == "SolutionVersionUpdate"
    assert payload == {"solutionVersionArn": full.arn, "jobName": update.job_name}
    assert (update.status, update.started) == (CREATE_IN_PROGRESS, clock.now)


def test_racing_update_claims_start_one_update(scheduled: tuple[Any, RecordingStarter, Clock]) -> None:
    """Two ticks read the version before either claimed it: the claim is decided on the fresh record."""
    services, starter, clock = scheduled
    full = _deployed_full_version(services, clock)
    clock.now += 3 * UPDATE_INTERVAL_S
    stale = services.resources.get(full.arn, what="v")
    assert schedules._start_update(services, stale, clock.now) is not None
    assert schedules._start_update(services, stale, clock.now) is None
    assert len(starter.started) == 1


def test_an_undeployed_version_is_not_updated(scheduled: tuple[Any, RecordingStarter, Clock]) -> None:
    services, starter, clock = scheduled
    full = _deployed_full_version(services, clock)
    services.resources.delete(f"{ACCOUNT}:campaign/c")
    clock.now = full.doc["lastUpdatedDateTime"] + 10 * UPDATE_INTERVAL_S
    assert schedules.tick(services) == [] and starter.started == []


def test_an_update_that_cannot_start_is_recorded_as_failed(
    scheduled: tuple[Any, RecordingStarter, Clock],
) -> None:
    services, starter, clock = scheduled
    full = _deployed_full_version(services, clock)
    clock.now += 3 * UPDATE_INTERVAL_S

    def refuse(workflow: str, execution_name: str, payload: dict[str, Any]) -> str:
        raise RuntimeError("throttled")

    starter.start = refuse  # type: ignore[method-assign]
    assert schedules.tick(services) == []  # logged; the other solutions would still tick
    (update,) = services.resources.get(full.arn, what="v").version_state.updates
    assert update.status == CREATE_FAILED and "throttled" in (update.failure_reason or "")
    # ... and the next one is due two hours after the failed one started
    assert not schedules.update_due(services.resources.get(full.arn, what="v"), clock.now + 60)


# --- the emulator's ticker and clock -------------------------------------------------------------


def test_the_emulator_ticker_invokes_each_declared_schedule_on_its_rate() -> None:
    calls: list[tuple[str, dict[str, Any]]] = []
    ticked = threading.Event()

    def invoke(function: str, event: dict[str, Any]) -> dict[str, Any]:
        calls.append((function, event))
        ticked.set()
        return {"started": [{"kind": "update", "solutionVersionArn": "v"}]}

    assert ScheduleTicker(invoke).interval_s == min(s.every_minutes for s in SCHEDULES) * 60
    ticker = ScheduleTicker(invoke, interval_s=0.01)
    ticker.start()
    try:
        assert ticked.wait(10)
    finally:
        ticker.stop()
    assert calls[0] == ("scheduler", {"action": "schedules.tick", "input": {}})
    off = ScheduleTicker(invoke, interval_s=0)
    off.start()  # 0: only when asked
    assert off.tick() == [{"kind": "update", "solutionVersionArn": "v"}] * len(SCHEDULES)


def test_the_emulator_clock_only_moves_forward() -> None:
    clock = AdjustableClock()
    before = clock()
    assert clock.advance(7200) >= before + 7200 and clock.offset == 7200
    with pytest.raises(ValueError, match="advance"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="advance"):
        clock.advance(float("nan"))


def test_an_update_running_when_the_emulator_stopped_ends_failed_at_restart(
    scheduled: tuple[Any, RecordingStarter, Clock],
) -> None:
    services, _, clock = scheduled
    full = _deployed_full_version(services, clock)
    clock.now += 3 * UPDATE_INTERVAL_S
    assert schedules.tick(services) != []

    assert end_interrupted_jobs(services) == [full.arn]

    after = services.resources.get(full.arn, what="v")
    (update,) = after.version_state.updates
    assert update.status == CREATE_FAILED and "Interrupted" in (update.failure_reason or "")
    assert after.doc["status"] == ACTIVE and after.version_state.model == MODEL  # still serving its model
    assert schedules.update_due(after, clock.now + UPDATE_INTERVAL_S)  # the next one is not blocked
