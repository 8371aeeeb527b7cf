"""aws-ecomm-popular-items-by-purchases (Best sellers): the items bought by the most users.

``aws-popularity-count`` (items ranked by how many distinct users interacted with them) over the
``Purchase`` events alone; at least 1000 of them are required (``use_cases.common``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from training.recipes import popularity_count
from training.recipes.common import resolved_hyperparameters
from training.recipes.use_cases.common import UseCase

if TYPE_CHECKING:
    from collections.abc import Mapping

    from picks.model_artifact import ModelArtifact

    from training.data import Interactions, TrainingJob

RECIPE = "aws-ecomm-popular-items-by-purchases"
RECIPE_TYPE = popularity_count.RECIPE_TYPE
USE_CASE = UseCase(RECIPE, "Best sellers", event_type="Purchase")
DEFAULTS = resolved_hyperparameters(popularity_count.RECIPE, None)


def training_job(job: TrainingJob) -> TrainingJob:
    return USE_CASE.training_job(job)


def fit(interactions: Interactions, params: Mapping[str, str], *, seed: int = 0) -> ModelArtifact:
    return USE_CASE.labelled(popularity_count.fit(interactions, {**DEFAULTS, **params}, seed=seed))
