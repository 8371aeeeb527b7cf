"""aws-vod-more-like-x (More like X): videos similar to a given one, by co-watching and metadata.

``aws-similar-items`` with its defaults: SIMS co-occurrence over every event type (the use case
needs 1000 events of any type; Watch and Click are the recommended ones) blended with the
similarity of the items' metadata (the ITEMS dataset, which the use case requires), so videos
with few interactions get neighbours too."""

from __future__ import annotations

from typing import TYPE_CHECKING

from training.recipes import similar_items
from training.recipes.common import resolved_hyperparameters
from training.recipes.use_cases.common import UseCase

if TYPE_CHECKING:
    from collections.abc import Mapping

    from picks.ingest.columnar import ColumnTable
    from picks.model_artifact import ModelArtifact

    from training.data import Interactions, TrainingJob

RECIPE = "aws-vod-more-like-x"
RECIPE_TYPE = similar_items.RECIPE_TYPE
TABLES = similar_items.TABLES
USE_CASE = UseCase(RECIPE, "More like X", needs_items=True)
DEFAULTS = resolved_hyperparameters(similar_items.RECIPE, None)


def training_job(job: TrainingJob) -> TrainingJob:
    return USE_CASE.training_job(job)


def fit(
    interactions: Interactions,
    params: Mapping[str, str],
    *,
    seed: int = 0,
    items: ColumnTable | None = None,
) -> ModelArtifact:
    return USE_CASE.labelled(similar_items.fit(interactions, {**DEFAULTS, **params}, seed=seed, items=items))
