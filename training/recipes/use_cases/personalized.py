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
from training.recipes.use_cases.common import PreparingUseCase

if TYPE_CHECKING:
    from collections.abc import Mapping

    import numpy as np
    from picks.model_artifact import ModelArtifact

    from training.data import Interactions
    from training.recipes.user_personalization import Prepared

# Interacted items are not excluded wholesale (nor left to ``auto``): the use case's documented
# auto-filter (items the user watched / purchased) is applied at request time, and items only
# viewed or clicked may be recommended again, as Personalize documents the two use cases.
FIXED = {"exclude_interacted_items": "false"}


@dataclass(frozen=True, eq=False)
class PersonalizedUseCase(PreparingUseCase):
    """A personalized use case: ``aws-user-personalization``'s ``prepare`` (``PreparingUseCase``)
    and ``refresh`` too (the base recipe's ``fit`` takes the ``prepared`` that ``UseCase.fit``
    passes on)."""

    def refresh(
        self,
        artifact: ModelArtifact,
        interactions: Interactions,
        params: Mapping[str, str],
        users: np.ndarray | None = None,
        *,
        prepared: Prepared | None = None,
    ) -> ModelArtifact:
        return self.labelled(
            user_personalization.refresh(artifact, interactions, params, users, prepared=prepared)
        )


def personalized(recipe: str, title: str, *, needs_items: bool) -> PersonalizedUseCase:
    return PersonalizedUseCase(recipe, title, user_personalization, needs_items=needs_items, fixed=FIXED)
