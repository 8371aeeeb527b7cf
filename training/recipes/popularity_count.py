"""aws-popularity-count: items ranked by how many distinct users interacted with them.

The solution's eventType / eventValueThreshold are applied when the channel is loaded, so the
counts respect them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from picks.model_artifact import ModelArtifact

from training.recipes.common import unique_user_counts

if TYPE_CHECKING:
    from collections.abc import Mapping

    from training.data import Interactions

RECIPE = "aws-popularity-count"
RECIPE_TYPE = "POPULAR_ITEMS"


def fit(interactions: Interactions, params: Mapping[str, str], *, seed: int = 0) -> ModelArtifact:
    counts = unique_user_counts(interactions)
    return ModelArtifact(
        recipe=RECIPE,
        recipe_type=RECIPE_TYPE,
        item_ids=interactions.item_ids,
        arrays={"popularity": counts},
        info={"hyperParameters": dict(params)},
    )
