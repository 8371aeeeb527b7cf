"""What the domain use cases (CreateRecommender's recipes) share at training: their documented data
requirements, checked with the counts found, and the event types their models learn from.

Every use case needs at least ``MINIMUM_INTERACTIONS`` interactions and ``MINIMUM_REPEAT_USERS``
users with two or more (the developer guide's VIDEO_ON_DEMAND / ECOMMERCE use-case pages); a use
case that names a required event type (Most popular: ``Watch``, Best sellers: ``Purchase``, ...)
needs at least ``MINIMUM_EVENTS`` of it, and its model learns from those events alone.  Event
types match case-insensitively, as filters match them.  A failure is a ``TrainingDataError`` whose
message names the use case, the event type and the counts: the training job's failure reason, so
the recommender ends CREATE FAILED saying what to import.

The thresholds are module constants: the documented values, which tests on small data lower.

The models are the recipes picks already trains: a ``UseCase`` declares its base recipe and the
hyperparameters it fixes over that recipe's defaults, and is itself the recipe interface
``training.train`` calls (``RECIPE``, ``RECIPE_TYPE``, ``TABLES``, ``DEFAULTS``, ``training_job``,
``fit``).  ``training.train`` merges ``DEFAULTS`` under the solution's hyperparameters (a use
case's catalog entry has none: recommenders take none), so ``fit`` gets them resolved, as every
recipe's does.  The artifacts keep the base recipe's name (the serving side picks its model class
by it: ``aws-trending-now`` is a ``TrendingModel``) and carry the use case in ``info["useCase"]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from training.data import (
    Interactions,
    TrainingDataError,
    TrainingJob,
    column_counts,
    dense,
    in_user_time_order,
)
from training.recipes.common import resolved_hyperparameters

if TYPE_CHECKING:
    from collections.abc import Mapping
    from types import ModuleType

    from picks.model_artifact import ModelArtifact

MINIMUM_INTERACTIONS = 1000
MINIMUM_REPEAT_USERS = 25
MINIMUM_EVENTS = 1000
# At most this many event types are listed in a failure message (the most frequent first).
LISTED_EVENT_TYPES = 5


@dataclass(frozen=True, eq=False)
class UseCase:
    """One use case at training: its data requirements and the recipe that trains its model."""

    recipe: str  # the recipe ARN's last part, e.g. aws-ecomm-popular-items-by-purchases
    title: str  # the developer guide's name, e.g. Best sellers
    base: ModuleType  # the recipe module (training.recipes) whose model the use case serves
    # The required event type: at least MINIMUM_EVENTS of it, and the only events trained on.
    event_type: str | None = None
    needs_items: bool = False  # the ITEMS dataset is a required dataset
    # Hyperparameters the use case sets over the base recipe's defaults.
    fixed: Mapping[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.recipe} ({self.title})"

    # training.recipes' module interface, which training.train reads.
    @property
    def RECIPE(self) -> str:
        return self.recipe

    @property
    def RECIPE_TYPE(self) -> str:
        return str(self.base.RECIPE_TYPE)

    @property
    def TABLES(self) -> tuple[str, ...]:
        return tuple(getattr(self.base, "TABLES", ()))

    @property
    def DEFAULTS(self) -> dict[str, str]:
        return {**resolved_hyperparameters(self.base.RECIPE, None), **self.fixed}

    def fit(
        self, interactions: Interactions, params: Mapping[str, str], *, seed: int = 0, **inputs: Any
    ) -> ModelArtifact:
        """The base recipe's model of ``interactions`` (``inputs``: the ``TABLES`` and whatever
        else the base recipe's ``fit`` takes), labelled with the use case."""
        return self.labelled(self.base.fit(interactions, params, seed=seed, **inputs))

    def check(self, job: TrainingJob) -> None:
        """The use case's documented data requirements, on every interaction of the dataset group."""
        check_minimums(job.interactions, self.name)
        if self.event_type is not None:
            check_event_count(job.interactions, self.event_type, self.name)
        if self.needs_items and job.items is None:
            raise TrainingDataError(f"{self.name} needs an Items dataset; the dataset group has none.")

    def training_job(self, job: TrainingJob) -> TrainingJob:
        """``job`` checked, and narrowed to the use case's event type where it has one (the
        solution's ``eventType`` as well, so the model's event rule says what it learned from)."""
        self.check(job)
        if self.event_type is None:
            return job
        return replace(
            job,
            config={**job.config, "eventType": self.event_type},
            interactions=of_event_type(job.interactions, self.event_type),
        )

    def labelled(self, artifact: ModelArtifact) -> ModelArtifact:
        artifact.info["useCase"] = self.recipe
        return artifact


@dataclass(frozen=True, eq=False)
class PreparingUseCase(UseCase):
    """A use case over a recipe that builds its costly inputs once per job (``prepare``, e.g.
    similar-items' item features): forwarded, so the holdout fit, the final fit and HPO trials
    share them as they do for the base recipe (``UseCase.fit`` passes ``prepared`` on)."""

    def prepare(self, interactions: Interactions, params: Mapping[str, str], **tables: Any) -> Any:
        return self.base.prepare(interactions, params, **tables)


def check_minimums(interactions: Interactions, name: str) -> None:
    found = len(interactions)
    if found < MINIMUM_INTERACTIONS:
        raise TrainingDataError(f"{name} needs at least {MINIMUM_INTERACTIONS} interactions; found {found}.")
    repeat_users = int(np.count_nonzero(interactions.user_counts >= 2))
    if repeat_users < MINIMUM_REPEAT_USERS:
        raise TrainingDataError(
            f"{name} needs at least {MINIMUM_REPEAT_USERS} users with 2 or more interactions; "
            f"found {repeat_users}."
        )


def event_type_counts(interactions: Interactions) -> dict[str, int]:
    """Interactions per (lower-cased) event type, most frequent first; {} without event types."""
    if interactions.event_types is None or interactions.event_type_names is None:
        return {}
    names = interactions.event_type_names.tolist()
    counts = column_counts(interactions.event_types.astype(np.int64), len(names) + 1)[: len(names)]
    found = {str(name): int(count) for name, count in zip(names, counts.tolist(), strict=True) if count}
    return dict(sorted(found.items(), key=lambda pair: (-pair[1], pair[0])))


def check_event_count(interactions: Interactions, event_type: str, name: str) -> None:
    counts = event_type_counts(interactions)
    found = counts.get(event_type.lower(), 0)
    if found >= MINIMUM_EVENTS:
        return
    if interactions.event_types is None:
        seen = "the interactions dataset has no EVENT_TYPE column"
    else:
        listed = list(counts.items())[:LISTED_EVENT_TYPES]
        seen = "event types found: " + (", ".join(f"{t} {n}" for t, n in listed) or "none")
    raise TrainingDataError(
        f"{name} needs at least {MINIMUM_EVENTS} interactions with EVENT_TYPE '{event_type}' "
        f"(matched case-insensitively); found {found} among {len(interactions)} interactions "
        f"({seen})."
    )


def rows_of_event_type(interactions: Interactions, event_type: str) -> np.ndarray:
    """Row numbers of the interactions whose event type is ``event_type`` (case-insensitively)."""
    names = [] if interactions.event_type_names is None else interactions.event_type_names.tolist()
    if interactions.event_types is None or event_type.lower() not in names:
        return np.empty(0, dtype=np.int64)
    return np.flatnonzero(interactions.event_types == names.index(event_type.lower()))


def of_event_type(interactions: Interactions, event_type: str) -> Interactions:
    """The interactions of one event type, users and items renumbered over those alone (an item
    never bought is not a best seller, nor anyone's co-purchase)."""
    rows = rows_of_event_type(interactions, event_type)
    used_users, users = dense(interactions.users[rows], interactions.user_count)
    used_items, items = dense(interactions.items[rows], interactions.item_count)
    assert interactions.event_types is not None  # rows_of_event_type found some
    return in_user_time_order(
        Interactions(
            users=users,
            items=items,
            timestamps=interactions.timestamps[rows],
            weights=interactions.weights[rows],
            user_ids=interactions.user_ids[used_users],
            item_ids=interactions.item_ids[used_items],
            event_types=interactions.event_types[rows],
            event_type_names=interactions.event_type_names,
        )
    )
