"""One module per recipe; each exposes ``fit(interactions, params, *, seed) -> ModelArtifact`` and,
where a trained model can absorb new data without refitting, ``refresh(artifact, interactions,
params, users=None) -> ModelArtifact``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from training.recipes import personalized_ranking, popularity_count, sims, trending_now, user_personalization

if TYPE_CHECKING:
    from types import ModuleType

RECIPE_MODULES: dict[str, ModuleType] = {
    module.RECIPE: module
    for module in (popularity_count, sims, user_personalization, personalized_ranking, trending_now)
}
