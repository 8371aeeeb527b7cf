"""One module per recipe; each exposes ``fit(interactions, params, *, seed) -> ModelArtifact`` and,
where a trained model can absorb new data without refitting, ``refresh(artifact, interactions,
params, users=None) -> ModelArtifact``.  What a recipe derives from the job's data alone and its
``fit`` / ``refresh`` can reuse is built once per job by ``prepare(interactions, params, **tables)``
(``tables``: the dataset tables its ``TABLES`` names) and passed to them as ``prepared=``: an object
with ``fits(interactions, params)`` (whether it still applies) and ``without(users)`` (the same
for the holdout split, the held-out users' rows left out).  A recipe that measures itself its own
way (the USER_SEGMENTATION recipes: another holdout, other metrics) exposes
``fit_and_measure(job, params) -> (model, metrics)``, which ``training.train`` calls instead.  The
domain use cases (``training.recipes.use_cases``) are registered here too, by their recipe names."""

from __future__ import annotations

from typing import TYPE_CHECKING

from training.recipes import (
    item_affinity,
    item_attribute_affinity,
    personalized_ranking,
    popularity_count,
    similar_items,
    sims,
    trending_now,
    user_personalization,
)
from training.recipes.use_cases import USE_CASE_RECIPES

if TYPE_CHECKING:
    from types import ModuleType

    from training.recipes.use_cases.common import UseCase

RECIPE_MODULES: dict[str, ModuleType | UseCase] = {
    **{
        module.RECIPE: module
        for module in (
            popularity_count,
            sims,
            similar_items,
            user_personalization,
            personalized_ranking,
            trending_now,
            item_affinity,
            item_attribute_affinity,
        )
    },
    # A use case is a declaration (``use_cases.common.UseCase``) with the modules' interface.
    **{use_case.RECIPE: use_case for use_case in USE_CASE_RECIPES},
}
