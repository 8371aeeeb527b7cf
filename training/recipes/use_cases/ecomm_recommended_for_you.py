"""aws-ecomm-recommended-for-you (Recommended for you): personalized item recommendations for a
user (``use_cases.personalized``; View and Purchase are the recommended event types, and purchased
items are filtered out at request time)."""

from __future__ import annotations

from training.recipes.use_cases import personalized
from training.recipes.use_cases.common import UseCase

RECIPE = "aws-ecomm-recommended-for-you"
RECIPE_TYPE = personalized.RECIPE_TYPE
USE_CASE = UseCase(RECIPE, "Recommended for you", needs_items=False)
DEFAULTS = personalized.DEFAULTS
_RECIPE = personalized.PersonalizedUseCase(USE_CASE)
training_job, prepare, fit, refresh = _RECIPE.training_job, _RECIPE.prepare, _RECIPE.fit, _RECIPE.refresh
