"""aws-vod-trending-now (Trending now): the videos whose popularity grows fastest.

``aws-trending-now`` with its default window (``trend_discovery_frequency`` 2 hours) over every
event type (the use case needs 1000 events of any type).  The model keeps its data's last two
windows and the runtime recomputes the trend from the dataset group's live events at request time,
so trends move every window without retraining (Personalize: "every two hours")."""

from __future__ import annotations

from typing import TYPE_CHECKING

from training.recipes import trending_now
from training.recipes.common import resolved_hyperparameters
from training.recipes.use_cases.common import UseCase

if TYPE_CHECKING:
    from collections.abc import Mapping

    from picks.model_artifact import ModelArtifact

    from training.data import Interactions, TrainingJob

RECIPE = "aws-vod-trending-now"
RECIPE_TYPE = trending_now.RECIPE_TYPE
USE_CASE = UseCase(RECIPE, "Trending now")
DEFAULTS = resolved_hyperparameters(trending_now.RECIPE, None)


def training_job(job: TrainingJob) -> TrainingJob:
    return USE_CASE.training_job(job)


def fit(interactions: Interactions, params: Mapping[str, str], *, seed: int = 0) -> ModelArtifact:
    return USE_CASE.labelled(trending_now.fit(interactions, {**DEFAULTS, **params}, seed=seed))
