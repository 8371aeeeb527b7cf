"""aws-personalized-ranking: the user-personalization factor model, served by GetPersonalizedRanking.

Same training as ``user_personalization``; the artifact differs only in its recipe and type, so
the runtime re-ranks a request's ``inputList`` instead of ranking the whole catalog.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from training.recipes import user_personalization

if TYPE_CHECKING:
    from collections.abc import Mapping

    import numpy as np
    from picks.model_artifact import ModelArtifact

    from training.data import Interactions

RECIPE = "aws-personalized-ranking"
RECIPE_TYPE = "PERSONALIZED_RANKING"


def _as_ranking(artifact: ModelArtifact) -> ModelArtifact:
    return replace(artifact, recipe=RECIPE, recipe_type=RECIPE_TYPE)


def fit(interactions: Interactions, params: Mapping[str, str], *, seed: int = 0) -> ModelArtifact:
    return _as_ranking(user_personalization.fit(interactions, params, seed=seed))


def refresh(
    artifact: ModelArtifact,
    interactions: Interactions,
    params: Mapping[str, str],
    users: np.ndarray | None = None,
) -> ModelArtifact:
    return _as_ranking(user_personalization.refresh(artifact, interactions, params, users))
