"""aws-ecomm-recommended-for-you (Recommended for you): personalized item recommendations for a user.

``aws-user-personalization`` with its defaults, over every event type (the use case needs 1000
events of any type; View and Purchase are the recommended ones).  What the use case adds at request time comes
from the serving side: exploration of new items (the recommender's ``itemExplorationConfig``),
real-time personalization (PutEvents folded into the user's vector) and the automatic filter of
purchased items; ``refresh`` is the automatic update (new users and items folded in every 2 hours)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from training.recipes import user_personalization
from training.recipes.common import resolved_hyperparameters
from training.recipes.use_cases.common import UseCase

if TYPE_CHECKING:
    from collections.abc import Mapping

    import numpy as np
    from picks.model_artifact import ModelArtifact

    from training.data import Interactions, TrainingJob
    from training.recipes.user_personalization import Prepared

RECIPE = "aws-ecomm-recommended-for-you"
RECIPE_TYPE = user_personalization.RECIPE_TYPE
USE_CASE = UseCase(RECIPE, "Recommended for you", needs_items=False)
# Interacted items are not excluded wholesale (nor left to ``auto``): the use case's documented
# auto-filter (items the user purchased) is applied at request time, and items only viewed or clicked
# may be recommended again, as Personalize documents the use case.
DEFAULTS = {
    **resolved_hyperparameters(user_personalization.RECIPE, None),
    "exclude_interacted_items": "false",
}


def training_job(job: TrainingJob) -> TrainingJob:
    return USE_CASE.training_job(job)


def prepare(interactions: Interactions, params: Mapping[str, str]) -> Prepared:
    return user_personalization.prepare(interactions, {**DEFAULTS, **params})


def fit(
    interactions: Interactions, params: Mapping[str, str], *, seed: int = 0, prepared: Prepared | None = None
) -> ModelArtifact:
    return USE_CASE.labelled(
        user_personalization.fit(interactions, {**DEFAULTS, **params}, seed=seed, prepared=prepared)
    )


def refresh(
    artifact: ModelArtifact,
    interactions: Interactions,
    params: Mapping[str, str],
    users: np.ndarray | None = None,
    *,
    prepared: Prepared | None = None,
) -> ModelArtifact:
    return USE_CASE.labelled(
        user_personalization.refresh(artifact, interactions, {**DEFAULTS, **params}, users, prepared=prepared)
    )
