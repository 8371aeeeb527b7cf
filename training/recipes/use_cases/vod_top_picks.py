"""aws-vod-top-picks (Top picks for you): personalized video recommendations for a user
(``use_cases.personalized``; Click and Watch are the recommended event types, the Items dataset is
required, and watched videos are filtered out at request time)."""

from __future__ import annotations

from training.recipes.use_cases import personalized
from training.recipes.use_cases.common import UseCase

RECIPE = "aws-vod-top-picks"
RECIPE_TYPE = personalized.RECIPE_TYPE
USE_CASE = UseCase(RECIPE, "Top picks for you", needs_items=True)
DEFAULTS = personalized.DEFAULTS
_RECIPE = personalized.PersonalizedUseCase(USE_CASE)
training_job, prepare, fit, refresh = _RECIPE.training_job, _RECIPE.prepare, _RECIPE.fit, _RECIPE.refresh
