"""What the two personalized use cases share, Top picks for you (VIDEO_ON_DEMAND) and Recommended
for you (ECOMMERCE): ``aws-user-personalization`` with its defaults over every event type (each
needs 1000 events of any type).  What they add at request time comes from the serving side:
exploration of new items (the recommender's ``itemExplorationConfig``), real-time personalization
(PutEvents folded into the user's vector) and the use case's automatic filter; ``refresh`` is the
automatic update (new users and items folded in every 2 hours)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from training.recipes import user_personalization
from training.recipes.common import resolved_hyperparameters

if TYPE_CHECKING:
    from collections.abc import Mapping

    import numpy as np
    from picks.model_artifact import ModelArtifact

    from training.data import Interactions, TrainingJob
    from training.recipes.use_cases.common import UseCase
    from training.recipes.user_personalization import Prepared

RECIPE_TYPE = user_personalization.RECIPE_TYPE
# Interacted items are not excluded wholesale (nor left to ``auto``): the use case's documented
# auto-filter (items the user watched / purchased) is applied at request time, and items only
# viewed or clicked may be recommended again, as Personalize documents the two use cases.
DEFAULTS = {
    **resolved_hyperparameters(user_personalization.RECIPE, None),
    "exclude_interacted_items": "false",
}


@dataclass(frozen=True)
class PersonalizedUseCase:
    """The recipe functions of one personalized use case (``training.recipes``' module interface)."""

    use_case: UseCase

    def training_job(self, job: TrainingJob) -> TrainingJob:
        return self.use_case.training_job(job)

    def prepare(self, interactions: Interactions, params: Mapping[str, str]) -> Prepared:
        return user_personalization.prepare(interactions, {**DEFAULTS, **params})

    def fit(
        self,
        interactions: Interactions,
        params: Mapping[str, str],
        *,
        seed: int = 0,
        prepared: Prepared | None = None,
    ) -> ModelArtifact:
        return self.use_case.labelled(
            user_personalization.fit(interactions, {**DEFAULTS, **params}, seed=seed, prepared=prepared)
        )

    def refresh(
        self,
        artifact: ModelArtifact,
        interactions: Interactions,
        params: Mapping[str, str],
        users: np.ndarray | None = None,
        *,
        prepared: Prepared | None = None,
    ) -> ModelArtifact:
        return self.use_case.labelled(
            user_personalization.refresh(
                artifact, interactions, {**DEFAULTS, **params}, users, prepared=prepared
            )
        )
